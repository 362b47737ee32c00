"""The conversation WebSocket: a browser talks to an agent instance.

`GET /agent/ws?Token=...` (the token comes from CreateDigitalHumanAgentInstance as `WsUrl`).
Client → server: binary frames of 16-bit little-endian mono PCM (16 kHz unless a
`{"type": "start", "sampleRate": 24000 | 48000}` text frame said otherwise), and text frames
`{"type": "text", "text": "..."}` (typed message), `{"type": "interrupt"}`, `{"type": "ping"}`.
Server → client: JSON events: `ready`, `speech` (start/end), `transcript` (`continues`: the
user went on before hearing an answer, and this text replaces the turn's earlier one), `reply` (a sentence
the avatar is about to say), `barge_in`, `interrupted` (with what was heard), `latency`,
`error` (where and why), `closed`. The avatar itself is watched over WebRTC (WHEP).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from scipy.signal import resample_poly

from avatar.transport.tokens import TokenError
from avatar.types import AUDIO_RATE

log = logging.getLogger(__name__)

router = APIRouter()
EVENT_QUEUE = 256  # events waiting for a slow socket; the oldest are dropped beyond that


def to_16k(pcm: np.ndarray, rate: int) -> np.ndarray:
    """int16 PCM at 16, 24, 32 or 48 kHz → 16 kHz int16."""
    if rate == AUDIO_RATE:
        return pcm
    from math import gcd

    g = gcd(rate, AUDIO_RATE)
    out = resample_poly(pcm.astype(np.float32), AUDIO_RATE // g, rate // g)
    return np.clip(out, -32768, 32767).astype(np.int16)


@router.websocket("/agent/ws")
async def agent_socket(ws: WebSocket) -> None:
    from avatar.transport.hub import hub_from_state

    state = ws.app.state
    agents = getattr(state, "agents", None)
    token = ws.query_params.get("Token", "")
    # Accept first, then refuse with a code: a browser only sees close codes of accepted
    # sockets (a refused handshake reads as 1006), and the page must know not to reconnect.
    await ws.accept()
    try:
        grant = hub_from_state(state).signer.verify(token, "agent")
    except TokenError as e:
        await ws.close(code=4401, reason=str(e))
        return
    instance = agents.get(grant.task_id or "") if agents is not None else None
    if instance is None:
        await ws.close(code=4404, reason="agent instance not found or ended")
        return
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(EVENT_QUEUE)

    def listener(event: dict[str, Any]) -> None:
        if events.full():
            events.get_nowait()
        events.put_nowait(event)

    instance.listeners.add(listener)
    instance.connections += 1
    instance.last_user_seen = time.monotonic()
    sender = asyncio.get_running_loop().create_task(_send_events(ws, events))
    listener({"type": "ready", "AgentInstanceId": instance.instance_id, "TaskId": instance.task_id})
    rate = AUDIO_RATE
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                break
            instance.last_user_seen = time.monotonic()
            if msg.get("bytes"):
                data = msg["bytes"]
                pcm = np.frombuffer(data[: len(data) // 2 * 2], "<i2")
                instance.conversation.push_audio(to_16k(pcm, rate))
            elif msg.get("text"):
                rate = _on_text(instance, msg["text"], rate, listener)
    except WebSocketDisconnect:
        pass
    finally:
        instance.listeners.discard(listener)
        instance.connections -= 1
        instance.last_user_seen = time.monotonic()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


def _on_text(instance: Any, text: str, rate: int, reply: Any) -> int:
    try:
        msg = json.loads(text)
        kind = msg.get("type")
    except (ValueError, AttributeError):
        reply({"type": "error", "where": "socket", "message": "text frames must be JSON objects"})
        return rate
    if kind == "start":
        new_rate = int(msg.get("sampleRate", AUDIO_RATE))
        if new_rate not in (16000, 24000, 32000, 44100, 48000):
            reply({"type": "error", "where": "socket", "message": f"sampleRate {new_rate}?"})
            return rate
        return new_rate
    if kind == "text":
        instance.conversation.send_text(str(msg.get("text", ""))[:2000])
    elif kind == "interrupt":
        instance.conversation.interrupt()
    elif kind == "ping":
        reply({"type": "pong"})
    return rate


async def _send_events(ws: WebSocket, events: asyncio.Queue[dict[str, Any]]) -> None:
    while True:
        event = await events.get()
        try:
            await ws.send_text(json.dumps(event, ensure_ascii=False))
        except Exception:
            return
        if event.get("type") == "closed":
            with contextlib.suppress(Exception):
                await ws.close()
            return
