"""The browser pages' server routes in-process: the public config, operator sign-in (cookie
flags, wrong password, throttling, logout), the studio's action proxy and its guards, session
access rules, the widget scripts' CORS headers, and the pages being served."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.support import MEDIA, TEST_SECRET, InProcessApp

PASSWORD = "correct horse battery staple"
STUDIO = {"X-DH-Studio": "1"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    with InProcessApp(tmp_path_factory.mktemp("web") / "data", admin_password=PASSWORD) as a:
        yield a


def login(app: InProcessApp) -> None:
    r = app.http.post("/web/login", json={"Password": PASSWORD})
    assert r.status_code == 200, r.text


def test_config_lists_avatars_and_voices_without_secrets(app: InProcessApp) -> None:
    r = app.http.get("/web/config")
    assert r.status_code == 200
    cfg = r.json()
    assert cfg["DigitalHumans"], "the built-in avatar is listed"
    assert set(cfg["DigitalHumans"][0]) == {"DigitalHumanId", "Name", "AvatarUrl"}
    assert cfg["StudioPasswordSet"] is True and cfg["OpenSessions"] is True
    assert "water-cycle" in cfg["Lessons"]
    assert TEST_SECRET not in r.text
    assert isinstance(cfg["Timbres"], list)


def test_sign_in_cookie_and_proxy(app: InProcessApp) -> None:
    http = app.http
    http.cookies.clear()
    assert http.get("/web/me").json()["SignedIn"] is False
    r = http.post("/web/api/GetDigitalHumanList", json={}, headers=STUDIO)
    assert r.status_code == 401
    assert http.post("/web/login", json={"Password": "nope"}).status_code == 401
    r = http.post("/web/login", json={"Password": PASSWORD})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/web" in cookie
    assert TEST_SECRET not in cookie
    assert http.get("/web/me").json()["SignedIn"] is True
    # The proxy runs real actions as the app.
    r = http.post("/web/api/GetDigitalHumanList", json={"FetchMode": 2}, headers=STUDIO)
    assert r.json()["Code"] == 0 and r.json()["Data"]["DigitalHumans"]
    # Without the custom header (what a cross-site form could send): refused.
    assert http.post("/web/api/GetDigitalHumanList", json={}).status_code == 403
    # A handler's own validation errors come back as the API's envelope.
    r = http.post("/web/api/GetDigitalHumanInfo", json={}, headers=STUDIO)
    assert r.json()["Code"] == 400000001
    assert http.post("/web/api/NoSuchThing", json={}, headers=STUDIO).json()["Code"] != 0
    # A tampered cookie is not a session.
    value = http.cookies.get("dh_studio")
    http.cookies.clear()
    http.cookies.set(
        "dh_studio", value[:-2] + ("AA" if not value.endswith("AA") else "BB"), path="/web"
    )
    assert http.get("/web/me").json()["SignedIn"] is False
    http.cookies.clear()
    http.cookies.set("dh_studio", value, path="/web")
    assert http.post("/web/logout").status_code == 200
    # Logged out: the old cookie value no longer works even if replayed.
    http.cookies.set("dh_studio", value, path="/web")
    assert http.get("/web/me").json()["SignedIn"] is False
    http.cookies.clear()


def test_upload_through_the_proxy(app: InProcessApp) -> None:
    login(app)
    image = (MEDIA / "images" / "astronaut.png").read_bytes()
    r = app.http.post(
        "/web/api/UploadFile",
        files={"File": ("astronaut.png", io.BytesIO(image), "image/png")},
        headers=STUDIO,
    )
    data = r.json()
    assert data["Code"] == 0, data
    assert data["Data"]["Size"] == len(image)
    got = app.http.get(data["Data"]["Url"].replace("http://127.0.0.1:8000", ""))
    assert got.status_code == 200 and got.content == image
    # Multipart is for uploads only.
    r = app.http.post("/web/api/GetDigitalHumanList", files={"File": ("a", b"x")}, headers=STUDIO)
    assert r.status_code == 415
    app.http.cookies.clear()


def test_voice_sample_for_the_operator(app: InProcessApp) -> None:
    voices = app.http.get("/web/config").json()["Timbres"]
    if not voices:
        pytest.skip("no offline voice installed")
    path = f"/web/voice-sample/{voices[0]['TimbreId']}"
    assert app.http.get(path).status_code == 401
    login(app)
    r = app.http.get(path)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    import soundfile as sf

    pcm, rate = sf.read(io.BytesIO(r.content), dtype="int16")
    assert rate == 16000 and len(pcm) > rate // 2  # at least half a second of speech
    assert abs(pcm.astype(float)).mean() > 100  # not silence
    assert app.http.get("/web/voice-sample/nope").status_code == 404
    app.http.cookies.clear()


def test_wrong_passwords_are_throttled(tmp_path: Path) -> None:
    with InProcessApp(tmp_path / "data", admin_password=PASSWORD) as a:
        codes = [
            a.http.post("/web/login", json={"Password": f"x{i}"}).status_code for i in range(7)
        ]
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
        # Even the right password waits out the minute.
        assert a.http.post("/web/login", json={"Password": PASSWORD}).status_code == 429


def test_no_password_set_explains_how(tmp_path: Path) -> None:
    with InProcessApp(tmp_path / "data") as a:
        r = a.http.post("/web/login", json={"Password": ""})
        assert r.status_code == 503 and "DH_ADMIN_PASSWORD" in r.json()["Message"]
        assert a.http.get("/web/me").json()["PasswordSet"] is False


def test_session_requests_are_checked(app: InProcessApp) -> None:
    http = app.http
    assert http.post("/web/session", json={"Scenario": "nope"}).status_code == 400
    r = http.post("/web/session", json={"DigitalHumanId": "x", "Scenario": "companion"})
    assert r.status_code == 400 and r.json()["Code"] != 0  # unknown avatar: the API's error
    # Only instances started by the pages can be driven or ended from a page.
    r = http.post("/web/session/say", json={"AgentInstanceId": "abc", "Text": "hi"})
    assert r.status_code == 404
    assert http.post("/web/session/end", json={"AgentInstanceId": "abc"}).status_code == 404


def test_closed_sessions_need_the_operator(tmp_path: Path) -> None:
    with InProcessApp(tmp_path / "data", admin_password=PASSWORD) as a:
        # Until settings.py has the field (DH_WEB_OPEN_SESSIONS), set it on the instance.
        object.__setattr__(a.services.settings, "web_open_sessions", False)
        body = {"DigitalHumanId": "x", "Scenario": "companion"}
        r = a.http.post("/web/session", json=body)
        assert r.status_code == 403 and "DH_WEB_OPEN_SESSIONS" in r.json()["Message"]
        assert a.http.get("/web/config").json()["OpenSessions"] is False
        login(a)
        r = a.http.post("/web/session", json=body)
        assert r.status_code == 400  # past the gate: the unknown avatar is the API's error


def test_widget_scripts_carry_cors(app: InProcessApp) -> None:
    for path in ("/web/widget.js", "/web/js/chat.js", "/web/js/pcm-worklet.js", "/web/js/i18n.js"):
        r = app.http.get(path, headers={"Origin": "http://127.0.0.1:1"})
        assert r.status_code == 200, path
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.headers["content-type"].startswith("text/javascript")
    assert app.http.get("/web/js/..%2Fstudio.html").status_code == 404
    assert app.http.get("/web/js/nope.js").status_code == 404


def test_pages_are_served(app: InProcessApp) -> None:
    for page in ("", "companion.html", "tutor.html", "studio.html", "widget-demo.html"):
        r = app.http.get(f"/app/{page}")
        assert r.status_code == 200 and "<html" in r.text, page
        assert TEST_SECRET not in r.text
    assert app.http.get("/app/lessons.json").json()["jingyesi"]["language"] == "zh"


def test_scenario_prompts() -> None:
    from webapp.sessions import prompt_for

    assert "30 days" in prompt_for("service", "en") and "companion" in prompt_for("companion", "en")
    assert "退货" in prompt_for("service", "zh")
    tutor = prompt_for("tutor", "zh", "jingyesi")
    assert "床前明月光" in tutor and "老师" in tutor
    assert "Today's lesson" not in prompt_for("tutor", "en", "no-such-lesson")
