"""The AppId and ServerSecret: from settings when given, else generated once and kept in the data
directory, so a new user can sign calls right after the first start."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from settings import Settings


@dataclass(frozen=True, slots=True)
class Credentials:
    app_id: int
    server_secret: str
    callback_secret: str


def load_credentials(settings: Settings) -> Credentials:
    path = Path(settings.data_dir) / "credentials.json"
    stored: dict = {}
    if path.exists():
        stored = json.loads(path.read_text())
    if not stored.get("AppId") or not stored.get("ServerSecret"):
        stored = {
            # ZEGO AppIds are unsigned 32-bit numbers; keep ours in the same shape.
            "AppId": secrets.randbelow(3_000_000_000) + 1_000_000_000,
            "ServerSecret": secrets.token_hex(16),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored, indent=1))
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    app_id = settings.app_id if settings.app_id is not None else int(stored["AppId"])
    secret = settings.server_secret or stored["ServerSecret"]
    return Credentials(app_id, secret, settings.callback_secret or secret)
