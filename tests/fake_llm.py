"""A small OpenAI-compatible chat server for tests: real HTTP on 127.0.0.1, streamed SSE tokens.

The one fake of the test suite (an LLM endpoint is outside our control). It runs uvicorn in its
own thread with its own event loop, so sync tests, async tests and servers under test in other
threads can all use it:

    with FakeLLM(reply="Hello there. How can I help?", first_token_delay=0.3) as llm:
        client = LLMClient(LLMConfig(base_url=llm.base_url))

Knobs: `reply` (text, or a function of the request's messages), `first_token_delay`,
`token_delay`, `tool_calls` (streamed after the text, arguments in pieces), and `mode` for faults: "ok", "error" (HTTP 500), "garbage" (a stream that is not
JSON), "hang" (headers, then nothing), "drop" (closes the stream half-way). It records every
request, how many streams finished, and how many the client abandoned (a cancelled request).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

Reply = str | Callable[[list[dict[str, Any]]], str]


@dataclass
class FakeLLMStats:
    requests: list[dict[str, Any]] = field(default_factory=list)
    completed: int = 0  # streams sent to the end
    cancelled: int = 0  # streams the client abandoned before the end
    first_token_sent_at: list[float] = field(default_factory=list)  # time.monotonic()


def tokens_of(text: str) -> list[str]:
    """Split like an LLM tokenizer roughly would: words with their leading space, CJK by char."""
    return re.findall(
        r"\s*[\u3000-\u9fff\uff00-\uffef]|\s*[^\s\u3000-\u9fff\uff00-\uffef]+|\s+$", text
    )


class FakeLLM:
    """OpenAI-compatible `/v1/chat/completions` (streamed and not) and `/v1/models`."""

    def __init__(
        self,
        reply: Reply = "Hello! I am a test assistant. How can I help you today?",
        first_token_delay: float = 0.0,
        token_delay: float = 0.005,
        mode: str = "ok",
        model: str = "fake-model",
        tool_calls: list[tuple[str, str]] | None = None,
    ) -> None:
        self.reply = reply
        self.first_token_delay = first_token_delay
        self.token_delay = token_delay
        self.mode = mode
        self.model = model
        self.tool_calls = tool_calls or []  # (name, JSON arguments) streamed after the text
        self.stats = FakeLLMStats()
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._stream_done = threading.Condition()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeLLM:
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-llm", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake LLM server did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeLLM:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def wait_cancelled(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until at least `count` streams were abandoned by the client."""
        with self._stream_done:
            return self._stream_done.wait_for(lambda: self.stats.cancelled >= count, timeout)

    # --- handlers ----------------------------------------------------------------------------

    def _text_for(self, messages: list[dict[str, Any]]) -> str:
        return self.reply(messages) if callable(self.reply) else self.reply

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.stats.requests.append(body)
        if self.mode == "error":
            return JSONResponse({"error": {"message": "fake failure", "type": "server_error"}}, 500)
        text = self._text_for(body.get("messages", []))
        if not body.get("stream"):
            await asyncio.sleep(self.first_token_delay)
            return JSONResponse(self._completion(text))
        return StreamingResponse(self._sse(text), media_type="text/event-stream")

    def _completion(self, text: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()

    async def _sse(self, text: str):  # type: ignore[no-untyped-def]
        finished = False
        try:
            if self.mode == "hang":
                await asyncio.sleep(3600)
            await asyncio.sleep(self.first_token_delay)
            if self.mode == "garbage":
                yield b"data: this is not json\n\n"
                finished = True
                return
            yield self._chunk({"role": "assistant", "content": ""})
            tokens = tokens_of(text)
            for i, token in enumerate(tokens):
                if i == 0:
                    self.stats.first_token_sent_at.append(time.monotonic())
                if self.mode == "drop" and i == len(tokens) // 2:
                    raise ConnectionResetError("fake drop")  # closes the connection mid-stream
                yield self._chunk({"content": token})
                await asyncio.sleep(self.token_delay)
            for index, (name, arguments) in enumerate(self.tool_calls):
                head = {"index": index, "id": f"call_{index}", "type": "function"}
                yield self._chunk(
                    {"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]}
                )
                for k in range(0, len(arguments), 5):
                    piece = {"index": index, "function": {"arguments": arguments[k : k + 5]}}
                    yield self._chunk({"tool_calls": [piece]})
            yield self._chunk({}, finish="tool_calls" if self.tool_calls else "stop")
            yield b"data: [DONE]\n\n"
            finished = True
        finally:
            with self._stream_done:
                if finished:
                    self.stats.completed += 1
                elif self.mode != "drop":
                    self.stats.cancelled += 1
                self._stream_done.notify_all()
