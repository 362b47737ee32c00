"""espeak-ng voices (Mandarin and English) through the `espeak-ng` program: instant but robotic.

The fallback that is always there where the Debian package is installed: a few milliseconds per
sentence. Mandarin uses `cmn-latn-pinyin` (the plain `cmn` voice of espeak-ng 1.51 reads the
tone digits of its own dictionary as English numbers). Timings are estimated from the audio
(`agent.tts.timing`): pinyin initials/finals for Mandarin.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import soundfile as sf

from agent.tts.audio import normalize, rate_to_length_scale, resample
from agent.tts.base import SentenceAudio, SentenceTTS, SpeechOptions, TTSError, Voice
from agent.tts.timing import estimate_timings

# TimbreId -> (espeak voice, language, display name)
ESPEAK_VOICES: dict[str, tuple[str, str, str]] = {
    "espeak-zh-cmn": ("cmn-latn-pinyin", "zh", "普通话 (espeak, offline)"),
    "espeak-en-us": ("en-us", "en", "English (espeak, offline)"),
}
BASE_WPM = 175  # espeak's default speed


class EspeakTTS(SentenceTTS):
    """espeak-ng voices run as a subprocess per sentence."""

    def __init__(self, program: str = "espeak-ng", timeout: float = 10.0) -> None:
        super().__init__()
        self._program = shutil.which(program)
        self._timeout = timeout

    def voices(self) -> list[Voice]:
        if self._program is None:
            return []
        return [
            Voice(tid, name, lang, "espeak", offline=True)
            for tid, (_, lang, name) in ESPEAK_VOICES.items()
        ]

    def _synthesize_sentence(
        self, sentence: str, voice: Voice, options: SpeechOptions
    ) -> SentenceAudio:
        if self._program is None:
            raise TTSError("espeak-ng is not installed (apt-get install espeak-ng)")
        espeak_voice = ESPEAK_VOICES[voice.timbre_id][0]
        speed = round(BASE_WPM / rate_to_length_scale(options.speech_rate))
        pitch = round(50 + 0.09 * max(-500, min(500, options.pitch_rate)))  # 5 .. 95
        cmd = [self._program, "-v", espeak_voice, "-s", str(speed), "-p", str(pitch), "--stdout"]
        try:
            proc = subprocess.run(
                cmd, input=sentence.encode("utf-8"), capture_output=True, timeout=self._timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise TTSError("espeak-ng timed out", retryable=True) from exc
        if proc.returncode != 0 or not proc.stdout:
            raise TTSError(f"espeak-ng failed: {proc.stderr.decode(errors='replace')[:200]}")
        audio, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32")
        pcm = normalize(resample(audio, rate), options.volume)
        phonemes, words = estimate_timings(sentence, pcm, voice.language)
        return SentenceAudio(pcm, phonemes, words)
