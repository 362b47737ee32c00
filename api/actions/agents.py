"""The ZEGO AI Agent actions: RegisterAgent, CreateDigitalHumanAgentInstance, DeleteAgentInstance,
InterruptAgentInstance, SendAgentInstanceLLM, SendAgentInstanceTTS, QueryAgentInstanceStatus
(plus UpdateAgent, UnregisterAgent, QueryAgents).

An instance is a conversation (agent/conversation.py) bound to a stream task of its own: the
user's microphone arrives over the conversation WebSocket (`WsUrl`) or a WHIP-published stream
(`RTC.UserStreamId`), the avatar is watched over WHEP. Error codes are the AI Agent API's.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import select

from agent.conversation import Conversation, ConversationConfig
from agent.instances import AgentInstance
from agent.llm.knowledge import KnowledgeBase
from agent.tts.base import SpeechOptions
from api.actions.streams import create_stream_task
from api.context import ActionContext
from api.drives import add_drive
from api.errors import MESSAGES, ApiError
from api.live import LiveEntry
from api.schema import Req, action
from avatar.stream.contract import TaskStatus
from store.models import Agent
from store.models import AgentInstance as AgentInstanceRow

AGENT_EXISTS = 410001001
INSTANCE_NOT_FOUND = 410001002
INSTANCE_LIMIT = 410001004
AGENT_NOT_FOUND = 410001009
AGENT_INVALID = 410000001
START_TIMEOUT_S = 30.0

# The AI Agent API's own codes, with their default Messages in the one table of codes.
MESSAGES.update(
    {
        AGENT_INVALID: "invalid agent parameter",
        AGENT_EXISTS: "agent already exists",
        INSTANCE_NOT_FOUND: "agent instance not found",
        INSTANCE_LIMIT: "agent instance limit reached",
        AGENT_NOT_FOUND: "agent not found",
    }
)


class LLMReq(Req):
    Url: str | None = Field(
        None, max_length=1024, description="OpenAI-compatible chat completions URL"
    )
    ApiKey: str | None = Field(None, max_length=1024)
    Model: str | None = Field(None, max_length=256)
    SystemPrompt: str | None = Field(None, max_length=20000)
    Temperature: float = Field(0.7, ge=0, le=2)
    TopP: float = Field(0.9, ge=0, le=1)
    Params: dict[str, Any] | None = None


class TTSReq(Req):
    Vendor: str | None = Field(None, max_length=64, description="ignored: voices are ours")
    Params: dict[str, Any] | None = Field(
        None, description="TimbreId, SpeechRate, Volume, PitchRate"
    )
    FilterText: list[dict[str, Any]] | None = None
    TerminatorText: str | None = None


class ASRReq(Req):
    HotWord: str | None = None
    Params: dict[str, Any] | None = Field(None, description="Language: en / zh")
    VADSilenceSegmentation: int = Field(
        500, ge=200, le=2000, description="ms of silence ending a turn"
    )
    PauseInterval: int | None = Field(None, ge=0, le=2000)


class RegisterAgentReq(Req):
    AgentId: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")
    Name: str = Field("", max_length=256)
    Scenario: Literal["companion", "customer_service", "tutor"] = Field(
        "companion", description="extension: the role prompt (LLM.SystemPrompt replaces it)"
    )
    Knowledge: list[str] = Field(
        default_factory=list,
        max_length=500,
        description="extension: passages a customer_service agent answers from (retrieved per question)",
    )
    LLM: LLMReq = Field(default_factory=LLMReq)
    TTS: TTSReq = Field(default_factory=TTSReq)
    ASR: ASRReq = Field(default_factory=ASRReq)


@action(RegisterAgentReq, codes=[AGENT_EXISTS])
async def register_agent(ctx: ActionContext, req: RegisterAgentReq) -> dict:
    """Register an agent: its LLM endpoint, prompt, voice and turn-taking settings."""
    async with ctx.db() as s, s.begin():
        if await _agent(s, ctx.app_id, req.AgentId) is not None:
            raise ApiError(AGENT_EXISTS, f"agent {req.AgentId} already exists")
        s.add(
            Agent(
                id=_key(ctx.app_id, req.AgentId),
                app_id=ctx.app_id,
                name=req.Name,
                config=req.model_dump(exclude_none=True),
            )
        )
    return {}


@action(RegisterAgentReq, codes=[AGENT_NOT_FOUND])
async def update_agent(ctx: ActionContext, req: RegisterAgentReq) -> dict:
    """Replace an agent's configuration (running instances keep theirs)."""
    async with ctx.db() as s, s.begin():
        row = await _agent(s, ctx.app_id, req.AgentId)
        if row is None:
            raise ApiError(AGENT_NOT_FOUND)
        row.name, row.config = req.Name, req.model_dump(exclude_none=True)
    return {}


class AgentIdReq(Req):
    AgentId: str = Field(min_length=1, max_length=128)


@action(AgentIdReq, codes=[AGENT_NOT_FOUND])
async def unregister_agent(ctx: ActionContext, req: AgentIdReq) -> dict:
    """Delete an agent's registration."""
    async with ctx.db() as s, s.begin():
        row = await _agent(s, ctx.app_id, req.AgentId)
        if row is None:
            raise ApiError(AGENT_NOT_FOUND)
        await s.delete(row)
    return {}


class QueryAgentsReq(Req):
    Offset: int = Field(0, ge=0, le=1_000_000)
    Limit: int = Field(20, ge=1, le=100)


@action(QueryAgentsReq)
async def query_agents(ctx: ActionContext, req: QueryAgentsReq) -> dict:
    """The registered agents."""
    async with ctx.db() as s:
        rows = (
            await s.scalars(
                select(Agent).where(Agent.app_id == ctx.app_id).order_by(Agent.create_time)
            )
        ).all()
    page = rows[req.Offset : req.Offset + req.Limit]
    return {
        "Total": len(rows),
        "Agents": [{"AgentId": r.config.get("AgentId"), "Name": r.name} for r in page],
    }


class RTCReq(Req):
    RoomId: str = Field(min_length=1, max_length=128)
    AgentStreamId: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
    AgentUserId: str = Field("", max_length=128)
    UserStreamId: str | None = Field(None, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")


class MessageReq(Req):
    Role: Literal["user", "assistant"]
    Content: str = Field(max_length=20000)


class HistoryReq(Req):
    Messages: list[MessageReq] = Field(default_factory=list, max_length=100)
    WindowSize: int = Field(20, ge=0, le=100)


class AdvancedReq(Req):
    InterruptMode: Literal[0, 1] = 0


class DigitalHumanReq(Req):
    DigitalHumanId: str = Field(min_length=1, max_length=64)
    ConfigId: Literal["web", "mobile"] = "web"
    EncodeCode: Literal["H264", "VP8"] = "H264"


class CreateInstanceReq(Req):
    AgentId: str = Field(min_length=1, max_length=128)
    UserId: str = Field(min_length=1, max_length=128)
    RTC: RTCReq
    DigitalHuman: DigitalHumanReq
    LLM: LLMReq | None = None
    TTS: TTSReq | None = None
    ASR: ASRReq | None = None
    MessageHistory: HistoryReq | None = None
    AdvancedConfig: AdvancedReq | None = None


@action(CreateInstanceReq, codes=[AGENT_NOT_FOUND, INSTANCE_LIMIT])
async def create_instance(ctx: ActionContext, req: CreateInstanceReq) -> dict:
    """Start a conversation with a digital human: a stream task of its own, the microphone by
    `WsUrl` (WebSocket PCM) or by RTC.UserStreamId (WHIP), the avatar by `WhepUrl` + `PlayToken`."""
    from agent.backends import backends_of
    from agent.instances import AgentInstances
    from avatar.transport.hub import hub_from_state

    async with ctx.db() as s:
        agent_row = await _agent(s, ctx.app_id, req.AgentId)
    if agent_row is None:
        raise ApiError(AGENT_NOT_FOUND, f"agent {req.AgentId} is not registered")
    cfg = RegisterAgentReq.model_validate(agent_row.config)
    llm_cfg = _merge(cfg.LLM, req.LLM)
    tts_cfg = _merge(cfg.TTS, req.TTS)
    asr_cfg = _merge(cfg.ASR, req.ASR)
    backends = backends_of(ctx.services)
    tts_params = tts_cfg.Params or {}
    language = (asr_cfg.Params or {}).get("Language") or tts_params.get("Language")
    try:
        tts, voice = backends.voice(tts_params.get("TimbreId"), language)
    except KeyError as e:
        raise ApiError(AGENT_INVALID, f"TTS.Params.TimbreId {e} is not a known timbre") from None

    await backends.warm_up(tts, voice, language)
    if not llm_cfg.Url and not ctx.settings.llm_base_url:
        # The offline model loads once (~1-2 s): in a thread, never on the event loop.
        await asyncio.to_thread(backends.local_llm)
    width, height = _video_size(ctx, req.DigitalHuman.DigitalHumanId, req.DigitalHuman.ConfigId)
    task_body = {
        "DigitalHumanConfig": {"DigitalHumanId": req.DigitalHuman.DigitalHumanId},
        "RTCConfig": {"RoomId": req.RTC.RoomId, "StreamId": req.RTC.AgentStreamId},
        "VideoConfig": {"Codec": req.DigitalHuman.EncodeCode, "Width": width, "Height": height},
    }
    task_id = (await create_stream_task(ctx, task_body))["TaskId"]
    entry = await _wait_streaming(ctx, task_id)

    instance_id = uuid.uuid4().hex
    agents: AgentInstances = backends.instances
    history = [
        {"role": m.Role, "content": m.Content}
        for m in (req.MessageHistory.Messages if req.MessageHistory else [])
    ]
    conv_cfg = ConversationConfig(
        use_case=cfg.Scenario,
        persona=llm_cfg.SystemPrompt,
        knowledge=KnowledgeBase.from_texts(cfg.Knowledge, source=req.AgentId)
        if cfg.Knowledge
        else None,
        language=language,
        window=req.MessageHistory.WindowSize if req.MessageHistory else 20,
        interrupt_mode=req.AdvancedConfig.InterruptMode if req.AdvancedConfig else 0,
        options=SpeechOptions(
            speech_rate=int(tts_params.get("SpeechRate", 0)),
            pitch_rate=int(tts_params.get("PitchRate", 0)),
            volume=int(tts_params.get("Volume", 50)),
        ),
    )

    def enqueue(drive_id: str, source: Any) -> None:
        ctx.services.spawn(_record_drive(ctx, entry, drive_id, source), f"agent-drive-{drive_id}")

    holder: dict[str, AgentInstance] = {}
    conversation = Conversation(
        entry.task,
        backends.detector(asr_cfg.VADSilenceSegmentation),
        backends.asr,
        backends.chat_model(llm_cfg),
        tts,
        voice,
        conv_cfg,
        history=history,
        on_event=lambda e: holder["i"].on_event(e) if "i" in holder else None,
        enqueue=enqueue,
    )
    instance = AgentInstance(
        instance_id, ctx.app_id, req.AgentId, task_id, conversation, req.UserId
    )
    holder["i"] = instance
    agents.add(instance)
    async with ctx.db() as s, s.begin():
        s.add(
            AgentInstanceRow(
                id=instance_id,
                app_id=ctx.app_id,
                agent_id=req.AgentId,
                task_id=task_id,
                status=2,
                config=req.model_dump(exclude_none=True),
            )
        )
    if req.RTC.UserStreamId:
        hub = hub_from_state(ctx.state)
        instance.spawn(
            _follow_microphone(hub, req.RTC.RoomId, req.RTC.UserStreamId, instance),
            f"agent-mic-{instance_id}",
        )
    signer = hub_from_state(ctx.state).signer
    base = ctx.settings.base_url
    ws_base = base.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    play = signer.issue("play", req.RTC.RoomId, req.RTC.AgentStreamId, 86400)
    ws_token = signer.issue(
        "agent", req.RTC.RoomId, req.RTC.AgentStreamId, 86400, task_id=instance_id
    )
    from urllib.parse import quote

    return {
        "AgentInstanceId": instance_id,
        "TaskId": task_id,
        "WsUrl": f"{ws_base}/agent/ws?Token={ws_token}",
        "PlayToken": play,
        "WhepUrl": f"{base}/whep/{quote(req.RTC.RoomId, safe='')}/{quote(req.RTC.AgentStreamId, safe='')}",
    }


class InstanceReq(Req):
    AgentInstanceId: str = Field(min_length=1, max_length=64)


class TextReq(InstanceReq):
    Text: str = Field(min_length=1, max_length=1800)


@action(InstanceReq, codes=[INSTANCE_NOT_FOUND])
async def delete_instance(ctx: ActionContext, req: InstanceReq) -> dict:
    """End the conversation and its stream task."""
    instance = _instance(ctx, req.AgentInstanceId)
    await _backends(ctx).instances.end(instance, "deleted by request")
    return {}


@action(InstanceReq, codes=[INSTANCE_NOT_FOUND])
async def interrupt_instance(ctx: ActionContext, req: InstanceReq) -> dict:
    """Stop the avatar mid-sentence (the LLM and TTS of the reply are cancelled)."""
    _instance(ctx, req.AgentInstanceId).conversation.interrupt()
    return {}


@action(TextReq, codes=[INSTANCE_NOT_FOUND])
async def send_llm(ctx: ActionContext, req: TextReq) -> dict:
    """Send a user message as text: the agent answers it (LLM → TTS → avatar)."""
    _instance(ctx, req.AgentInstanceId).conversation.send_text(req.Text)
    return {}


@action(TextReq, codes=[INSTANCE_NOT_FOUND])
async def send_tts(ctx: ActionContext, req: TextReq) -> dict:
    """Make the avatar say this text now, without the LLM."""
    drive_id = _instance(ctx, req.AgentInstanceId).conversation.say(req.Text)
    return {"DriveId": drive_id}


@action(InstanceReq, codes=[INSTANCE_NOT_FOUND])
async def query_instance(ctx: ActionContext, req: InstanceReq) -> dict:
    """Status (1 starting, 2 idle, 3 listening, 4 thinking, 5 speaking, 6 ended), latencies of
    the last turn (ms) and the recent transcript."""
    instance = _backends(ctx).instances.get(req.AgentInstanceId)
    if instance is None:
        async with ctx.db() as s:
            row = await s.get(AgentInstanceRow, req.AgentInstanceId)
        if row is None or row.app_id != ctx.app_id:
            raise ApiError(INSTANCE_NOT_FOUND)
        return {"Status": 6, "Reason": row.reason or "", "TaskId": row.task_id}
    lat = instance.conversation.last_latency
    return {
        "Status": instance.state,
        "TaskId": instance.task_id,
        "Turns": instance.conversation.turns,
        # Each component's own latency (the turn's total is in Latency): with speculation the
        # LLM may answer before the end of the turn is declared.
        "LLMFirstTokenLatency": _ms(lat.llm_own_s if lat else None),
        "TTSFirstAudioLatency": _ms(lat.tts_own_s if lat else None),
        "Latency": lat.as_dict() if lat else {},
        "Messages": [
            {"Role": m["role"], "Content": m["content"]}
            for m in instance.conversation.history[-20:]
        ],
    }


ACTIONS = {
    "RegisterAgent": register_agent,
    "UpdateAgent": update_agent,
    "UnregisterAgent": unregister_agent,
    "QueryAgents": query_agents,
    "CreateDigitalHumanAgentInstance": create_instance,
    "DeleteAgentInstance": delete_instance,
    "InterruptAgentInstance": interrupt_instance,
    "SendAgentInstanceLLM": send_llm,
    "SendAgentInstanceTTS": send_tts,
    "QueryAgentInstanceStatus": query_instance,
}


# --- helpers ---------------------------------------------------------------------------------


def _key(app_id: int, agent_id: str) -> str:
    return f"{app_id}:{agent_id}"


async def _agent(s: Any, app_id: int, agent_id: str) -> Agent | None:
    return await s.get(Agent, _key(app_id, agent_id))


def _merge(base: Req, override: Req | None) -> Any:
    if override is None:
        return base
    return base.model_copy(update=override.model_dump(exclude_unset=True))


def _backends(ctx: ActionContext) -> Any:
    from agent.backends import backends_of

    return backends_of(ctx.services)


def _instance(ctx: ActionContext, instance_id: str) -> AgentInstance:
    instance = _backends(ctx).instances.get(instance_id)
    if instance is None or instance.app_id != ctx.app_id:
        raise ApiError(INSTANCE_NOT_FOUND)
    return instance


def _video_size(ctx: ActionContext, dh_id: str, config_id: str) -> tuple[int, int]:
    """The conversation's picture: the avatar's own shape (a square photo stays square, no
    black bands), 720 px wide for "web" and 360 for "mobile", within the stream size caps."""
    from avatar.registry import read_meta

    base = 720 if config_id == "web" else 360
    try:
        w, h = read_meta(ctx.services.avatars_dir / dh_id).get("size") or (9, 16)
    except (OSError, ValueError):
        w, h = 9, 16  # portrait, as ZEGO's mobile and web configs
    height = min(int(base * h / w) // 2 * 2, 1280 if config_id == "web" else 640)
    return base, max(height, 2)


def _ms(seconds: float | None) -> int:
    return -1 if seconds is None else round(seconds * 1000)


async def _wait_streaming(ctx: ActionContext, task_id: str) -> LiveEntry:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        entry = ctx.services.live.entry(task_id)
        if entry is None:
            raise ApiError(AGENT_INVALID, "the digital human's stream failed to start")
        if entry.task is not None and entry.status == TaskStatus.STREAMING:
            return entry
        await asyncio.sleep(0.05)
    raise ApiError(AGENT_INVALID, "the digital human's stream did not start in time")


async def _record_drive(ctx: ActionContext, entry: LiveEntry, drive_id: str, source: Any) -> None:
    """Record an agent reply as a drive of its task (GetDriveStatus shows it), then play it."""
    await add_drive(ctx, entry, "agent", {}, source, interrupt=True, drive_id=drive_id)


async def _follow_microphone(
    hub: Any, room_id: str, stream_id: str, instance: AgentInstance
) -> None:
    """Feed a WHIP-published microphone into the conversation, republished as often as needed."""
    while True:
        stream = await hub.published.wait_for(room_id, stream_id, 3600)
        instance.connections += 1
        try:
            async for pcm in stream.subscribe():
                instance.last_user_seen = time.monotonic()
                instance.conversation.push_audio(pcm)
        finally:
            instance.connections -= 1
            instance.last_user_seen = time.monotonic()
