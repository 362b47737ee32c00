"""Tables. Ids are strings (uuid hex) as ZEGO's are; times are Unix seconds (float)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def now() -> float:
    return time.time()


class Base(DeclarativeBase):
    pass


class DigitalHuman(Base):
    """An avatar. Status: 1 building, 2 ready, 3 failed (our extension of ZEGO's list)."""

    __tablename__ = "digital_humans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[int | None] = mapped_column(BigInteger, index=True)  # None: public
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(32))
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[int] = mapped_column(Integer, default=1)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    fail_reason: Mapped[str | None] = mapped_column(Text)
    actions: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_url: Mapped[str | None] = mapped_column(Text)
    create_time: Mapped[float] = mapped_column(Float, default=now)


class Timbre(Base):
    """A voice. Public ones mirror the offline TTS voices; private ones belong to one avatar."""

    __tablename__ = "timbres"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    language: Mapped[str] = mapped_column(String(16), default="")
    backend: Mapped[str] = mapped_column(String(64), default="")
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    digital_human_id: Mapped[str | None] = mapped_column(String(64), index=True)
    available: Mapped[bool] = mapped_column(Boolean, default=True)


class StreamTask(Base):
    """A stream task. Status as ZEGO's: 1 initializing, 2 init failed, 3 streaming, 4 stopping,
    5 stopped; `fail_reason` says why it failed or ended."""

    __tablename__ = "stream_tasks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[int] = mapped_column(BigInteger, index=True)
    digital_human_id: Mapped[str] = mapped_column(String(64))
    room_id: Mapped[str] = mapped_column(String(256))
    stream_id: Mapped[str] = mapped_column(String(256), index=True)
    status: Mapped[int] = mapped_column(Integer, default=1, index=True)
    fail_reason: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    create_time: Mapped[float] = mapped_column(Float, default=now)
    end_time: Mapped[float | None] = mapped_column(Float)


class Drive(Base):
    """A drive of a stream task: 1 queued, 2 driving, 3 failed, 4 finished, 5 interrupted."""

    __tablename__ = "drives"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # text | audio | ws | rtc
    status: Mapped[int] = mapped_column(Integer, default=1, index=True)
    fail_reason: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    create_time: Mapped[float] = mapped_column(Float, default=now)
    start_time: Mapped[float | None] = mapped_column(Float)
    end_time: Mapped[float | None] = mapped_column(Float)


class Upload(Base):
    """A file uploaded with the Upload extension, served under /files/."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[int] = mapped_column(BigInteger, index=True)
    filename: Mapped[str] = mapped_column(String(256))
    content_type: Mapped[str] = mapped_column(String(128), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer)
    create_time: Mapped[float] = mapped_column(Float, default=now)


class VideoJob(Base):
    """A video file job (CreateDigitalHumanVideo): 1 queued, 2 rendering, 3 failed, 4 done,
    5 cancelled. `request` keeps the validated request, `result` what the job produced."""

    __tablename__ = "video_jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[int] = mapped_column(BigInteger, index=True)
    digital_human_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer, default=1, index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    fail_reason: Mapped[str | None] = mapped_column(Text)
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    create_time: Mapped[float] = mapped_column(Float, default=now)
    update_time: Mapped[float] = mapped_column(Float, default=now)


class Agent(Base):
    """A registered AI agent (RegisterAgent): its LLM/TTS/ASR config as given."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    app_id: Mapped[int] = mapped_column(BigInteger, index=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    create_time: Mapped[float] = mapped_column(Float, default=now)


class AgentInstance(Base):
    """A running or ended agent instance; `status` and `reason` as the agents module defines."""

    __tablename__ = "agent_instances"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[int] = mapped_column(BigInteger, index=True)
    agent_id: Mapped[str] = mapped_column(String(128), index=True)
    task_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer, default=1)
    reason: Mapped[str | None] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    create_time: Mapped[float] = mapped_column(Float, default=now)
    end_time: Mapped[float | None] = mapped_column(Float)
