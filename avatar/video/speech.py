"""The soundtrack of a video: TTS of the script sentence by sentence, or a decoded audio file.

Synthesizing one sentence at a time gives each subtitle cue its exact start and end on the
soundtrack, whatever timings the TTS backend reports; phonemes and words are shifted onto the
video's clock for lip-sync and keyword actions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from agent.sentences import split_sentences
from agent.tts.base import TTS, SpeechOptions, Voice
from avatar.types import AUDIO_RATE, PhonemeTiming, WordTiming
from avatar.video.subtitles import Cue

MAX_AUDIO_SECONDS = 30 * 60


class AudioError(Exception):
    """An audio file cannot be used; the message is the job's FailReason."""


@dataclass(slots=True)
class Speech:
    """16 kHz mono int16 PCM with sentence cues and (when the TTS gives them) phonemes/words."""

    pcm: np.ndarray
    cues: list[Cue] = field(default_factory=list)
    phonemes: list[PhonemeTiming] = field(default_factory=list)
    words: list[WordTiming] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.pcm) / AUDIO_RATE


async def speech_from_text(
    text: str,
    tts: TTS,
    voice: Voice,
    options: SpeechOptions,
    on_sentence: Callable[[float], None] | None = None,
) -> Speech:
    """Synthesize `text` sentence by sentence (`on_sentence` gets the fraction done after each);
    raises agent.tts.base.TTSError on failure."""
    parts: list[np.ndarray] = []
    cues: list[Cue] = []
    phonemes: list[PhonemeTiming] = []
    words: list[WordTiming] = []
    offset = 0  # samples
    sentences = split_sentences(text)
    for k, sentence in enumerate(sentences):
        start = offset
        async for chunk in tts.synthesize(sentence, voice, options):
            pcm = np.asarray(chunk.pcm, np.int16).reshape(-1)
            parts.append(pcm)
            t0 = start / AUDIO_RATE
            phonemes += [
                PhonemeTiming(p.phoneme, p.start + t0, p.end + t0, p.lang) for p in chunk.phonemes
            ]
            words += [WordTiming(w.text, w.start + t0, w.end + t0) for w in chunk.words]
            offset += len(pcm)
        if offset > start:
            cues.append(Cue(sentence, start / AUDIO_RATE, offset / AUDIO_RATE))
        if on_sentence is not None:
            on_sentence((k + 1) / len(sentences))
    if offset == 0:
        raise AudioError("the TTS produced no audio for the text")
    return Speech(np.concatenate(parts), cues, phonemes, words)


def check_audio(path: Path) -> float:
    """Quick check that `path` holds decodable audio (the first frames decode); returns the
    duration the container states (0 when unknown). Raises AudioError."""
    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise AudioError("the file has no audio stream")
            frames = 0
            for _ in c.decode(audio=0):
                frames += 1
                if frames >= 3:
                    break
            if frames == 0:
                raise AudioError("the audio stream is empty")
            return float(c.duration / av.time_base) if c.duration else 0.0
    except AudioError:
        raise
    except (av.FFmpegError, OSError, ValueError) as e:
        raise AudioError(f"audio cannot be decoded: {e}") from e


def speech_from_file(path: Path) -> Speech:
    """Decode any audio (or video-with-audio) file PyAV reads to 16 kHz mono int16."""
    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise AudioError("the file has no audio stream")
            stream = c.streams.audio[0]
            rs = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
            parts: list[np.ndarray] = []
            total = 0
            for frame in c.decode(stream):
                for f in rs.resample(frame):
                    a = f.to_ndarray().reshape(-1)
                    parts.append(a)
                    total += len(a)
                if total > MAX_AUDIO_SECONDS * AUDIO_RATE:
                    raise AudioError(f"audio longer than {MAX_AUDIO_SECONDS // 60} minutes")
            parts += [f.to_ndarray().reshape(-1) for f in rs.resample(None)]
    except AudioError:
        raise
    except (av.FFmpegError, OSError, ValueError) as e:
        raise AudioError(f"audio cannot be decoded: {e}") from e
    pcm = np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)
    if len(pcm) < AUDIO_RATE // 10:
        raise AudioError("the audio is empty or shorter than 0.1 s")
    return Speech(pcm)
