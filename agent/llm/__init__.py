"""Language models behind one OpenAI-compatible interface: a remote endpoint or a local model.

- `client.LLMClient` / `LLMConfig`: streamed chat completions through langchain-openai.
- `local.LocalLLMServer`: the offline default, llama.cpp in process (SmolLM2-135M from a wheel).
- `ChatModel`: an LLMClient built from keyword arguments (the agent's LLM config).
"""

from __future__ import annotations

from typing import Any

from agent.llm.client import LLMClient, LLMConfig, LLMError, Message

__all__ = ["ChatModel", "LLMClient", "LLMConfig", "LLMError", "Message", "base_url_of"]

_SUFFIXES = ("/chat/completions", "/completions", "/chat")


def base_url_of(url: str) -> str:
    """Base URL of an OpenAI-compatible endpoint from either form a user may give:
    "https://host/v1/chat/completions" (ZEGO's LLM.Url) or "https://host/v1"."""
    url = url.strip().rstrip("/")
    for suffix in _SUFFIXES:
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


class ChatModel(LLMClient):
    """`LLMClient(LLMConfig(...))` in one call; `extra` becomes extra request-body fields."""

    def __init__(
        self,
        base_url: str,
        api_key: str = "not-needed",
        model: str = "default",
        temperature: float | None = None,
        top_p: float | None = None,
        extra: dict[str, Any] | None = None,
        **config: Any,
    ) -> None:
        cfg = LLMConfig(base_url=base_url_of(base_url), api_key=api_key, model=model, **config)
        if temperature is not None:
            cfg.temperature = temperature
        cfg.top_p = top_p
        cfg.extra_body = dict(extra) if extra else None
        super().__init__(cfg)
