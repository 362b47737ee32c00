"""Server settings, read from the environment (prefix `DH_`) or a `.env` file.

Every setting is listed in the README's settings table. Credentials that are not set are generated
once and kept in the data directory (see `api/credentials.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """All settings of the server. Build one with `Settings()`; tests pass overrides."""

    model_config = SettingsConfigDict(env_prefix="DH_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    database_url: str | None = None  # default: SQLite file in the data dir
    app_id: int | None = None  # generated once and kept in the data dir when unset
    server_secret: str | None = None
    public_url: str | None = None  # base of the URLs the API returns; default from host/port
    callback_url: str | None = None
    callback_secret: str | None = None  # default: the server secret
    allow_private_urls: bool = False
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None

    max_live_tasks: int = Field(default=8, ge=1)
    rate_limit_per_second: float = Field(default=10.0, gt=0)
    media_workers: int = Field(default=0, ge=0)  # processes serving WebRTC viewers (0: in process)
    max_viewers: int = Field(default=64, ge=1)  # WebRTC viewers per server
    ice_host_addresses: Annotated[list[str], NoDecode] = Field(default_factory=list)
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str | None = None
    tts_online: bool = False  # offer edge-tts voices (need the internet; fall back offline)
    # Threads of each offline voice: 2 say a short Mandarin clause in ~0.43 s instead of ~0.65 s
    # for ~10 % more CPU; 1 is leanest when many streams speak at once.
    tts_threads: int = Field(default=2, ge=1)
    web_open_sessions: bool = True  # companion/tutor pages may start sessions without sign-in
    # Threads of the local model (1 holds up best under load).
    llm_threads: int = Field(default=1, ge=1)
    # An agent instance ends this long after its user left.
    agent_idle_timeout_s: float = Field(default=120.0, gt=0)
    video_workers: int = Field(default=1, ge=1)
    video_runner: Literal["inprocess", "celery"] = "inprocess"  # where video file jobs run
    celery_broker_url: str | None = None  # e.g. redis://127.0.0.1:6379/0 (video_runner=celery)
    video_retention_hours: float = Field(default=168.0, gt=0)  # finished files are kept this long
    admin_password: str | None = None

    # Limits of remote fetches (AudioUrl, ImageUrl, AssetUrl, ...).
    fetch_max_bytes: int = 200 * 1024 * 1024
    fetch_timeout_s: float = 60.0
    upload_max_bytes: int = 200 * 1024 * 1024
    # Create the bundled astronaut avatar at first start.
    builtin_avatar: bool = True
    access_log: bool = False  # one log line per HTTP request

    @field_validator("ice_host_addresses", mode="before")
    @classmethod
    def _split_csv(cls, v: object) -> object:
        if isinstance(v, str):
            return [s.strip() for s in v.split(",") if s.strip()]
        return v

    @property
    def scheme(self) -> str:
        return "https" if self.tls_certfile else "http"

    @property
    def base_url(self) -> str:
        """Public base URL without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("0.0.0.0", "::") else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'digital-human.db').resolve()}"
