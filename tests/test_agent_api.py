"""The ZEGO AI Agent actions and the conversation WebSocket against a real server process: a
recorded utterance played into the socket at real-time pace, a streamed answer from a fake
OpenAI-compatible LLM, the reply as a drive of the agent's stream task, barge-in, a broken LLM,
and the instance's end."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import websockets

from tests.fake_llm import FakeLLM
from tests.support import MEDIA, ServerProcess

CLIPS = MEDIA / "audio" / "16k_mono"
# Long enough that its stream (a token each 60 ms: ~4.3 s) is still running when the test's
# barge-in comes, ~2 s in, also on a slow machine (at ~2.6 s it was not always).
REPLY = (
    "Thank you for asking. Our shop opens at nine in the morning. "
    "We close at six in the evening on weekdays. On weekends we open a little later. "
    "We also have a small cafe on the first floor that serves coffee and cake all day. "
    "Parking is free for our customers for up to two hours. "
    "Is there anything else I can help you with today?"
)

pytestmark = pytest.mark.slow


def pcm_of(name: str, silence_s: float) -> bytes:
    pcm, _ = sf.read(CLIPS / name, dtype="int16")
    return np.concatenate([pcm, np.zeros(int(silence_s * 16000), np.int16)]).tobytes()


async def send_real_time(ws, data: bytes) -> None:
    start = time.monotonic()
    for k, i in enumerate(range(0, len(data), 640)):
        await asyncio.sleep(max(0.0, start + k * 0.02 - time.monotonic()))
        await ws.send(data[i : i + 640])


async def next_event(ws, kind: str, within: float) -> dict:
    async with asyncio.timeout(within):
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == kind:
                return event


@pytest.fixture(scope="module")
def fake_llm():
    with FakeLLM(reply=REPLY, first_token_delay=0.3, token_delay=0.06) as llm:
        yield llm


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with ServerProcess(tmp_path_factory.mktemp("agent") / "data") as srv:
        yield srv


def public_avatar(server: ServerProcess) -> str:
    data = server.client.ok("GetDigitalHumanList", {"FetchMode": 2})
    return data["DigitalHumans"][0]["DigitalHumanId"]


def create_instance(server: ServerProcess, agent_id: str, url: str, stream: str) -> dict:
    server.client.ok(
        "RegisterAgent",
        {
            "AgentId": agent_id,
            "Name": "Shop assistant",
            "LLM": {"Url": url, "Model": "fake-model", "SystemPrompt": "You help shoppers."},
            "ASR": {"VADSilenceSegmentation": 700, "Params": {"Language": "en"}},
        },
    )
    return server.client.ok(
        "CreateDigitalHumanAgentInstance",
        {
            "AgentId": agent_id,
            "UserId": "user-1",
            "RTC": {"RoomId": "room-agent", "AgentStreamId": stream},
            "DigitalHuman": {"DigitalHumanId": public_avatar(server), "ConfigId": "mobile"},
        },
    )


def test_agent_registration_errors(server: ServerProcess) -> None:
    c = server.client
    assert c.call("RegisterAgent", {"AgentId": "bad id"})["Code"] == 400000001
    c.ok("RegisterAgent", {"AgentId": "dup"})
    assert c.call("RegisterAgent", {"AgentId": "dup"})["Code"] == 410001001
    body = {
        "AgentId": "nobody",
        "UserId": "u",
        "RTC": {"RoomId": "r", "AgentStreamId": "s"},
        "DigitalHuman": {"DigitalHumanId": "x"},
    }
    assert c.call("CreateDigitalHumanAgentInstance", body)["Code"] == 410001009
    assert c.call("QueryAgentInstanceStatus", {"AgentInstanceId": "none"})["Code"] == 410001002
    assert c.call("QueryAgents", {})["Data"]["Total"] >= 1


async def test_conversation_over_websocket(server: ServerProcess, fake_llm: FakeLLM) -> None:
    url = fake_llm.base_url + "/chat/completions"
    inst = await asyncio.to_thread(create_instance, server, "shop", url, "agent-stream-1")
    instance_id, task_id = inst["AgentInstanceId"], inst["TaskId"]
    assert inst["WsUrl"].startswith("ws://127.0.0.1:")
    assert inst["WhepUrl"].endswith("/whep/room-agent/agent-stream-1") and inst["PlayToken"]
    async with websockets.connect(inst["WsUrl"]) as ws:
        ready = await next_event(ws, "ready", 10)
        assert ready["AgentInstanceId"] == instance_id
        await send_real_time(ws, pcm_of("en_RD_Radio31_000.wav", 1.2))
        transcript = await next_event(ws, "transcript", 30)
        assert len(transcript["text"].split()) >= 8, transcript
        reply = await next_event(ws, "reply", 20)
        assert reply["text"].startswith("Thank you for asking.")
        latency = await next_event(ws, "latency", 20)
        assert latency["first_audio_out_ms"] > 0
        drives = await asyncio.to_thread(
            server.client.ok, "GetDriveStatus", {"DriveId": reply["drive_id"]}
        )
        assert drives["DriveList"][0]["Status"] == 2  # the reply is playing on the task's clock
        status = await asyncio.to_thread(
            server.client.ok, "QueryAgentInstanceStatus", {"AgentInstanceId": instance_id}
        )
        assert status["LLMFirstTokenLatency"] > 0 and status["TTSFirstAudioLatency"] > 0
        # Barge-in: the user talks over the reply.
        await send_real_time(ws, pcm_of("zh_bus_chinese.wav", 0.0)[: 16000 * 2])
        interrupted = await next_event(ws, "interrupted", 5)
        assert interrupted["drive_id"] == reply["drive_id"]
        assert await asyncio.to_thread(fake_llm.wait_cancelled, 1, 5.0)
        drives = await asyncio.to_thread(
            server.client.ok, "GetDriveStatus", {"DriveId": reply["drive_id"]}
        )
        assert drives["DriveList"][0]["Status"] == 5
        # Typed text works on the same socket.
        await ws.send(json.dumps({"type": "text", "text": "When do you open?"}))
        assert (await next_event(ws, "reply", 20))["text"].startswith("Thank you")
    server.client.ok("DeleteAgentInstance", {"AgentInstanceId": instance_id})
    stopped = await asyncio.to_thread(
        server.client.wait,
        "GetDigitalHumanStreamTaskStatus",
        {"TaskId": task_id},
        lambda d: d["Status"] == 5,
    )
    assert stopped["Status"] == 5
    ended = server.client.ok("QueryAgentInstanceStatus", {"AgentInstanceId": instance_id})
    assert ended["Status"] == 6


async def test_llm_down_apologises_and_keeps_going(server: ServerProcess) -> None:
    inst = await asyncio.to_thread(
        create_instance, server, "down", "http://127.0.0.1:9/v1/chat/completions", "agent-stream-2"
    )
    async with websockets.connect(inst["WsUrl"]) as ws:
        await next_event(ws, "ready", 10)
        await ws.send(json.dumps({"type": "text", "text": "Hello?"}))
        error = await next_event(ws, "error", 20)
        assert error["where"] == "llm"
        apology = await next_event(ws, "reply", 20)
        assert "sorry" in apology["text"].lower()
        # The session is still alive: the avatar can be made to speak.
        said = await asyncio.to_thread(
            server.client.ok,
            "SendAgentInstanceTTS",
            {"AgentInstanceId": inst["AgentInstanceId"], "Text": "Still here."},
        )
        assert said["DriveId"]
    server.client.ok("DeleteAgentInstance", {"AgentInstanceId": inst["AgentInstanceId"]})


def test_wrong_token_is_refused(server: ServerProcess, tmp_path: Path) -> None:
    async def attempt() -> int:
        url = server.base_url.replace("http", "ws") + "/agent/ws?Token=forged.token"
        try:
            async with websockets.connect(url) as ws:
                await ws.recv()
        except websockets.ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else 0
        except websockets.InvalidStatus as e:
            return e.response.status_code
        return 0

    assert asyncio.run(attempt()) in (4401, 403)


async def test_customer_service_answers_from_its_knowledge(
    server: ServerProcess, fake_llm: FakeLLM
) -> None:
    c = server.client
    c.ok(
        "RegisterAgent",
        {
            "AgentId": "service",
            "Scenario": "customer_service",
            "Knowledge": [
                "Returns: items can be returned within 30 days with the receipt.",
                "Shipping: orders over 50 euros ship for free within Germany.",
            ],
            "LLM": {"Url": fake_llm.base_url + "/chat/completions"},
        },
    )
    inst = await asyncio.to_thread(
        c.ok,
        "CreateDigitalHumanAgentInstance",
        {
            "AgentId": "service",
            "UserId": "u2",
            "RTC": {"RoomId": "room-agent", "AgentStreamId": "agent-stream-3"},
            "DigitalHuman": {"DigitalHumanId": public_avatar(server), "ConfigId": "mobile"},
        },
    )
    n = len(fake_llm.stats.requests)
    c.ok(
        "SendAgentInstanceLLM",
        {"AgentInstanceId": inst["AgentInstanceId"], "Text": "Can I return my shoes?"},
    )
    for _ in range(400):  # the reply's LLM request arrives within 20 s
        if len(fake_llm.stats.requests) > n:
            break
        await asyncio.sleep(0.05)
    system = fake_llm.stats.requests[n]["messages"][0]["content"]
    assert "within 30 days" in system and "customer-service" in system
    assert fake_llm.stats.requests[n]["messages"][-1]["content"] == "Can I return my shoes?"
    c.ok("DeleteAgentInstance", {"AgentInstanceId": inst["AgentInstanceId"]})
