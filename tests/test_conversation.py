"""The conversation loop with real parts: a recorded utterance at real-time pace through Silero
VAD and Whisper, a streamed reply from an OpenAI-compatible fake LLM over real HTTP, the offline
voice, and the avatar's stream task; then barge-in by a second utterance during the reply."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agent.backends import warm_up
from agent.conversation import Conversation, ConversationConfig
from agent.llm import ChatModel
from agent.vad import EndpointConfig, VoiceActivityDetector
from avatar.compose import Scene
from avatar.stream.contract import DriveStatus, StreamConfig, TaskStatus
from avatar.stream.task import StreamTask
from avatar.stream.testing import CollectingSink, RecordingEvents, make_still_avatar
from avatar.types import AUDIO_RATE, CHUNK_SAMPLES
from tests.fake_llm import FakeLLM
from tests.support import MEDIA

CLIPS = MEDIA / "audio" / "16k_mono"
# At a token each 60 ms its stream lasts ~4.1 s: still running at the barge-in, ~2.5 s in, also
# on a slow machine.
REPLY = (
    "That is a great question. Let me think about it for a moment. "
    "The short answer is that it depends on many things. "
    "First, we should look at the weather. Then we can plan the day together. "
    "If it rains, a museum or a long lunch with friends is a fine plan as well. "
    "Finally, remember to drink enough water and rest well."
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def voices():
    from agent.tts.registry import default_registry

    registry = default_registry()
    if not registry.voices():
        pytest.skip("no offline voice installed")
    return registry


@pytest.fixture(scope="module")
def asr():
    from agent.asr.whisper import WhisperASR

    if not WhisperASR.available():
        pytest.skip("no Whisper model installed")
    recognizer = WhisperASR()
    recognizer.load(("en",))
    yield recognizer
    recognizer.close()


def clip(name: str, silence_s: float = 1.2) -> np.ndarray:
    pcm, rate = sf.read(CLIPS / name, dtype="int16")
    assert rate == AUDIO_RATE
    return np.concatenate([pcm, np.zeros(int(silence_s * AUDIO_RATE), np.int16)])


def speech_onset(pcm: np.ndarray) -> float:
    """Seconds to the first 20 ms chunk louder than -35 dBFS."""
    for i in range(0, len(pcm) - CHUNK_SAMPLES, CHUNK_SAMPLES):
        rms = np.sqrt(np.mean(pcm[i : i + CHUNK_SAMPLES].astype(np.float32) ** 2))
        if rms > 32768 * 10 ** (-35 / 20):
            return i / AUDIO_RATE
    return 0.0


async def play(conv: Conversation, pcm: np.ndarray, marks: dict[float, str] | None = None) -> dict:
    """Push `pcm` in 20 ms chunks on an absolute real-time schedule; returns the monotonic time
    at which each marked offset (seconds into the clip) was pushed."""
    seen: dict[str, float] = {}
    start = time.monotonic()
    for k, i in enumerate(range(0, len(pcm), CHUNK_SAMPLES)):
        delay = start + k * 0.02 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        for offset, name in (marks or {}).items():
            if name not in seen and i / AUDIO_RATE >= offset:
                seen[name] = time.monotonic()
        conv.push_audio(pcm[i : i + CHUNK_SAMPLES])
    return seen


async def wait_for(events: list[dict], kind: str, within: float, after: int = 0) -> dict:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for e in events[after:]:
            if e.get("type") == kind:
                return e
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {kind!r} event within {within} s; got {events}")


async def started_task(tmp_path: Path, voices, name: str, events=None) -> StreamTask:
    """A streaming task of a small still avatar, speaking with the registry's voices."""
    task = StreamTask(
        StreamConfig(name, "room", f"stream-{name}", Scene(128, 128)),
        make_still_avatar(tmp_path / "avatar", 128),
        events or RecordingEvents(),
        voices,
    )
    await task.start()
    return task


def conversation(
    task,
    asr,
    llm: FakeLLM,
    tts,
    voice,
    language: str,
    ui: list[dict],
    min_silence: float = 0.5,
    **options,
) -> Conversation:
    """The real loop (Silero VAD, Whisper, the fake LLM over HTTP, `voice`) on `task`."""
    return Conversation(
        task,
        VoiceActivityDetector(EndpointConfig(min_silence=min_silence)),
        asr,
        ChatModel(llm.base_url),
        tts,
        voice,
        ConversationConfig(language=language),
        on_event=ui.append,
        **options,
    )


async def test_turn_reply_and_barge_in(tmp_path: Path, voices, asr) -> None:
    events = RecordingEvents()
    task = await started_task(tmp_path, voices, "conv", events)
    assert task.status == TaskStatus.STREAMING
    sink = CollectingSink()
    task.add_sink(sink)
    ui: list[dict] = []
    tts, voice = voices.get(voices.default_voice("en").timbre_id)
    await warm_up(tts, voice)
    async with FakeLLM(reply=REPLY, first_token_delay=0.3, token_delay=0.06) as llm:
        conv = conversation(task, asr, llm, tts, voice, "en", ui, min_silence=0.7)
        try:
            # Turn 1: a recorded English utterance, then silence.
            await play(conv, clip("en_RD_Radio31_000.wav"))
            transcript = await wait_for(ui, "transcript", 20)
            words = transcript["text"].split()
            assert len(words) >= 8, transcript
            latency = await wait_for(ui, "latency", 20)
            reply = await wait_for(ui, "reply", 5)
            drive_id = reply["drive_id"]
            # The LLM saw exactly what was recognised, after the system prompt.
            sent = llm.stats.requests[0]["messages"]
            assert sent[0]["role"] == "system"
            assert sent[-1] == {"role": "user", "content": transcript["text"]}
            assert latency["first_audio_out_ms"] is not None
            await asyncio.sleep(1.0)
            out = sink.pcm(drive_id)
            assert len(out) > AUDIO_RATE // 2, "the reply's audio did not reach the stream"
            assert np.sqrt(np.mean(out.astype(np.float32) ** 2)) > 300, "the reply is silent"
            assert DriveStatus.DRIVING in events.drive_statuses(drive_id)

            # Turn 2 starts while the avatar speaks: barge-in.
            n_before = len(ui)
            second = clip("zh_bus_chinese.wav", 0.3)
            onset = speech_onset(second)
            seen = await play(conv, second[: int((onset + 0.6) * AUDIO_RATE)], {onset: "onset"})
            interrupted = await wait_for(ui, "interrupted", 2, after=n_before)
            assert interrupted["drive_id"] == drive_id
            t5 = events.drive_time(drive_id, DriveStatus.INTERRUPTED)
            assert t5 is not None, events.drive_statuses(drive_id)
            assert t5 - seen["onset"] < 0.3, f"barge-in took {1000 * (t5 - seen['onset']):.0f} ms"
            # The LLM request behind the reply was abandoned, not finished.
            cancelled = await asyncio.to_thread(llm.wait_cancelled, 1, 5.0)
            assert cancelled, (llm.stats.completed, llm.stats.cancelled, ui)
            assert llm.stats.completed == 0
            # History keeps only what was heard: a prefix of the reply, not all of it.
            heard = conv.history[-1]
            assert heard["role"] == "assistant"
            assert 0 < len(heard["content"]) < len(REPLY)
            assert REPLY.startswith(heard["content"].split("…")[0].strip())
        finally:
            await conv.close()
            await task.stop()


async def test_mandarin_turns_replay_the_opener(tmp_path: Path, voices, asr) -> None:
    """Two Mandarin turns through the real loop (multilingual Whisper, Kokoro): the reply is
    heard, and its opener "好的，", synthesized in the first turn, comes from Kokoro's clause
    cache in the second, so its first audio follows the first sentence at once."""
    tts, voice = voices.get(voices.default_voice("zh").timbre_id)
    if voice.backend != "kokoro" or "zh" not in asr.languages():
        pytest.skip("Kokoro or the multilingual Whisper model is not installed")
    await asyncio.to_thread(asr.load, ("zh",))
    await warm_up(tts, voice)
    task = await started_task(tmp_path, voices, "conv-zh")
    sink = CollectingSink()
    task.add_sink(sink)
    ui: list[dict] = []
    hits = tts.clauses.hits
    async with FakeLLM(reply="好的，我可以帮您。", first_token_delay=0.1, token_delay=0.02) as llm:
        conv = conversation(task, asr, llm, tts, voice, "zh", ui)
        try:
            own = []
            for name in ("zh_bus_chinese.wav", "zh_chinese_poem1.wav"):
                n = len(ui)
                pcm = clip(name, 1.5)
                await play(conv, pcm[: int(2.9 * AUDIO_RATE)] if "poem" in name else pcm)
                transcript = await wait_for(ui, "transcript", 20, after=n)
                han = [ch for ch in transcript["text"] if "\u4e00" <= ch <= "\u9fff"]
                assert len(han) >= 6, transcript
                latency = await wait_for(ui, "latency", 20, after=n)
                own.append(latency["tts_first_audio_ms"] - latency["llm_first_sentence_ms"])
                reply = await wait_for(ui, "reply", 5, after=n)
                await asyncio.sleep(2.0)
                out = sink.pcm(reply["drive_id"])
                assert len(out) > AUDIO_RATE, "the reply's audio did not reach the stream"
                assert np.sqrt(np.mean(out.astype(np.float32) ** 2)) > 300, "the reply is silent"
                conv.interrupt()
                await asyncio.sleep(0.3)
            # (A speculation cancelled by a resumed utterance may have said it already.)
            assert tts.clauses.hits > hits
            assert own[1] < 100, own  # said anew it takes ~0.65 s
        finally:
            await conv.close()
            await task.stop()


def _words(text: str) -> set[str]:
    return {w.strip(".,!?;:'\"").lower() for w in text.split()} - {""}


@pytest.mark.parametrize("answer_shown", [False, True], ids=["slow-llm", "reply-waiting"])
async def test_speech_going_on_before_any_answer_is_one_turn(
    tmp_path: Path, voices, asr, answer_shown: bool
) -> None:
    """A user whose pause ended the turn but who goes on before hearing an answer is still in
    that turn: the LLM is asked once with both parts in one message, the history keeps one user
    message, and the first part is not lost (before, only the second part was answered).
    slow-llm: the user goes on before the first part's transcript is shown. reply-waiting: the
    transcript and the reply are out, but the reply waits behind another drive, so the user
    hears nothing yet; the merged transcript then says it continues the line on the page."""
    task = await started_task(tmp_path, voices, "conv-on")
    tts, voice = voices.get(voices.default_voice("en").timbre_id)
    first, second = clip("en_RD_Radio31_000.wav", 1.0), clip("en_RD_Radio36_000.wav", 1.5)
    said_first = _words((await asr.atranscribe(first, "en")).text)
    said_second = _words((await asr.atranscribe(second, "en")).text)
    ui: list[dict] = []
    options: dict = {}
    if answer_shown:
        busy = " ".join(["The avatar is still busy saying something else."] * 8)
        task.enqueue_text("busy", busy, voice.timbre_id)
        options["enqueue"] = lambda drive_id, source: task.enqueue(drive_id, source)
    # The LLM is slow to answer, so the user goes on before any reply is heard.
    async with FakeLLM(reply="Sure, I can help.", first_token_delay=2.5, token_delay=0.02) as llm:
        conv = conversation(task, asr, llm, tts, voice, "en", ui, **options)
        try:
            await play(conv, first)  # ends with 1 s of silence: the turn is over
            ended = [e for e in ui if e.get("type") == "speech" and e.get("state") == "end"]
            assert ended, ui
            if answer_shown:  # its transcript and reply are out, the reply is not heard
                await wait_for(ui, "reply", 15)
                assert task.drive_status("busy") == DriveStatus.DRIVING
            n = len(ui)
            await play(conv, second)
            reply = await wait_for(ui, "reply", 15, after=n)
            asked = llm.stats.requests[-1]["messages"][-1]
            assert asked["role"] == "user"
            got = _words(asked["content"])
            assert len(got & said_first) >= 0.7 * len(said_first), (asked, said_first)
            assert len(got & said_second) >= 0.7 * len(said_second), (asked, said_second)
            users = [m for m in conv.history if m["role"] == "user"]
            assert users == [asked], conv.history
            final = [e for e in ui[n:] if e.get("type") == "transcript" and e.get("final")]
            assert final and final[-1]["text"] == asked["content"]
            # The page shows one line for the turn: the whole text replaces a line it showed.
            shown = any(e.get("type") == "transcript" and e.get("text") for e in ui[:n])
            assert shown == answer_shown, ui[:n]
            assert final[-1].get("continues", False) == shown, (shown, final)
            assert reply["drive_id"]
        finally:
            await conv.close()
            await task.stop()
