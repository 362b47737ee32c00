"""An example site-owner backend for the customer-service widget (standard library only).

The widget on your web page must never see the ServerSecret. Instead it POSTs to an endpoint of
*your* backend (this script), which calls the digital-human server's signed API to start an agent
instance and passes only what the page needs: WsUrl, WhepUrl, PlayToken, AgentInstanceId. Those
are short-lived, scoped tokens for one conversation.

    python examples/widget_backend.py --server http://127.0.0.1:8000 --port 8080 \
        --app-id "$DH_APP_ID" --secret "$DH_SERVER_SECRET"

then open http://127.0.0.1:8080/ : a demo page of "your site" with the widget. Routes:
  GET  /                  the demo page (one <script> tag loads the widget from the server)
  POST /dh-session        {Language?, Codec?} → {AgentInstanceId, WsUrl, WhepUrl, PlayToken}
  POST /dh-session/end    {AgentInstanceId} → ends it
In a real site, put your own checks in `create_session` (signed-in customer, quota, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROMPTS = {
    "en": "You are a polite customer-service agent of an online shop. Orders ship within two "
    "working days; returns are accepted within 30 days. Answer in one to three short spoken "
    "sentences without lists or emoji.",
    "zh": "你是一家网店的礼貌客服。订单两个工作日内发货，30天内可以退货。"
    "请用一到三句简短的口语回答，不要列表和表情符号。",
}


class DigitalHumanApi:
    """Signed calls (ZEGO signature: MD5 of AppId + nonce + secret + timestamp)."""

    def __init__(self, server: str, app_id: str, secret: str) -> None:
        self.server, self.app_id, self.secret = server.rstrip("/"), app_id, secret
        self._agents: set[str] = set()
        self._lock = threading.Lock()

    def call(self, action: str, body: dict) -> dict:
        nonce, ts = secrets.token_hex(8), str(int(time.time()))
        sig = hashlib.md5(f"{self.app_id}{nonce}{self.secret}{ts}".encode()).hexdigest()
        query = urllib.parse.urlencode(
            {
                "Action": action,
                "AppId": self.app_id,
                "SignatureNonce": nonce,
                "Timestamp": ts,
                "Signature": sig,
                "SignatureVersion": "2.0",
            }
        )
        req = urllib.request.Request(
            f"{self.server}/?{query}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            reply = json.loads(r.read())
        if reply["Code"] != 0 and not (action == "RegisterAgent" and reply["Code"] == 410001001):
            raise RuntimeError(f"{action}: {reply['Code']} {reply['Message']}")
        return reply.get("Data") or {}

    def create_session(self, language: str, avatar: str | None, codec: str = "H264") -> dict:
        language = "zh" if language == "zh" else "en"
        codec = "VP8" if codec == "VP8" else "H264"  # what the visitor's browser decodes
        agent_id = f"site-service-{language}"
        with self._lock:
            if agent_id not in self._agents:
                self.call(
                    "RegisterAgent",
                    {
                        "AgentId": agent_id,
                        "Name": "Site customer service",
                        "LLM": {"SystemPrompt": PROMPTS[language]},
                        "ASR": {"Params": {"Language": language}},
                        "TTS": {"Params": {"Language": language}},
                    },
                )
                self._agents.add(agent_id)
        if not avatar:
            avatars = self.call("GetDigitalHumanList", {"FetchMode": 2})["DigitalHumans"]
            avatar = avatars[0]["DigitalHumanId"]
        data = self.call(
            "CreateDigitalHumanAgentInstance",
            {
                "AgentId": agent_id,
                "UserId": "visitor-" + uuid.uuid4().hex[:8],
                "RTC": {"RoomId": "site", "AgentStreamId": "site" + uuid.uuid4().hex[:16]},
                "DigitalHuman": {
                    "DigitalHumanId": avatar,
                    "ConfigId": "mobile",
                    "EncodeCode": codec,
                },
            },
        )
        # Only the per-conversation tokens go to the browser.
        return {k: data[k] for k in ("AgentInstanceId", "WsUrl", "WhepUrl", "PlayToken")}


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Example shop</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #fafafa; color: #222; }}
  header {{ background: #2d2a32; color: #fff; padding: 16px 24px; }}
  main {{ padding: 24px; max-width: 760px; }}
  /* The widget's theme: CSS variables on the page. */
  :root {{ --dh-accent: #6b2fb3; --dh-radius: 16px; }}
</style></head>
<body>
<header><h1 style="margin:0;font-size:22px">Example shop</h1></header>
<main>
  <h2>Welcome</h2>
  <p>This page stands for a third-party site. The chat button in the corner is the
  digital-human widget: one script tag, a config object, and this site's own backend
  endpoint (<code>/dh-session</code>) that holds the API secret.</p>
</main>
<script>window.dhWidget = {{ sessionUrl: "/dh-session", endUrl: "/dh-session/end" }};</script>
<script src="{server}/web/widget.js" async></script>
</body></html>
"""


def make_handler(api: DigitalHumanApi, avatar: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.split("?")[0] in ("/", "/index.html"):
                self._send(200, PAGE.format(server=api.server).encode(), "text/html; charset=utf-8")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), 64 * 1024)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = {}
            try:
                if self.path == "/dh-session":
                    data = api.create_session(
                        str(body.get("Language", "en")), avatar, str(body.get("Codec", "H264"))
                    )
                elif self.path == "/dh-session/end":
                    api.call(
                        "DeleteAgentInstance", {"AgentInstanceId": body.get("AgentInstanceId", "")}
                    )
                    data = {}
                else:
                    self._send(404, b"not found", "text/plain")
                    return
            except Exception as e:  # the server refused: tell the widget, keep the secret
                self._send(502, json.dumps({"error": str(e)}).encode(), "application/json")
                return
            self._send(200, json.dumps(data).encode(), "application/json")

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--server", default=os.environ.get("DH_SERVER", "http://127.0.0.1:8000"))
    p.add_argument("--app-id", default=os.environ.get("DH_APP_ID", ""))
    p.add_argument("--secret", default=os.environ.get("DH_SERVER_SECRET", ""))
    p.add_argument("--avatar", default=None, help="DigitalHumanId (default: the first public one)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    args = p.parse_args()
    if not args.app_id or not args.secret:
        p.error("--app-id and --secret (or DH_APP_ID / DH_SERVER_SECRET) are required")
    api = DigitalHumanApi(args.server, args.app_id, args.secret)
    httpd = ThreadingHTTPServer((args.host, args.port), make_handler(api, args.avatar))
    print(f"example site on http://{args.host}:{httpd.server_address[1]}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        httpd.serve_forever()


if __name__ == "__main__":
    main()
