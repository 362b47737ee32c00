"""A streaming chat client for any OpenAI-compatible endpoint, through langchain-openai.

`stream(messages)` yields text pieces as they arrive; `stream_sentences` yields whole sentences
for TTS. Cancelling the consuming task closes the HTTP stream, so the server stops generating.
Failures become `LLMError` with a `retryable` flag: the endpoint is down, answers with an error
status, sends no first token within `first_token_timeout`, stalls mid-stream, or sends garbage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.llm.tools import Tool, ToolCall
from agent.sentences import SentenceSplitter

log = logging.getLogger(__name__)

Message = Mapping[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


class LLMError(Exception):
    """The LLM request failed; `retryable` says whether another try may succeed."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(slots=True)
class LLMConfig:
    """Where and how to ask. Built from DH_LLM_BASE_URL / DH_LLM_API_KEY / DH_LLM_MODEL."""

    base_url: str
    api_key: str = "not-needed"
    model: str = "default"
    temperature: float | None = 0.7  # None: the endpoint's default
    top_p: float | None = None
    max_tokens: int | None = 256
    extra_body: dict[str, Any] | None = None  # more fields for the request body (ZEGO LLM.Params)
    first_token_timeout: float = 10.0
    token_timeout: float = 10.0  # longest silence between two pieces of a stream
    request_timeout: float = 60.0


class LLMClient:
    """Chat completions, streamed. One instance serves many concurrent conversations."""

    def __init__(self, config: LLMConfig) -> None:
        from langchain_openai import ChatOpenAI

        self.config = config
        self._chat = ChatOpenAI(
            base_url=config.base_url,
            api_key=config.api_key,  # type: ignore[arg-type]
            model=config.model,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_tokens,  # type: ignore[call-arg]
            extra_body=config.extra_body or None,
            timeout=config.request_timeout,
            max_retries=0,  # a conversation cannot wait for retries; the caller decides
            streaming=True,
        )
        self.last_first_token_s: float | None = None  # latency of the latest stream's first token

    async def stream(self, messages: Sequence[Message]) -> AsyncIterator[str]:
        """Text pieces of the reply as they arrive (never empty strings)."""
        # aclosing: closing this generator closes the inner one now, not at garbage collection
        # (where the loop's shutdown may close both at once and trip over each other).
        async with contextlib.aclosing(self.stream_events(messages)) as events:
            async for event in events:
                if isinstance(event, str):
                    yield event

    async def stream_events(
        self, messages: Sequence[Message], tools: Sequence[Tool] = ()
    ) -> AsyncIterator[str | ToolCall]:
        """Text pieces as they arrive, then the tool calls the model made (when `tools`)."""
        lc_messages = _to_langchain(messages)
        t0 = time.perf_counter()
        self.last_first_token_s = None
        model: Any = self._chat.bind_tools([t.schema() for t in tools]) if tools else self._chat
        agen = model.astream(lc_messages)
        first = True
        calls: dict[int, dict[str, str]] = {}
        try:
            while True:
                timeout = self.config.first_token_timeout if first else self.config.token_timeout
                try:
                    async with asyncio.timeout(timeout):
                        chunk = await anext(agen)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    what = "no first token" if first else "stream stalled"
                    raise LLMError(f"{what} after {timeout:.1f} s", retryable=True) from None
                for part in getattr(chunk, "tool_call_chunks", None) or []:
                    call = calls.setdefault(
                        part.get("index") or 0, {"name": "", "args": "", "id": ""}
                    )
                    call["name"] += part.get("name") or ""
                    call["args"] += part.get("args") or ""
                    call["id"] = call["id"] or part.get("id") or ""
                    if first:
                        self.last_first_token_s = time.perf_counter() - t0
                        first = False
                text = chunk.content if isinstance(chunk.content, str) else _flatten(chunk.content)
                if not text:
                    continue
                if first:
                    self.last_first_token_s = time.perf_counter() - t0
                    first = False
                yield text
        except LLMError:
            raise
        except Exception as exc:
            raise _as_llm_error(exc) from exc
        finally:
            # Closes the HTTP response: the server sees the disconnect. At loop shutdown the
            # loop may be closing `agen` itself already ("already running"): nothing to do then.
            with contextlib.suppress(RuntimeError):
                await agen.aclose()
        for index in sorted(calls):
            yield _tool_call(calls[index])

    async def complete(self, messages: Sequence[Message]) -> str:
        """The whole reply as one string (streamed underneath)."""
        return "".join([piece async for piece in self.stream(messages)])

    async def stream_sentences(
        self, messages: Sequence[Message], first_clause_chars: int = 24
    ) -> AsyncIterator[str]:
        """Whole sentences of the reply for TTS; the first may be cut at a clause to start sooner."""
        splitter = SentenceSplitter(first_clause_chars=first_clause_chars)
        async with contextlib.aclosing(self.stream(messages)) as pieces:
            async for piece in pieces:
                for sentence in splitter.push(piece):
                    yield sentence
        for sentence in splitter.flush():
            yield sentence


def _tool_call(raw: dict[str, str]) -> ToolCall:
    try:
        args = json.loads(raw["args"]) if raw["args"].strip() else {}
        if not isinstance(args, dict):
            raise ValueError("arguments are not an object")
    except ValueError as exc:
        return ToolCall(
            raw["name"], {}, raw["id"], error=f"bad arguments {raw['args'][:80]!r}: {exc}"
        )
    return ToolCall(raw["name"], args, raw["id"])


def _flatten(content: Any) -> str:
    """Text of a list-of-parts message content."""
    parts = []
    for part in content or []:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
    return "".join(parts)


def _to_langchain(messages: Sequence[Message]) -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    out = []
    for m in messages:
        role = m.get("role", "user")
        if role not in kinds:
            raise LLMError(f"unknown message role {role!r}")
        out.append(kinds[role](content=m.get("content", "")))
    return out


def _as_llm_error(exc: Exception) -> LLMError:
    """Map openai/httpx/parse failures to LLMError with a retryable flag."""
    try:
        import openai
    except ImportError:  # pragma: no cover
        return LLMError(str(exc))
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return LLMError(f"LLM endpoint unreachable: {exc}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        retryable = exc.status_code in (408, 409, 429) or exc.status_code >= 500
        return LLMError(f"LLM endpoint answered {exc.status_code}: {exc.message}", retryable)
    return LLMError(f"bad LLM response: {type(exc).__name__}: {exc}", retryable=True)
