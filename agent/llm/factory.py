"""Pick the LLM from settings: the configured endpoint, else the offline local model."""

from __future__ import annotations

from agent.llm.client import LLMClient, LLMConfig, LLMError
from agent.llm.local import LocalLLMServer


def make_llm(
    base_url: str | None = None,
    api_key: str | None = None,
    model: str | None = None,
    local_threads: int = 1,
    **options: float | int | None,
) -> tuple[LLMClient, LocalLLMServer | None]:
    """A client for `base_url` (DH_LLM_BASE_URL) or, when unset, for a started local server.

    Returns the server too (None for a remote endpoint) so the caller can stop it at shutdown.
    `options` go to LLMConfig (temperature, max_tokens, first_token_timeout, ...).
    """
    if base_url:
        config = LLMConfig(
            base_url=base_url, api_key=api_key or "not-needed", model=model or "default"
        )
        server = None
    else:
        server = LocalLLMServer(threads=local_threads)
        try:
            config = server.start()
        except LLMError:
            raise
        except Exception as exc:  # xllamacpp missing or the model failed to load
            raise LLMError(f"local LLM failed to start: {exc}") from exc
    for key, value in options.items():
        if value is not None:
            setattr(config, key, value)
    return LLMClient(config), server
