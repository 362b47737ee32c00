"""Language models behind one OpenAI-compatible interface: a remote endpoint or a local model."""
