"""Visitor sessions for the companion, tutor and customer-service pages: one agent per scenario
and language (registered once, kept current), one agent instance per visitor, started through
the same handlers as the signed API. Open to anyone only when `web_open_sessions` is on."""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request

from agent.llm.prompts import system_prompt
from webapp.runner import ok, run_action

ROOT = Path(__file__).resolve().parent
LESSONS = ROOT.parent / "frontend" / "lessons.json"
USE_CASE = {"companion": "companion", "tutor": "tutor", "service": "customer_service"}
SESSIONS_PER_MINUTE = 6  # per client address
ROOM = "web"


class SessionReq(BaseModel):
    DigitalHumanId: str = Field(min_length=1, max_length=64)
    TimbreId: str | None = Field(None, max_length=128)
    Scenario: Literal["companion", "tutor", "service"] = "companion"
    Language: Literal["en", "zh"] = "en"
    Lesson: str | None = Field(None, max_length=64, pattern=r"^[a-z0-9-]+$")
    Codec: Literal["H264", "VP8"] = "H264"  # VP8 where the browser cannot decode H.264


class SayReq(BaseModel):
    AgentInstanceId: str = Field(min_length=1, max_length=64)
    Text: str = Field(min_length=1, max_length=1800)


class EndReq(BaseModel):
    AgentInstanceId: str = Field(min_length=1, max_length=64)


@lru_cache(maxsize=1)
def lessons() -> dict[str, Any]:
    return json.loads(LESSONS.read_text(encoding="utf-8"))


def faq(language: str) -> str:
    """The customer-service FAQ (one passage per paragraph, retrieved per question)."""
    return (ROOT / "knowledge" / f"service_{language}.md").read_text(encoding="utf-8")


def lesson_persona(language: str, lesson: str | None) -> str | None:
    """The tutor's role with the lesson's text, or None for the plain tutor role."""
    if lesson not in lessons():
        return None
    item = lessons()[lesson]
    text = "\n".join(item["passages"])
    if language == "zh":
        role = "你是一位耐心的老师，和学生一起学习下面的课文，回答关于它的问题。"
        return f"{role}\n\n今天的课文：{item['title']}\n{text}"
    role = (
        "You are a patient tutor going through the lesson below with a student and answering "
        "their questions about it."
    )
    return f"{role}\n\nToday's lesson text: {item['title']}\n{text}"


def prompt_for(scenario: str, language: str, lesson: str | None = None) -> str:
    """The system prompt a page's agent starts with (the service agent's is rebuilt for each
    question with the FAQ passages that match it; shown here with the whole FAQ)."""
    use_case = USE_CASE[scenario]
    if use_case == "customer_service":
        from agent.llm.knowledge import KnowledgeBase

        kb = KnowledgeBase.from_texts([faq(language)])
        return system_prompt(use_case, language, kb, question=faq(language))
    persona = lesson_persona(language, lesson) if use_case == "tutor" else None
    return system_prompt(use_case, language, persona=persona)


class WebSessions:
    """Remembers which instances the pages started (only those may be driven or ended from a
    page) and how often each client address started one."""

    def __init__(self) -> None:
        self.instances: dict[str, float] = {}  # AgentInstanceId → start time
        self._registered: set[str] = set()
        self._starts: dict[str, deque[float]] = {}

    def allow_start(self, client: str) -> bool:
        now = time.monotonic()
        starts = self._starts.setdefault(client, deque())
        while starts and starts[0] < now - 60:
            starts.popleft()
        if len(starts) >= SESSIONS_PER_MINUTE:
            return False
        starts.append(now)
        return True

    async def ensure_agent(self, request: Request, scenario: str, language: str) -> str:
        agent_id = f"web-{scenario}-{language}"
        if agent_id in self._registered:
            return agent_id
        body = {
            "AgentId": agent_id,
            "Name": f"Web {scenario} ({language})",
            "Scenario": USE_CASE[scenario],
            "Knowledge": [faq(language)] if scenario == "service" else [],
            "ASR": {"Params": {"Language": language}, "VADSilenceSegmentation": 600},
            "TTS": {"Params": {"Language": language}},
        }
        reply = await run_action(request, "RegisterAgent", body)
        if reply["Code"] == 410001001:  # registered by an earlier run: bring it up to date
            await ok(request, "UpdateAgent", body)
        elif reply["Code"] != 0:
            from api.errors import ApiError

            raise ApiError(reply["Code"], reply["Message"])
        self._registered.add(agent_id)
        return agent_id

    async def start(self, request: Request, req: SessionReq, user: str) -> dict[str, Any]:
        agent_id = await self.ensure_agent(request, req.Scenario, req.Language)
        tts: dict[str, Any] = {"Language": req.Language}
        if req.TimbreId:
            tts["TimbreId"] = req.TimbreId
        body: dict[str, Any] = {
            "AgentId": agent_id,
            "UserId": user,
            "RTC": {"RoomId": ROOM, "AgentStreamId": "web" + uuid.uuid4().hex[:16]},
            "DigitalHuman": {
                "DigitalHumanId": req.DigitalHumanId,
                "ConfigId": "mobile",
                "EncodeCode": req.Codec,
            },
            "TTS": {"Params": tts},
            "ASR": {"Params": {"Language": req.Language}},
        }
        persona = lesson_persona(req.Language, req.Lesson) if req.Scenario == "tutor" else None
        if persona:
            body["LLM"] = {"SystemPrompt": persona}
        data = await ok(request, "CreateDigitalHumanAgentInstance", body)
        self.instances[data["AgentInstanceId"]] = time.time()
        return {k: data[k] for k in ("AgentInstanceId", "TaskId", "WsUrl", "WhepUrl", "PlayToken")}

    def owns(self, instance_id: str) -> bool:
        return instance_id in self.instances

    def forget(self, instance_id: str) -> None:
        self.instances.pop(instance_id, None)
