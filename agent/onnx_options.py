"""ONNX Runtime session options shared by the offline speech models (VAD, Piper, Kokoro)."""

from __future__ import annotations

from typing import Any


def session_options(threads: int = 1) -> Any:
    """Options for a CPU session with `threads` intra-op threads. With more than one, idle
    threads sleep instead of spinning: a spinning thread holds a core between a voice's short
    bursts, which the stream renders on the same machine need."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    if threads > 1:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts
