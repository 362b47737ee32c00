"""End of user speech → first avatar audio out, through the real conversation loop.

Recorded utterances (../shared/media/audio) are played at real-time pace into a `Conversation`
bound to a live stream task: Silero VAD endpointing, Whisper, the LLM, the offline voice, the
task's clock. "End of speech" is the moment the last voiced 20 ms of the clip was pushed; "first
audio out" is the moment the task's clock sends the reply's first audio chunk to its outputs
(the WebRTC encoder and network add about one frame more; see stream_latency.py).

Runs with the fake OpenAI-compatible LLM at 300 ms to first token (`p50_ms`, `p95_ms` and the
breakdown) and once more with the offline model (`local_llm_p50_ms`), then prints a final JSON
line. `--language zh` plays the Mandarin clips into a Mandarin conversation (multilingual Whisper
base, Kokoro's default voice, a Chinese reply from the fake LLM); `--save-reply F.wav` keeps the
first reply's audio to listen to; `--no-clause-cache` makes Kokoro synthesize every clause anew (its
cache of short clauses otherwise replays the reply's opener "好的，" from the second turn on, as it
would for any opener said before). Transcripts and replies go to stderr.
Usage: python benchmarks/conversation_latency.py [--language en|zh] [--turns N] [--no-local]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.backends import make_detector, warm_up  # noqa: E402
from agent.conversation import Conversation, ConversationConfig  # noqa: E402
from agent.llm import ChatModel  # noqa: E402
from avatar.compose import Scene  # noqa: E402
from avatar.stream.contract import DriveStatus, StreamConfig  # noqa: E402
from avatar.stream.task import StreamTask  # noqa: E402
from avatar.stream.testing import CollectingSink, RecordingEvents, make_still_avatar  # noqa: E402
from avatar.types import AUDIO_RATE, CHUNK_SAMPLES  # noqa: E402
from tests.fake_llm import FakeLLM  # noqa: E402

CLIPS = ROOT.parent / "shared" / "media" / "audio" / "16k_mono"
# (clip, start s, end s): stretches that Silero + a 500 ms endpoint hear as one utterance each.
UTTERANCES = {
    "en": [
        ("en_RD_Radio31_000.wav", 0.0, 8.0),
        ("en_musetalk_eng_0-12s.wav", 2.8, 11.6),
        ("en_RD_Radio36_000.wav", 1.6, 8.0),
        ("en_RD_Radio34_002.wav", 1.3, 8.0),
    ],
    "zh": [
        ("zh_bus_chinese.wav", 0.0, 3.38),
        # The sentence ends at 6.8 s; the second after it (music, a syllable) is heard as a new
        # utterance that Whisper reads as nothing, and it cancels the turn's reply.
        ("zh_chinese_news.wav", 0.0, 6.8),
        ("zh_chinese_poem1.wav", 0.0, 2.9),  # the first line of each poem
        ("zh_chinese_poem2.wav", 0.0, 3.4),
    ],
}
REPLIES = {
    "en": "Sure, I can help with that. Here is what I suggest.",
    "zh": "好的，我可以帮您。这是我的建议。",
}
BREAKDOWN = (
    "endpoint_ms",
    "asr_ms",
    "llm_first_token_ms",
    "llm_first_sentence_ms",
    "tts_first_audio_ms",
    "first_audio_out_ms",
)


def last_voiced(pcm: np.ndarray) -> float:
    """Seconds to the end of the last 20 ms chunk louder than -40 dBFS."""
    end = 0
    for i in range(0, len(pcm) - CHUNK_SAMPLES + 1, CHUNK_SAMPLES):
        rms = np.sqrt(np.mean(pcm[i : i + CHUNK_SAMPLES].astype(np.float32) ** 2))
        if rms > 32768 * 10 ** (-40 / 20):
            end = i + CHUNK_SAMPLES
    return end / AUDIO_RATE


async def one_turn(conv: Conversation, pcm: np.ndarray, ui: list[dict]) -> dict | None:
    """Play one utterance; return the latency event with the measured total added."""
    voiced_end = last_voiced(pcm)
    n = len(ui)
    start = time.monotonic()
    end_mark = None
    for k, i in enumerate(range(0, len(pcm), CHUNK_SAMPLES)):
        await asyncio.sleep(max(0.0, start + k * 0.02 - time.monotonic()))
        conv.push_audio(pcm[i : i + CHUNK_SAMPLES])
        if end_mark is None and (i + CHUNK_SAMPLES) / AUDIO_RATE >= voiced_end:
            end_mark = time.monotonic()
        if any(e["type"] == "latency" for e in ui[n:]):
            break
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for e in ui[n:]:
            if e["type"] == "latency" and end_mark is not None:
                first_out = e["_at"]
                return {**e, "total_ms": (first_out - end_mark) * 1000}
        await asyncio.sleep(0.01)
    return None


async def run(  # type: ignore[no-untyped-def]
    llm_url: str,
    model: str,
    turns: int,
    asr,
    language: str = "en",
    save_reply: Path | None = None,
    clause_cache: bool = True,
    tts_threads: int = 2,
) -> list[dict]:
    from agent.tts.registry import default_registry

    voices = default_registry(threads=tts_threads)
    tts, voice = voices.get(voices.default_voice(language).timbre_id)
    if not clause_cache and hasattr(tts, "clauses"):
        tts.clauses.max_items = 0
    await warm_up(tts, voice)
    events = RecordingEvents()
    with tempfile.TemporaryDirectory() as tmp:
        task = StreamTask(
            StreamConfig("bench", "room", "stream", Scene(256, 256)),
            make_still_avatar(Path(tmp) / "avatar", 256),
            events,
            voices,
        )
        await task.start()
        ui: list[dict] = []

        def record(e: dict) -> None:
            ui.append({**e, "_at": time.monotonic()})

        conv = Conversation(
            task,
            make_detector(500),
            asr,
            ChatModel(llm_url, model=model, max_tokens=60),
            tts,
            voice,
            ConversationConfig(language=language),
            on_event=record,
        )
        sink = CollectingSink(keep_frames=False)  # keeps the first reply's audio (--save-reply)
        if save_reply is not None:
            task.add_sink(sink)
        first_reply: str | None = None
        utterances = UTTERANCES[language]
        results = []
        try:
            for t in range(turns):
                name, a, b = utterances[t % len(utterances)]
                pcm, _ = sf.read(CLIPS / name, dtype="int16")
                pcm = pcm[int(a * AUDIO_RATE) : int(b * AUDIO_RATE)]
                pcm = np.concatenate([pcm, np.zeros(int(1.5 * AUDIO_RATE), np.int16)])
                n = len(ui)
                r = await one_turn(conv, pcm, ui)
                said = [e.get("text") for e in ui[n:] if e["type"] in ("transcript", "reply")]
                print(f"{name}: {said}", file=sys.stderr, flush=True)
                if r is not None:
                    results.append(r)
                    print(json.dumps({k: r.get(k) for k in (*BREAKDOWN, "total_ms")}), flush=True)
                if save_reply is not None and t == 0:
                    # The first reply plays out before it is cut.
                    replies = [e["drive_id"] for e in ui[n:] if e["type"] == "reply"]
                    first_reply = replies[0] if replies else None
                    ended = {DriveStatus.FINISHED, DriveStatus.FAILED}
                    if first_reply is not None:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(events.wait_drive(first_reply, ended), 15)
                conv.interrupt()
                await asyncio.sleep(0.5)
        finally:
            await conv.close()
            await task.stop()
        if save_reply is not None and first_reply is not None:
            sf.write(save_reply, sink.pcm(first_reply), AUDIO_RATE)
        return results


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else -1.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=6)
    ap.add_argument("--no-local", action="store_true", help="skip the offline model run")
    ap.add_argument("--language", choices=sorted(UTTERANCES), default="en")
    ap.add_argument("--save-reply", type=Path, help="write the first reply's audio to this WAV")
    ap.add_argument("--no-clause-cache", action="store_true", help="Kokoro: no replayed clauses")
    ap.add_argument("--tts-threads", type=int, default=2, help="as DH_TTS_THREADS (default 2)")
    args = ap.parse_args()
    from agent.asr.whisper import WhisperASR

    lang = args.language
    asr = WhisperASR()
    asr.load((lang,))
    with FakeLLM(reply=REPLIES[lang], first_token_delay=0.3, token_delay=0.02) as llm:
        fake = asyncio.run(
            run(
                llm.base_url,
                "fake",
                args.turns,
                asr,
                lang,
                args.save_reply,
                not args.no_clause_cache,
                args.tts_threads,
            )
        )
    totals = [r["total_ms"] for r in fake]
    out: dict = {"p50_ms": pct(totals, 50), "p95_ms": pct(totals, 95), "turns": len(fake)}
    out["breakdown_p50"] = {
        k: pct([r[k] for r in fake if r.get(k) is not None], 50) for k in BREAKDOWN
    }
    if not args.no_local:
        from agent.llm.local import LocalLLMServer, local_llm_available

        if local_llm_available():
            server = LocalLLMServer(threads=1)
            cfg = server.start()
            try:
                local = asyncio.run(
                    run(
                        cfg.base_url,
                        cfg.model,
                        max(2, args.turns // 2),
                        asr,
                        lang,
                        clause_cache=not args.no_clause_cache,
                        tts_threads=args.tts_threads,
                    )
                )
            finally:
                server.stop()
            out["local_llm_p50_ms"] = pct([r["total_ms"] for r in local], 50)
            out["local_breakdown_p50"] = {
                k: pct([r[k] for r in local if r.get(k) is not None], 50) for k in BREAKDOWN
            }
        else:
            out["local_llm_p50_ms"] = None
    asr.close()
    out["language"] = lang
    if args.no_clause_cache:
        out["clause_cache"] = False
    out["tts_threads"] = args.tts_threads
    out["note"] = "end of voiced speech -> first reply audio chunk leaving the task's clock"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
