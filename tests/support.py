"""Shared test helpers: signing calls, a client for the action API, and a real server process.

    from tests.support import ServerProcess, sign_query
    with ServerProcess(tmp_path, env={"DH_CALLBACK_URL": ...}) as srv:
        reply = srv.client.call("GetDigitalHumanList", {})

`ServerProcess` runs `python server.py` on 127.0.0.1 at a free port with its own DH_DATA_DIR and
fixed credentials, waits until it answers, and stops it (SIGINT, then SIGKILL) on exit;
`restart()` stops and starts it on the same data directory.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from api.signature import sign

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT.parent / "shared" / "media"
TEST_APP_ID = 1234567890
TEST_SECRET = "0123456789abcdef0123456789abcdef"


@contextlib.contextmanager
def serve_directory(folder: Path) -> Iterator[str]:
    """A plain HTTP file server on 127.0.0.1 for `folder`; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class WebhookReceiver:
    """A local webhook endpoint on 127.0.0.1 that records every POSTed JSON body with its arrival
    time. `fail_first`: answer 500 to the first delivery of each event (by Nonce)."""

    def __init__(self, fail_first: bool = False) -> None:
        self.fail_first = fail_first
        self.received: list[tuple[float, dict, int]] = []  # (time.monotonic(), body, answered)
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                with receiver._lock:
                    seen = any(b.get("Nonce") == body.get("Nonce") for _, b, _ in receiver.received)
                    code = 500 if receiver.fail_first and not seen else 200
                    receiver.received.append((time.monotonic(), body, code))
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/callback"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def events(self) -> list[tuple[float, dict, int]]:
        with self._lock:
            return list(self.received)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def chromium_args(microphone: str | None = None) -> list[str]:
    """Flags for headless Debian Chromium in page tests: WebRTC on 127.0.0.1 (loopback candidates,
    no mDNS names), autoplay, media permission granted, and `microphone` (a WAV path, optionally
    with `%noloop`) as the fake microphone if given; no background traffic off the machine."""
    mic = [
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
    ]
    return [
        "--no-sandbox",
        "--headless=new",
        "--disable-gpu",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-ui-for-media-stream",
        *(mic if microphone is not None else []),
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sign_query(
    action: str, app_id: int = TEST_APP_ID, secret: str = TEST_SECRET, **override: Any
) -> dict[str, str]:
    """Query parameters of a signed call, the way ZEGO's sample clients build them (AppId as a
    string, a 16-hex-digit nonce, SignatureVersion 2.0). `override` replaces or (None) drops one."""
    nonce = secrets.token_hex(8)
    ts = str(int(time.time()))
    q = {
        "Action": action,
        "AppId": str(app_id),
        "SignatureNonce": nonce,
        "Timestamp": ts,
        "Signature": sign(app_id, nonce, secret, ts),
        "SignatureVersion": "2.0",
    }
    for k, v in override.items():
        if v is None:
            q.pop(k, None)
        else:
            q[k] = str(v)
    return q


class ApiClient:
    """Signed calls to a running server (`call` returns the envelope as a dict)."""

    def __init__(
        self,
        base_url: str,
        app_id: int = TEST_APP_ID,
        secret: str = TEST_SECRET,
        http: httpx.Client | None = None,
        **httpx_args: Any,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self.secret = secret
        # Any httpx.Client works, Starlette's TestClient included (in-process tests).
        self._httpx_args = httpx_args
        self.http = http or httpx.Client(timeout=30, **httpx_args)

    def reset_connections(self) -> None:
        """Drop kept-alive connections (a server shutting down waits for them)."""
        self.http.close()
        self.http = httpx.Client(timeout=30, **self._httpx_args)

    def call(self, action: str, body: dict | None = None, **override: Any) -> dict:
        q = sign_query(action, self.app_id, self.secret, **override)
        r = self.http.post(self.base_url + "/", params=q, json=body or {})
        r.raise_for_status()
        return r.json()

    def ok(self, action: str, body: dict | None = None) -> dict:
        """`call` that asserts Code 0 and returns Data."""
        reply = self.call(action, body)
        assert reply["Code"] == 0, reply
        return reply["Data"]

    def wait(
        self, action: str, body: dict, until, timeout: float = 30.0, every: float = 0.2
    ) -> dict:  # type: ignore[no-untyped-def]
        """Poll `action` until `until(data)` is true; returns that Data."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.ok(action, body)
            if until(data):
                return data
            if time.monotonic() > deadline:
                raise AssertionError(f"{action} {body} never satisfied the condition: {data}")
            time.sleep(every)

    def close(self) -> None:
        self.http.close()


def test_settings(data_dir: Path, **override: Any):  # type: ignore[no-untyped-def]
    """Settings for an in-process app (same credentials as `ServerProcess`)."""
    from settings import Settings

    values: dict[str, Any] = {
        "data_dir": data_dir,
        "app_id": TEST_APP_ID,
        "server_secret": TEST_SECRET,
        "allow_private_urls": True,
        "rate_limit_per_second": 1000,
        "ice_host_addresses": ["127.0.0.1"],
    }
    values.update(override)
    return Settings(_env_file=None, **values)


_TEMPLATE: Path | None = None


def seed_data_dir(data_dir: Path) -> None:
    """Fill a new data directory with a copy of one built once per test session (the built-in
    avatar already made), so each server start does not rebuild it. First start as a user
    meets it: see tests/test_server_defaults.py, which does not seed."""
    global _TEMPLATE
    if data_dir.exists() and any(data_dir.iterdir()):
        return
    if _TEMPLATE is None:
        template = Path(tempfile.mkdtemp(prefix="dh-template-")) / "data"
        with InProcessApp(template, seed=False):
            pass
        _TEMPLATE = template
    shutil.copytree(_TEMPLATE, data_dir, dirs_exist_ok=True)


class InProcessApp:
    """The real app in this process (Starlette's TestClient runs its lifespan and event loop).

    with InProcessApp(tmp_path) as api:
        api.client.ok("GetDigitalHumanList", {})
    """

    def __init__(self, data_dir: Path, seed: bool = True, **settings: Any) -> None:
        from fastapi.testclient import TestClient

        from api.app import create_app

        if seed and settings.get("builtin_avatar", True):
            seed_data_dir(Path(data_dir))

        self.app = create_app(test_settings(Path(data_dir), **settings))
        self.http = TestClient(self.app)
        self.client = ApiClient("http://testserver", http=self.http)

    @property
    def services(self):  # type: ignore[no-untyped-def]
        return self.app.state.services

    def __enter__(self) -> InProcessApp:
        self.http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.__exit__(*exc)


class ServerProcess:
    """`python server.py` in a child process on 127.0.0.1 with its own data directory."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str | None] | None = None,
        port: int | None = None,
        scheme: str = "http",
        startup_timeout: float = 120.0,
        seed: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.scheme = scheme
        self.env = {
            **os.environ,
            "DH_HOST": "127.0.0.1",
            "DH_PORT": str(self.port),
            "DH_DATA_DIR": str(self.data_dir),
            "DH_APP_ID": str(TEST_APP_ID),
            "DH_SERVER_SECRET": TEST_SECRET,
            "DH_ALLOW_PRIVATE_URLS": "true",
            "DH_RATE_LIMIT_PER_SECOND": "1000",
            "DH_ICE_HOST_ADDRESSES": "127.0.0.1",
            **(env or {}),
        }
        # A None value in `env` removes that variable (to run with the server's defaults).
        self.env = {k: v for k, v in self.env.items() if v is not None}
        self.startup_timeout = startup_timeout
        self.seed = seed
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        self.client = ApiClient(self.base_url, verify=False)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        if self.seed:
            seed_data_dir(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "server.py")],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                r = self.client.call("QueryDigitalHumanStreamTasks", {})
                if r["Code"] == 0:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start in {self.startup_timeout} s:\n{self.log()}")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.client.reset_connections()
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.client.close()
