"""Phone (390×844) and desktop (1280×800) layout of the browser pages, in Debian's Chromium
against a real server process (fake LLM only): what a user must reach is on screen without
scrolling.

- companion and tutor on a phone: the avatar video, the microphone button, the text box and the
  newest transcript line fit one screen, before and after several turns (the transcript scrolls
  inside the page, the page itself does not);
- the tutor at 1280×800: Start is well above the fold;
- the customer-service widget on a phone, closed and open;
- the studio on a phone: a finished video job's Download link is inside the screen width;
- no page scrolls sideways at either size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.fake_llm import FakeLLM
from tests.support import CHROMIUM, ServerProcess, chromium_args

PASSWORD = "layout-pass-123"
REPLY = "Nice to meet you. I am happy to talk with you today, and I can tell you a lot more."
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
T = 120_000  # ms: generous, CI runs on 2 loaded cores

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM(reply=REPLY, first_token_delay=0.05, token_delay=0.01) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm: FakeLLM) -> Iterator[ServerProcess]:
    env = {"DH_LLM_BASE_URL": llm.base_url, "DH_ADMIN_PASSWORD": PASSWORD}
    with ServerProcess(tmp_path_factory.mktemp("layout") / "data", env=env) as srv:
        yield srv


@pytest.fixture(scope="module")
def video_job(server: ServerProcess) -> str:
    """A video job started with the server, so that it renders while the other tests run."""
    avatars = server.client.ok("GetDigitalHumanList", {"FetchMode": 1, "Offset": 0, "Limit": 20})
    body = {
        "DigitalHumanId": avatars["DigitalHumans"][0]["DigitalHumanId"],
        "Text": "Hi.",
        "Width": 1080,
        "Height": 1920,
    }
    return server.client.ok("CreateDigitalHumanVideo", body)["VideoTaskId"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    from playwright.sync_api import sync_playwright

    # A silent microphone: the microphone is on (its button enabled) but no turn starts by voice.
    silence = tmp_path_factory.mktemp("mic") / "silence.wav"
    sf.write(silence, np.zeros(16000 * 120, np.int16), 16000)
    args = chromium_args(str(silence))
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        yield b
        b.close()


def new_page(browser, viewport: dict):
    ctx = browser.new_context(viewport=viewport, locale="en-US")
    page = ctx.new_page()
    page.set_default_timeout(T)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return ctx, page, errors


def resize(page, viewport: dict) -> None:
    page.set_viewport_size(viewport)
    page.wait_for_function(f"window.innerWidth === {viewport['width']}")
    settle(page)


def settle(page) -> None:
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def on_screen(page, selector: str) -> dict:
    """The element's box; fails unless all of it is inside the viewport at scroll position 0."""
    page.evaluate("window.scrollTo(0, 0)")
    settle(page)
    box = page.locator(selector).first.bounding_box()
    assert box and box["width"] > 0 and box["height"] > 0, f"{selector} is not displayed"
    vw, vh = page.viewport_size["width"], page.viewport_size["height"]
    right, bottom = box["x"] + box["width"], box["y"] + box["height"]
    assert box["x"] >= -0.5 and box["y"] >= -0.5 and right <= vw + 0.5 and bottom <= vh + 0.5, (
        f"{selector} at x={box['x']:.0f}..{right:.0f} y={box['y']:.0f}..{bottom:.0f}"
        f" is not inside the {vw}×{vh} screen"
    )
    return box


def no_sideways_scroll(page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths[0]} > {widths[1]} px"


def no_page_scroll(page) -> None:
    heights = page.evaluate("[document.documentElement.scrollHeight, window.innerHeight]")
    assert heights[0] <= heights[1] + 1, f"the page scrolls: {heights[0]} > {heights[1]} px"


def newest_line_visible(page) -> None:
    """The newest transcript line is in the transcript's visible part (it scrolls to the end)."""
    lines = page.locator("#transcript li")
    last = lines.nth(lines.count() - 1).bounding_box()
    box = on_screen(page, "#transcript")
    assert last and last["y"] + last["height"] <= box["y"] + box["height"] + 1, (last, box)
    assert last["y"] + last["height"] > box["y"], (last, box)


def talk(page, texts: list[str]) -> None:
    for text in texts:
        replies = page.locator("#transcript li.avatar").count()
        page.fill("#text", text)
        page.press("#text", "Enter")
        page.wait_for_function(
            f"document.querySelectorAll('#transcript li.avatar').length > {replies}"
        )
    page.wait_for_function(
        "[...document.querySelectorAll('#transcript li.avatar .text')].pop()"
        ".textContent.includes('a lot more')"
    )


def video_and_controls(page, video_min_height: float) -> None:
    """The avatar video is big enough and sits above the text box without overlapping it."""
    video = on_screen(page, "#video-box")
    text = on_screen(page, "#text")
    on_screen(page, "#mute")
    on_screen(page, "#send")
    assert video["height"] >= video_min_height, video
    assert video["y"] + video["height"] <= text["y"], (video, text)


def test_companion_fits_one_phone_screen(server: ServerProcess, browser) -> None:
    ctx, page, errors = new_page(browser, PHONE)
    page.goto(f"{server.base_url}/app/companion.html")
    page.wait_for_function("document.querySelectorAll('#avatar option').length > 0")
    settle(page)
    no_sideways_scroll(page)
    no_page_scroll(page)
    on_screen(page, "#start")
    video_and_controls(page, video_min_height=250)

    page.click("#start")
    page.wait_for_function("window.dh.chat && window.dh.chat.stats().framesDecoded > 5")
    page.wait_for_function("!document.querySelector('#mute').disabled")
    talk(page, ["Hello, who are you?", "Tell me more about yourself.", "And then?"])
    assert page.evaluate("document.querySelector('#video').videoWidth") > 0
    no_page_scroll(page)
    no_sideways_scroll(page)
    # The pickers give their room to the conversation; the avatar keeps a third of the screen.
    assert not page.locator("#start").is_visible()
    video_and_controls(page, video_min_height=PHONE["height"] / 4)
    on_screen(page, "#stop")
    newest_line_visible(page)

    resize(page, DESKTOP)
    no_page_scroll(page)
    video_and_controls(page, video_min_height=300)
    on_screen(page, "#start")
    newest_line_visible(page)
    # Back to the phone size (the transcript shrinks): it still shows the newest line.
    resize(page, PHONE)
    newest_line_visible(page)
    page.click("#stop")
    assert not errors, errors
    ctx.close()


def test_tutor_start_above_the_fold_and_phone_layout(server: ServerProcess, browser) -> None:
    ctx, page, errors = new_page(browser, DESKTOP)
    page.goto(f"{server.base_url}/app/tutor.html")
    page.wait_for_selector("#passages li")
    settle(page)
    # Start clear of the fold at 1280×800 (browser bars and zoom take some of it), and the status.
    start = on_screen(page, "#start")
    assert start["y"] + start["height"] <= 0.9 * DESKTOP["height"], start
    on_screen(page, "#setup")
    on_screen(page, "#text")
    no_page_scroll(page)

    resize(page, PHONE)
    no_sideways_scroll(page)
    no_page_scroll(page)
    on_screen(page, "#start")
    on_screen(page, "#passages li")
    video_and_controls(page, video_min_height=150)

    page.click("#start")
    page.wait_for_function("window.dh.chat && window.dh.chat.stats().framesDecoded > 5")
    page.wait_for_function("!document.querySelector('#mute').disabled")
    page.click("#passages li:nth-child(1) button.read")
    talk(page, ["What is evaporation?", "And condensation?"])
    no_page_scroll(page)
    no_sideways_scroll(page)
    video_and_controls(page, video_min_height=150)
    on_screen(page, "#stop")
    newest_line_visible(page)
    lesson = on_screen(page, ".lesson")
    assert lesson["height"] >= 120, lesson  # the lesson keeps room to read (it scrolls)

    resize(page, DESKTOP)
    video_and_controls(page, video_min_height=250)
    newest_line_visible(page)
    page.click("#stop")
    assert not errors, errors
    ctx.close()


def test_widget_on_a_phone(server: ServerProcess, browser) -> None:
    ctx, page, errors = new_page(browser, PHONE)
    page.goto(f"{server.base_url}/app/widget-demo.html")
    page.wait_for_function("window.dhWidget && window.dhWidget.ready === true")
    settle(page)
    no_sideways_scroll(page)
    on_screen(page, "#dh-widget .fab")
    page.locator("#dh-widget .fab").click()
    page.wait_for_function("window.dhWidget.chat && window.dhWidget.chat.micState === 'on'")
    page.wait_for_function("window.dhWidget.chat.stats().framesDecoded > 5")
    settle(page)
    panel = on_screen(page, "#dh-widget .panel")
    video = on_screen(page, "#dh-widget .video")
    for part in ("input", ".mic", ".send", ".close"):
        on_screen(page, f"#dh-widget {part}")
    assert video["height"] >= 200 and panel["width"] >= 340, (video, panel)
    no_sideways_scroll(page)
    page.keyboard.press("Escape")
    assert not errors, errors
    ctx.close()


def test_studio_video_jobs_fit_a_phone(server: ServerProcess, browser, video_job: str) -> None:
    server.client.wait(
        "GetDigitalHumanVideoStatus", {"VideoTaskId": video_job}, lambda d: d["Status"] >= 3, 240
    )
    ctx, page, errors = new_page(browser, PHONE)
    page.goto(f"{server.base_url}/app/studio.html")
    page.wait_for_selector("#signin:not(.hidden)")
    no_sideways_scroll(page)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_selector("#studio:not(.hidden)")
    link = page.locator(f"#videos tr[data-job='{video_job}'][data-status='4'] a")
    link.wait_for()
    settle(page)
    no_sideways_scroll(page)
    # Measured where the page puts them, without scrolling anything sideways to reach them.
    span = "e => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.width]; }"
    left, right, width = link.evaluate(span)
    assert width > 0 and left >= 0 and right <= PHONE["width"], (left, right)
    left, right, width = page.locator(f"#videos tr[data-job='{video_job}'] progress").evaluate(span)
    assert width >= 80 and left >= 0 and right <= PHONE["width"], (left, right)
    wrap = page.evaluate(
        "(e => [e.scrollWidth, e.clientWidth])(document.querySelector('#videos')"
        ".closest('.table-wrap'))"
    )
    assert wrap[0] <= wrap[1], f"the job list scrolls sideways: {wrap}"
    for viewport in (DESKTOP, PHONE):
        resize(page, viewport)
        no_sideways_scroll(page)
    for path in ("/app/", "/app/studio.html"):
        page.goto(server.base_url + path)
        page.wait_for_load_state("load")
        settle(page)
        no_sideways_scroll(page)
    assert not errors, errors
    ctx.close()
