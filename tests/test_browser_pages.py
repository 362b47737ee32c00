"""The browser pages in Debian's Chromium against a real server process (fake LLM only):

- the companion page completes a spoken turn: a WAV of speech is the fake microphone, the
  transcript shows what was heard and the fake LLM's answer, the avatar video decodes;
- the customer-service widget on a page of another origin (examples/widget_backend.py as the
  site owner's backend), with the microphone refused: text chat, the avatar video plays;
- the studio: sign in, create an avatar from a shared photo, render a video file, download it;
- screenshots of every page at desktop (1280×800) and phone (390×844) width, saved under
  $DH_SHOTS or a temp folder printed at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests.fake_llm import FakeLLM
from tests.support import (
    CHROMIUM,
    MEDIA,
    ROOT,
    TEST_APP_ID,
    TEST_SECRET,
    ServerProcess,
    chromium_args,
    free_port,
)

PASSWORD = "studio-pass-123"
REPLY = "Nice to meet you. I am happy to talk with you today."
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
T = 120_000  # ms: generous, CI runs on 2 loaded cores

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("DH_SHOTS") or tempfile.mkdtemp(prefix="dh-page-shots-"))
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    print(f"\npage screenshots in {folder}")


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sentence of English speech with silence around it (the turn ends on the silence)."""
    pcm, rate = sf.read(MEDIA / "audio" / "16k_mono" / "en_RD_Radio31_000.wav", dtype="int16")
    out = tmp_path_factory.mktemp("mic") / "speech.wav"
    silence = np.zeros(rate, np.int16)
    sf.write(out, np.concatenate([silence, pcm, silence, silence, silence, silence]), rate)
    return out


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM(reply=REPLY, first_token_delay=0.2, token_delay=0.03) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm: FakeLLM) -> Iterator[ServerProcess]:
    env = {"DH_LLM_BASE_URL": llm.base_url, "DH_ADMIN_PASSWORD": PASSWORD}
    with ServerProcess(tmp_path_factory.mktemp("pages") / "data", env=env) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(speech_wav: Path):
    from playwright.sync_api import sync_playwright

    # Playwright gives every launch a fresh temporary profile (it refuses --user-data-dir).
    args = chromium_args(f"{speech_wav}%noloop")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        yield b
        b.close()


def shoot(page, shots: Path, name: str, full: bool = False) -> None:
    page.set_viewport_size(DESKTOP)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / f"{name}-desktop.png"), full_page=full)
    page.set_viewport_size(PHONE)
    # Let the layout settle at the new width (media queries, then two frames).
    page.wait_for_function("window.innerWidth === 390")
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.screenshot(path=str(shots / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def new_page(browser, **context):
    ctx = browser.new_context(viewport=DESKTOP, locale="en-US", **context)
    page = ctx.new_page()
    page.set_default_timeout(T)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return ctx, page, errors


def test_companion_turn(server: ServerProcess, browser, shots: Path, llm: FakeLLM) -> None:
    ctx, page, errors = new_page(browser)
    page.goto(f"{server.base_url}/app/companion.html")
    page.wait_for_function("document.querySelectorAll('#avatar option').length > 0")
    shoot(page, shots, "companion-idle")
    page.click("#start")
    page.wait_for_function("window.dh.chat && window.dh.chat.stats().framesDecoded > 10")
    before = page.evaluate("window.dh.chat.stats().framesDecoded")
    # The fake microphone plays the speech: the server hears it, the fake LLM answers.
    page.wait_for_selector("#transcript li.user", timeout=T)
    heard = page.inner_text("#transcript li.user .text")
    assert len(heard.split()) >= 5, heard
    page.wait_for_selector("#transcript li.avatar", timeout=T)
    page.wait_for_function(
        "document.querySelector('#transcript li.avatar .text').textContent.includes('meet you')"
    )
    page.wait_for_function(f"window.dh.chat.stats().framesDecoded > {before + 25}")
    page.wait_for_function("window.dh.chat.latency !== null")
    assert "companion" in llm.stats.requests[-1]["messages"][0]["content"]
    lat = page.evaluate("window.dh.chat.latency")
    assert lat["first_audio_out_ms"] and lat["first_audio_out_ms"] > 0, lat
    assert page.evaluate("document.querySelector('video').videoWidth") > 0
    page.click("#debug summary")
    shoot(page, shots, "companion-talking")
    # A network drop: the socket closes under the page; it reconnects and the talk goes on.
    first_socket = page.evaluate_handle("window.dh.chat.ws")
    page.evaluate("window.dh.chat.ws.close(4000)")
    page.wait_for_function(
        "s => window.dh.chat.ws && window.dh.chat.ws !== s && window.dh.chat.ws.readyState === 1",
        arg=first_socket,
    )
    replies = page.locator("#transcript li.avatar").count()
    page.fill("#text", "Tell me more.")
    page.press("#text", "Enter")
    page.wait_for_function(f"document.querySelectorAll('#transcript li.avatar').length > {replies}")
    assert not errors, errors
    instance = page.evaluate("window.dh.session.AgentInstanceId")
    page.click("#stop")
    status = server.client.wait(
        "QueryAgentInstanceStatus", {"AgentInstanceId": instance}, lambda d: d["Status"] == 6
    )
    assert status["Status"] == 6
    ctx.close()


@pytest.fixture(scope="module")
def site(server: ServerProcess) -> Iterator[str]:
    """The example site-owner backend on another port: another origin than the server's."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples" / "widget_backend.py"),
            "--server",
            server.base_url,
            "--app-id",
            str(TEST_APP_ID),
            "--secret",
            TEST_SECRET,
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, "example backend did not start"
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)


def test_widget_on_another_origin(server: ServerProcess, browser, site: str, shots: Path) -> None:
    ctx, page, errors = new_page(browser)
    # The visitor refuses the microphone: the widget falls back to typed messages.
    page.add_init_script(
        "navigator.mediaDevices.getUserMedia = () =>"
        " Promise.reject(new DOMException('refused', 'NotAllowedError'));"
    )
    page.goto(site + "/")
    html = page.content()
    assert TEST_SECRET not in html and "dh-session" in html
    page.wait_for_function("window.dhWidget && window.dhWidget.ready === true")
    shoot(page, shots, "widget-closed")
    fab = page.locator("#dh-widget .fab")
    fab.click()
    assert fab.get_attribute("aria-expanded") == "true"
    page.wait_for_function("window.dhWidget.chat && window.dhWidget.chat.micState === 'denied'")
    page.wait_for_function("window.dhWidget.chat.stats().framesDecoded > 10")
    box = page.locator("#dh-widget input")
    box.fill("When do you open?")
    box.press("Enter")
    page.locator("#dh-widget li.user", has_text="When do you open?").wait_for()
    page.locator("#dh-widget li.avatar", has_text="meet you").wait_for()
    state = page.locator("#dh-widget .state").inner_text()
    assert "Microphone" not in state or "type" in state, state
    shoot(page, shots, "widget-open")
    assert not errors, errors
    # Escape closes the panel and ends the conversation through the site's own backend.
    instance = page.evaluate("window.dhWidget.chat.session.AgentInstanceId")
    page.keyboard.press("Escape")
    assert fab.get_attribute("aria-expanded") == "false"
    server.client.wait(
        "QueryAgentInstanceStatus", {"AgentInstanceId": instance}, lambda d: d["Status"] == 6
    )
    ctx.close()


def test_studio_creates_avatar_and_renders_video(
    server: ServerProcess, browser, shots: Path
) -> None:
    ctx, page, errors = new_page(browser)
    page.goto(f"{server.base_url}/app/studio.html")
    page.wait_for_selector("#signin:not(.hidden)")
    shoot(page, shots, "studio-signin")
    page.fill("#password", "wrong")
    page.click("#login")
    page.wait_for_function("document.querySelector('#signin-msg').textContent.length > 0")
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_selector("#studio:not(.hidden)")
    page.wait_for_function("document.querySelectorAll('#avatars li').length > 0")

    page.fill("#c-name", "Astronaut photo")
    page.set_input_files("#c-file", str(MEDIA / "images" / "astronaut.png"))
    page.fill("#c-actions", "smile happy")  # not "action = words": refused before any upload
    page.click("#c-submit")
    page.wait_for_selector("#c-msg.err")
    page.fill("#c-actions", "smile = happy, glad\nnod = yes")
    page.click("#c-submit")
    page.wait_for_function(
        "[...document.querySelectorAll('#avatars li')].some(li =>"
        " li.textContent.includes('Astronaut photo') && li.dataset.status === 'ready')",
        timeout=300_000,
    )
    assert page.evaluate("document.querySelector('#c-progress').value") == 100
    new_id = page.evaluate(
        "[...document.querySelectorAll('#avatars li')].find(li =>"
        " li.textContent.includes('Astronaut photo')).dataset.id"
    )
    page.select_option("#v-avatar", new_id)
    page.select_option("#v-size", "1080x1920")
    page.fill("#v-text", "Hello.")
    page.click("#v-submit")
    page.wait_for_selector("#videos tr[data-status='4'] a", timeout=300_000)
    href = page.get_attribute("#videos tr[data-status='4'] a", "href")
    r = httpx.get(href, timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert r.content[4:8] == b"ftyp" and len(r.content) > 10_000
    # A stream task: start it, watch it in the embedded player, drive it by text, stop it.
    page.select_option("#s-avatar", new_id)
    page.click("#s-new button[type=submit]")
    page.wait_for_selector("#watch[data-streaming='1']")
    page.wait_for_function("document.querySelector('#player').src.includes('/play?')")
    player = page.frame_locator("#player")
    player.locator("#status").filter(has_text="connected").wait_for(timeout=T)
    page.fill("#d-text-in", "Welcome to the studio.")
    page.click("#d-text button[type=submit]")
    page.wait_for_function(
        "document.querySelector('#d-msg').textContent.startsWith('Drive')"
        " || document.querySelector('#d-msg').classList.contains('err')"
    )
    said = page.inner_text("#d-msg")
    assert said.startswith("DriveId"), said
    shoot(page, shots, "studio", full=True)
    task = page.get_attribute("#tasks tr[data-task]", "data-task")
    page.click(f"#tasks tr[data-task='{task}'] button.danger")
    server.client.wait(
        "GetDigitalHumanStreamTaskStatus", {"TaskId": task}, lambda d: d["Status"] >= 4
    )
    assert not errors, errors
    ctx.close()


def test_tutor_and_page_screenshots(
    server: ServerProcess, browser, shots: Path, llm: FakeLLM
) -> None:
    ctx, page, errors = new_page(browser)
    for name, path, ready in (
        ("index", "/app/", ".cards"),
        ("tutor", "/app/tutor.html", "#passages li"),
        ("widget-demo", "/app/widget-demo.html", "#origin"),
    ):
        page.goto(server.base_url + path)
        page.wait_for_selector(ready)
        shoot(page, shots, name)
    # The tutor: the lesson goes into the agent's prompt, the avatar reads a passage (a text
    # drive), a typed question is answered. The microphone is refused: typed questions only.
    ctx.close()
    ctx, page, errors = new_page(browser)
    page.add_init_script(
        "navigator.mediaDevices.getUserMedia = () =>"
        " Promise.reject(new DOMException('refused', 'NotAllowedError'));"
    )
    page.goto(server.base_url + "/app/tutor.html")
    page.wait_for_selector("#passages li")
    page.select_option("#lesson", "photosynthesis")
    page.click("#start")
    page.wait_for_function("window.dh.chat && window.dh.chat.stats().framesDecoded > 10")
    with page.expect_response("**/web/session/say") as said:
        page.click("#passages li:nth-child(2) button.read")
    assert said.value.json()["Code"] == 0
    asked = len(llm.stats.requests)
    page.fill("#text", "What is chlorophyll?")
    page.press("#text", "Enter")
    page.locator("#transcript li.avatar", has_text="meet you").wait_for()
    system = llm.stats.requests[asked]["messages"][0]["content"]
    assert "chlorophyll captures the light energy" in system, system
    shoot(page, shots, "tutor-session")
    page.click("#stop")
    # The Chinese UI: the toggle switches the text and the page language.
    page.goto(server.base_url + "/app/tutor.html")
    page.wait_for_selector("#passages li")
    page.click("#lang")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.inner_text("#start") == "开始对话"
    assert page.inner_text("#lesson-title") == "静夜思（李白）"  # a lesson in the UI's language
    shoot(page, shots, "tutor-zh")
    assert not errors, errors
    ctx.close()


def test_a_continued_turn_replaces_its_line(server: ServerProcess, browser) -> None:
    """A transcript event with "continues" (the user went on before hearing an answer) puts the
    whole turn in that turn's line and drops the unheard reply shown after it; otherwise lines
    are added as before."""
    ctx, page, errors = new_page(browser)
    page.goto(f"{server.base_url}/app/companion.html")
    lines = page.evaluate(
        """async () => {
            const { transcriptWriter } = await import("/app/js/ui.js");
            const list = document.createElement("ol");
            document.body.append(list);
            const add = transcriptWriter(list);
            add("user", "Hello.");
            add("avatar", "Hi!");
            add("user", "I would like to");
            add("avatar", "Sure, what");
            add("user", "I would like to book a flight.", { replace: true });
            const text = () => [...list.children].map((li) => li.className + ": " +
                li.querySelector(".text").textContent);
            const after = text();
            add("user", "Thanks.", { replace: false });
            return [after, text()];
        }"""
    )
    assert lines[0] == [
        "user: Hello.",
        "avatar: Hi!",
        "user: I would like to book a flight.",
    ], lines
    assert lines[1][-1] == "user: Thanks." and len(lines[1]) == 4, lines
    assert not errors, errors
    ctx.close()
