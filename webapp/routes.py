"""HTTP routes of the browser pages (mounted by api/app.py):

- `GET /web/config`: public picker data (avatars, voices, lessons), no secrets;
- `POST /web/login` {Password}, `POST /web/logout`, `GET /web/me`: the studio operator's sign-in
  (DH_ADMIN_PASSWORD; an HttpOnly SameSite=Strict cookie);
- `GET /web/voice-sample/{TimbreId}`: a short spoken sample (WAV) for the operator;
- `POST /web/api/{Action}`: any action, run in-process as the app, for a signed-in operator
  (JSON body, or multipart/form-data for UploadFile); needs the header `X-DH-Studio: 1`;
- `POST /web/session` {DigitalHumanId, TimbreId, Scenario, Language, Lesson}: start an agent
  instance for the companion/tutor/service pages → {AgentInstanceId, TaskId, WsUrl, WhepUrl,
  PlayToken}; open to anyone when `web_open_sessions` is on (the default: the server binds
  127.0.0.1), else only for a signed-in operator; rate-limited per client address;
  `POST /web/session/say` {AgentInstanceId, Text} (a text drive of a page's own instance),
  `POST /web/session/end` {AgentInstanceId};
- `GET /web/widget.js`, `GET /web/js/{name}`: the widget and its modules with
  `Access-Control-Allow-Origin: *`, so a third-party page can load them (module imports and
  AudioWorklet modules are fetched in CORS mode).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ValidationError

from api.errors import ApiError
from webapp.auth import COOKIE, SESSION_TTL_S, SessionSigner, password_matches
from webapp.runner import run_action, services_of
from webapp.sessions import SayReq, SessionReq, WebSessions, lessons

router = APIRouter(prefix="/web", include_in_schema=False)
FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
_JS_NAME = re.compile(r"^[a-z0-9_-]{1,40}\.js$")
CORS = {"Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin"}
MAX_JSON = 256 * 1024


def _err(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"Code": code, "Message": message, "Data": {}}, status_code=status)


def _settings(request: Request) -> Any:
    return services_of(request).settings


def _open_sessions(request: Request) -> bool:
    # The lead adds `web_open_sessions` (DH_WEB_OPEN_SESSIONS) to settings.py.
    return bool(getattr(_settings(request), "web_open_sessions", True))


def _signer(request: Request) -> SessionSigner:
    state = request.app.state
    signer = getattr(state, "web_signer", None)
    if signer is None:
        signer = state.web_signer = SessionSigner(services_of(request).credentials.server_secret)
    return signer


def _sessions(request: Request) -> WebSessions:
    state = request.app.state
    sessions = getattr(state, "web_sessions", None)
    if sessions is None:
        sessions = state.web_sessions = WebSessions()
    return sessions


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def signed_in(request: Request) -> bool:
    return _signer(request).valid(request.cookies.get(COOKIE))


async def _json(request: Request) -> dict[str, Any] | JSONResponse:
    raw = await request.body()
    if len(raw) > MAX_JSON:
        return _err(413, 400000002, "body too large")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return _err(400, 400000002, "body is not JSON")
    if not isinstance(body, dict):
        return _err(400, 400000002, "body is not a JSON object")
    return body


def _parse(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        return _err(400, 400000001, f"{field}: {first['msg']}")


# ---- public config ----


@router.get("/config")
async def config(request: Request) -> JSONResponse:
    """Ready avatars (public ones; the app's own too while sessions are open) and voices."""
    mode = 1 if _open_sessions(request) else 2
    avatars: list[dict[str, Any]] = []
    for offset in range(0, 100, 20):
        data = (
            await run_action(
                request, "GetDigitalHumanList", {"FetchMode": mode, "Offset": offset, "Limit": 20}
            )
        ).get("Data", {})
        items = data.get("DigitalHumans", [])
        avatars += [
            {"DigitalHumanId": a["DigitalHumanId"], "Name": a["Name"], "AvatarUrl": a["AvatarUrl"]}
            for a in items
            if a.get("Status", 2) == 2
        ]
        if len(items) < 20:
            break
    voices: list[dict[str, Any]] = []
    for offset in range(0, 100, 20):
        data = (await run_action(request, "GetTimbreList", {"Offset": offset, "Limit": 20})).get(
            "Data", {}
        )
        items = data.get("Timbres", [])
        voices += [
            {"TimbreId": t["TimbreId"], "Name": t["Name"], "Language": t["Language"]} for t in items
        ]
        if len(items) < 20:
            break
    titles = {k: {"title": v["title"], "language": v["language"]} for k, v in lessons().items()}
    return JSONResponse(
        {
            "DigitalHumans": avatars,
            "Timbres": voices,
            "Lessons": titles,
            "OpenSessions": _open_sessions(request),
            "StudioPasswordSet": bool(_settings(request).admin_password),
        },
        headers={"Cache-Control": "no-store"},
    )


# ---- operator sign-in ----


@router.get("/me")
async def me(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "SignedIn": signed_in(request),
            "PasswordSet": bool(_settings(request).admin_password),
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post("/login")
async def login(request: Request) -> Response:
    expected = _settings(request).admin_password
    if not expected:
        return _err(503, 403, "no operator password: set DH_ADMIN_PASSWORD and restart the server")
    body = await _json(request)
    if isinstance(body, JSONResponse):
        return body
    signer = _signer(request)
    client = _client(request)
    if not signer.may_try(client):
        return _err(429, 429, "too many wrong passwords: wait a minute")
    if not password_matches(str(body.get("Password", "")), expected):
        signer.failed(client)
        return _err(401, 401, "wrong password")
    response = JSONResponse({"Code": 0, "Message": "success", "Data": {}})
    response.set_cookie(
        COOKIE,
        signer.issue(),
        max_age=SESSION_TTL_S,
        path="/web",
        httponly=True,
        samesite="strict",
        secure=_settings(request).scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    _signer(request).revoke(request.cookies.get(COOKIE))
    response = JSONResponse({"Code": 0, "Message": "success", "Data": {}})
    response.delete_cookie(COOKIE, path="/web", httponly=True, samesite="strict")
    return response


@router.post("/api/{action}")
async def studio_action(action: str, request: Request) -> Response:
    """Any action for the signed-in operator. The custom header cannot be sent cross-origin
    without a CORS preflight (which this route never answers), a second guard besides
    SameSite=Strict against cross-site requests."""
    if not signed_in(request):
        return _err(401, 401, "sign in first")
    if request.headers.get("x-dh-studio") != "1":
        return _err(403, 403, "missing X-DH-Studio header")
    if not re.fullmatch(r"[A-Za-z]{1,64}", action):
        return _err(404, 400000003, "no such action")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        if action not in ("UploadFile", "Upload"):
            return _err(415, 400000002, "multipart bodies are for UploadFile only")
        return JSONResponse(await run_action(request, action, {}))
    body = await _json(request)
    if isinstance(body, JSONResponse):
        return body
    return JSONResponse(await run_action(request, action, body))


@router.get("/voice-sample/{timbre_id}")
async def voice_sample(timbre_id: str, request: Request) -> Response:
    """A spoken sample of a voice (WAV), for the signed-in operator's voice list."""
    from webapp.voices import sample_wav

    if not signed_in(request):
        return _err(401, 401, "sign in first")
    state = request.app.state
    cache = getattr(state, "web_voice_samples", None)
    if cache is None:
        cache = state.web_voice_samples = {}
    try:
        data = await sample_wav(services_of(request).tts, timbre_id[:128], cache)
    except KeyError:
        return _err(404, 400000004, "no such voice")
    return Response(
        data, media_type="audio/wav", headers={"Cache-Control": "private, max-age=3600"}
    )


# ---- visitor sessions ----


def _may_start(request: Request) -> JSONResponse | None:
    if not _open_sessions(request) and not signed_in(request):
        return _err(403, 403, "sessions need an operator sign-in (DH_WEB_OPEN_SESSIONS is off)")
    return None


@router.post("/session")
async def start_session(request: Request) -> Response:
    refused = _may_start(request)
    if refused is not None:
        return refused
    body = await _json(request)
    if isinstance(body, JSONResponse):
        return body
    req = _parse(SessionReq, body)
    if isinstance(req, JSONResponse):
        return req
    sessions = _sessions(request)
    if not sessions.allow_start(_client(request)):
        return _err(429, 429, "too many sessions started from this address: wait a minute")
    try:
        data = await sessions.start(request, req, user=f"web-{_client(request)}")
    except ApiError as e:
        return _err(400, e.code, e.message)
    return JSONResponse({"Code": 0, "Message": "success", "Data": data})


@router.post("/session/say")
async def session_say(request: Request) -> Response:
    """Make a page's own instance read a text (the tutor reading a passage)."""
    body = await _json(request)
    if isinstance(body, JSONResponse):
        return body
    req = _parse(SayReq, body)
    if isinstance(req, JSONResponse):
        return req
    if not _sessions(request).owns(req.AgentInstanceId):
        return _err(404, 410001002, "agent instance not found")
    reply = await run_action(
        request, "SendAgentInstanceTTS", {"AgentInstanceId": req.AgentInstanceId, "Text": req.Text}
    )
    return JSONResponse(reply, status_code=200 if reply["Code"] == 0 else 400)


@router.post("/session/end")
async def session_end(request: Request) -> Response:
    body = await _json(request)
    if isinstance(body, JSONResponse):
        return body
    instance_id = str(body.get("AgentInstanceId", ""))[:64]
    sessions = _sessions(request)
    if not sessions.owns(instance_id):
        return _err(404, 410001002, "agent instance not found")
    sessions.forget(instance_id)
    reply = await run_action(request, "DeleteAgentInstance", {"AgentInstanceId": instance_id})
    return JSONResponse(reply)


# ---- widget scripts (cross-origin) ----


@router.get("/widget.js")
async def widget_script() -> FileResponse:
    return FileResponse(
        FRONTEND / "widget.js",
        media_type="text/javascript",
        headers={**CORS, "Cache-Control": "no-cache"},
    )


@router.get("/js/{name}")
async def module_script(name: str) -> Response:
    path = FRONTEND / "js" / name
    if not _JS_NAME.match(name) or not path.is_file():
        return Response(status_code=404, headers=CORS)
    return FileResponse(
        path, media_type="text/javascript", headers={**CORS, "Cache-Control": "no-cache"}
    )


@router.get("/css/{name}")
async def widget_css(name: str) -> Response:
    path = FRONTEND / "css" / name
    if not re.fullmatch(r"[a-z0-9_-]{1,40}\.css", name) or not path.is_file():
        return Response(status_code=404, headers=CORS)
    return FileResponse(path, media_type="text/css", headers={**CORS, "Cache-Control": "no-cache"})
