"""The conversation loop: microphone PCM → VAD → ASR → LLM → TTS → the avatar's stream task.

One `Conversation` per user session. Microphone audio is pushed in (a WebSocket, a WHIP
publisher); the endpointer finds the user's turns; a transcription starts speculatively on a
short pause and is reused when the pause turns out to be the end of the turn; the reply is a
`ReplySource` drive on the avatar's task. When the user speaks over the avatar, the drive is
interrupted at once, which cancels the LLM and the TTS, and the history keeps only what the user
heard. A user who goes on speaking before hearing any answer is still in the same turn: the new
speech is transcribed together with what came before it, which is not lost. Events for the user
interface (transcripts, replies, errors, latencies) go to `on_event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from agent.reply import ReplySource
from agent.tts.base import TTS, SpeechChunk, SpeechOptions, Voice
from avatar.stream.contract import DriveStatus, LiveTask
from avatar.types import AUDIO_RATE, AudioChunk, VideoFrame

log = logging.getLogger(__name__)

MAX_TURN_S = 30.0  # Whisper's window: a turn carried on longer keeps its newest 30 s

APOLOGY = {
    "en": "Sorry, I can't answer that right now.",
    "zh": "抱歉，我现在无法回答。",
}


class ChatModel(Protocol):
    """Streams the assistant's reply to a list of {"role", "content"} messages."""

    def stream(self, messages: list[dict[str, str]]) -> AsyncIterator[str]: ...


class Recognizer(Protocol):
    async def atranscribe(self, pcm16k: np.ndarray, language: str | None = None) -> Any: ...


class Detector(Protocol):
    """VoiceActivityDetector of agent/vad.py: push PCM, get start/pause/resume/end events."""

    last_probability: float

    def push(self, pcm: np.ndarray) -> list[Any]: ...


@dataclass(slots=True)
class ConversationConfig:
    """How the agent talks. `use_case` picks the role prompt (agent/llm/prompts.py): companion,
    customer_service (answers from `knowledge`, retrieved per question) or tutor; `persona`
    (an agent's own SystemPrompt) replaces the role text."""

    use_case: str = "companion"
    persona: str | None = None
    knowledge: Any = None  # agent.llm.knowledge.KnowledgeBase
    language: str | None = None  # None: let ASR detect it; "en" / "zh" fixes it
    window: int = 20  # messages of history sent to the LLM
    interrupt_mode: int = 0  # 0: user speech interrupts the avatar at once; 1: never
    barge_in_probability: float = 0.8  # stricter VAD level while the avatar speaks (echo guard)
    barge_in_min_s: float = 0.25  # that much confident speech is needed to interrupt
    options: SpeechOptions = field(default_factory=SpeechOptions)


@dataclass(slots=True)
class TurnLatency:
    """Seconds from the end of the user's speech to each step of the reply."""

    endpoint_s: float = 0.0
    asr_s: float = 0.0
    llm_first_token_s: float | None = None
    llm_first_sentence_s: float | None = None
    tts_first_audio_s: float | None = None
    first_audio_out_s: float | None = None
    llm_own_s: float | None = None  # LLM request → its first token
    tts_own_s: float | None = None  # first sentence → its first audio

    def as_dict(self) -> dict[str, float | None]:
        return {k: (None if v is None else round(v * 1000, 1)) for k, v in self._items()}

    def _items(self) -> list[tuple[str, float | None]]:
        return [
            ("endpoint_ms", self.endpoint_s),
            ("asr_ms", self.asr_s),
            ("llm_first_token_ms", self.llm_first_token_s),
            ("llm_first_sentence_ms", self.llm_first_sentence_s),
            ("tts_first_audio_ms", self.tts_first_audio_s),
            ("first_audio_out_ms", self.first_audio_out_s),
        ]


@dataclass(slots=True)
class _Reply:
    drive_id: str
    source: ReplySource
    speech_end: float  # perf_counter when the user's speech ended (0 for typed/API turns)
    latency: TurnLatency
    audio_out_s: float = 0.0
    started: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


class _TaskTap:
    """A MediaSink on the avatar's task that watches the reply's audio go out."""

    def __init__(self, conversation: Conversation) -> None:
        self._c = conversation

    def on_video(self, frame: VideoFrame) -> None:
        pass

    def on_audio(self, chunk: AudioChunk) -> None:
        self._c._on_audio_out(chunk)

    def on_event(self, message: dict) -> None:
        self._c._on_room_event(message)

    def on_close(self) -> None:
        self._c._emit({"type": "closed", "reason": "the avatar's stream ended"})


class Conversation:
    """A user's conversation with the avatar of one live stream task."""

    def __init__(
        self,
        task: LiveTask,
        detector: Detector,
        asr: Recognizer,
        llm: ChatModel,
        tts: TTS,
        voice: Voice,
        config: ConversationConfig | None = None,
        history: list[dict[str, str]] | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        enqueue: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.task = task
        self.detector = detector
        self.asr = asr
        self.llm = llm
        self.tts = tts
        self.voice = voice
        self.config = config or ConversationConfig()
        self.history: list[dict[str, str]] = list(history or [])
        self._on_event = on_event or (lambda e: None)
        # How a reply becomes a drive of the task; the API layer passes one that records it.
        self._enqueue = enqueue or (lambda drive_id, src: task.enqueue(drive_id, src, True))
        self._utterance: list[np.ndarray] = []
        # The last turn while its answer is unheard: speech that starts meanwhile continues it.
        self._unanswered: _Unanswered | None = None
        self._continuing = False  # the utterance in progress continues a turn shown to the user
        self._in_speech = False
        self._spec: _Speculation | None = None
        self._turn: asyncio.Task[None] | None = None
        self._reply: _Reply | None = None
        self._confident_s = 0.0
        self._tap = _TaskTap(self)
        self.last_latency: TurnLatency | None = None
        self.turns = 0
        self._closed = False
        task.add_sink(self._tap)

    # --- input -----------------------------------------------------------------------------

    def push_audio(self, pcm: np.ndarray) -> None:
        """Microphone audio, 16 kHz int16 mono, in chunks of any size (real-time pace)."""
        if self._closed:
            return
        pcm = np.asarray(pcm, np.int16).reshape(-1)
        events = self.detector.push(pcm)
        if self._in_speech:
            self._utterance.append(pcm)
        self._guard_barge_in(len(pcm) / AUDIO_RATE)
        for event in events:
            self._on_vad(event.kind, pcm)

    def send_text(self, text: str) -> None:
        """A typed user message (text chat, SendAgentInstanceLLM): answer it like speech."""
        text = text.strip()
        if text:
            self._interrupt_reply()
            self._drop_unanswered()  # a new turn, typed
            self._commit_soon(_Speculation(self, text=text), time.perf_counter())

    def say(self, text: str) -> str:
        """Speak `text` as the avatar without asking the LLM (SendAgentInstanceTTS)."""
        self._interrupt_reply()
        self._drop_unanswered()

        async def tokens() -> AsyncIterator[str]:
            yield text

        spec = _Speculation(self, tokens=tokens())
        self._commit_soon(spec, time.perf_counter())
        return spec.drive_id

    def interrupt(self) -> None:
        """Stop the avatar now (InterruptAgentInstance or a barge-in)."""
        self._interrupt_reply()

    async def close(self) -> None:
        self._closed = True
        self._interrupt_reply()
        if self._spec is not None:
            self._spec.cancel()
        if self._turn is not None:
            self._turn.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._turn
        self.task.remove_sink(self._tap)

    # --- turn taking -------------------------------------------------------------------------
    #
    # On a short pause ("pause", ~200 ms of silence) the utterance so far is transcribed and,
    # in the same breath, the LLM and the TTS of the first sentence are started: a speculation.
    # Speech that resumes cancels it; the end of the turn ("end", ~500 ms of silence) commits
    # it, so the reply's first audio is often ready the moment the turn is known to be over.

    def _on_vad(self, kind: str, pcm: np.ndarray) -> None:
        if kind == "start":
            self._in_speech = True
            self._utterance = [pcm]
            self._emit({"type": "speech", "state": "start"})
            unheard = (self._turn is not None and not self._turn.done()) or (
                self._reply is not None and not self._reply.started
            )
            before, self._unanswered = self._unanswered, None
            if unheard and before is not None:
                # The user went on before hearing an answer ("I'd like to ... book a flight"):
                # one turn, transcribed whole, so its first part is neither lost nor answered
                # on its own.
                self._utterance = [before.audio[-int(MAX_TURN_S * AUDIO_RATE) :], pcm]
                self._continuing = before.shown or before.message is not None
                before.forget(self.history)
            if self._turn is not None and not self._turn.done():
                self._turn.cancel()  # more speech before the last turn was answered
            if self._reply is not None and not self._reply.started:
                self._interrupt_reply()  # ... or before its reply made a sound
        elif kind == "pause":
            self._speculate()
        elif kind == "resume":
            if self._spec is not None:
                self._spec.cancel()
                self._spec = None
        elif kind == "end":
            self._in_speech = False
            speech_end = time.perf_counter()
            self._emit({"type": "speech", "state": "end"})
            if self._spec is None:  # no pause was seen (a very short utterance)
                self._speculate()
            spec, self._spec = self._spec, None
            if spec is not None and self._utterance:
                spec.unanswered = self._unanswered = _Unanswered(
                    np.concatenate(self._utterance), shown=self._continuing
                )
            self._continuing = False
            self._utterance = []
            if spec is not None:
                self._commit_soon(spec, speech_end)

    def _speculate(self) -> None:
        audio = np.concatenate(self._utterance) if self._utterance else np.zeros(0, np.int16)
        if len(audio) < AUDIO_RATE // 10:
            return
        if self._spec is not None:
            self._spec.cancel()
        self._spec = _Speculation(self, audio=audio)

    def _guard_barge_in(self, seconds: float) -> None:
        """Interrupt the avatar when the user clearly speaks over it. The avatar's own voice
        leaking into the microphone is quieter and less speech-like after the browser's echo
        cancellation, so a stricter probability held for a while guards against it."""
        reply = self._reply
        if reply is None or not reply.started or self.config.interrupt_mode == 1:
            self._confident_s = 0.0
            return
        if self.detector.last_probability >= self.config.barge_in_probability:
            self._confident_s += seconds
        else:
            self._confident_s = 0.0
        if self._confident_s >= self.config.barge_in_min_s:
            self._confident_s = 0.0
            self._emit({"type": "barge_in", "drive_id": reply.drive_id})
            self._interrupt_reply()

    def _commit_soon(self, spec: _Speculation, speech_end: float) -> None:
        if self._turn is not None and not self._turn.done():
            self._turn.cancel()  # a newer turn supersedes one still being prepared
        self._turn = asyncio.get_running_loop().create_task(self._commit(spec, speech_end))

    async def _commit(self, spec: _Speculation, speech_end: float) -> None:
        latency = TurnLatency(
            endpoint_s=self.detector_silence_s() if spec.audio is not None else 0.0
        )
        try:
            await asyncio.shield(spec.task)
        except asyncio.CancelledError:
            spec.cancel()
            raise
        except Exception as exc:
            where = "asr" if spec.transcript is None else "tts"
            log.warning("%s failed: %s", where, exc)
            self._emit({"type": "error", "where": where, "message": str(exc)})
            spec.cancel()
            return
        if spec.audio is not None:
            event = {"type": "transcript", "text": spec.transcript, "final": True}
            if spec.unanswered is not None and spec.unanswered.shown:  # it replaces that line
                event["continues"] = True
            self._emit(event)
            latency.asr_s = (spec.asr_done or speech_end) - speech_end
        if spec.transcript is not None:  # a user turn (a said text has none)
            if not spec.transcript:
                if self._unanswered is spec.unanswered:
                    self._unanswered = None  # nothing was said: nothing to carry on
                return
            message = {"role": "user", "content": spec.transcript}
            self.history.append(message)
            if spec.unanswered is not None:
                spec.unanswered.message = message
        if spec.first is None:  # the reply had nothing to say
            return
        self._play(spec, speech_end, latency)

    def detector_silence_s(self) -> float:
        """Silence the endpointer waited for before calling the turn over."""
        ep = getattr(self.detector, "endpointer", None)
        return float(getattr(getattr(ep, "config", None), "min_silence", 0.0))

    def messages_for(self, text: str) -> list[dict[str, str]]:
        """What the LLM gets for a new user message: the use case's system prompt (with the
        knowledge passages that match the question) and the newest history that fits."""
        from agent.llm.prompts import build_messages, system_prompt

        c = self.config
        language = c.language or self.voice.language
        system = system_prompt(c.use_case, language, c.knowledge, question=text, persona=c.persona)
        return build_messages(system, self.history, user=text, window=c.window)

    async def _guarded(self, tokens: AsyncIterator[str]) -> AsyncIterator[str]:
        """LLM tokens; on an LLM failure, the user sees why and the avatar apologises."""
        got_any = False
        try:
            async for token in tokens:
                got_any = True
                yield token
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            log.warning("LLM failed: %s", exc)
            self._emit({"type": "error", "where": "llm", "message": str(exc)})
            if not got_any:
                lang = (self.config.language or self.voice.language or "en")[:2]
                yield APOLOGY.get(lang, APOLOGY["en"])
        finally:
            aclose = getattr(tokens, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    def _play(self, spec: _Speculation, speech_end: float, latency: TurnLatency) -> _Reply:
        drive_id = spec.drive_id
        reply = _Reply(drive_id, spec.reply_source(), speech_end, latency)
        spec.commit(lambda s: self._emit({"type": "reply", "text": s, "drive_id": drive_id}))
        self._reply = reply
        self.turns += 1
        self._enqueue(drive_id, _CommittedSource(spec))
        return reply

    # --- what the avatar's task reports ------------------------------------------------------

    def _on_audio_out(self, chunk: AudioChunk) -> None:
        reply = self._reply
        if reply is None or chunk.drive_id != reply.drive_id:
            return
        if not reply.started:
            reply.started = True
            self._unanswered = None  # the user hears an answer
            self._mark_first_audio(reply)
        reply.audio_out_s += len(chunk.pcm) / AUDIO_RATE

    def _mark_first_audio(self, reply: _Reply) -> None:
        lat = reply.latency
        t = reply.source.timings

        def since(mark: float | None) -> float | None:
            return None if mark is None else mark - reply.speech_end

        lat.llm_first_token_s = since(t.llm_first_token)
        lat.llm_first_sentence_s = since(t.first_sentence)
        lat.tts_first_audio_s = since(t.tts_first_audio)
        lat.first_audio_out_s = time.perf_counter() - reply.speech_end
        if t.llm_first_token is not None:
            lat.llm_own_s = t.llm_first_token - t.created
        if t.tts_first_audio is not None and t.first_sentence is not None:
            lat.tts_own_s = t.tts_first_audio - t.first_sentence
        self.last_latency = lat
        self._emit({"type": "latency", **lat.as_dict()})

    def _on_room_event(self, message: dict) -> None:
        data = message.get("Data") or {}
        reply = self._reply
        if reply is None or data.get("DriveId") != reply.drive_id:
            return
        if data.get("Status") in (DriveStatus.FINISHED, DriveStatus.FAILED):
            self._end_reply(reply, interrupted=False)

    def _drop_unanswered(self) -> None:
        """A new turn that continues nothing (typed, or said for the avatar)."""
        self._unanswered = None
        self._continuing = False

    def _interrupt_reply(self) -> None:
        reply = self._reply
        if reply is None:
            return
        self.task.interrupt()
        self._end_reply(reply, interrupted=True)

    def _end_reply(self, reply: _Reply, interrupted: bool) -> None:
        if self._reply is not reply:
            return
        self._reply = None
        if interrupted:
            heard = reply.source.heard_text(reply.audio_out_s)
            self._emit({"type": "interrupted", "drive_id": reply.drive_id, "heard": heard})
        else:
            heard = reply.source.text.strip()
        if heard:
            self.history.append({"role": "assistant", "content": heard})
        reply.done.set()

    def _emit(self, event: dict[str, Any]) -> None:
        try:
            self._on_event(event)
        except Exception:  # a broken UI callback must not break the conversation
            log.exception("conversation event handler failed")


@dataclass
class _Unanswered:
    """A user's turn whose answer has not been heard yet: its audio, whether the user interface
    shows a line for it (it continues a shown turn), and its user message once in the history."""

    audio: np.ndarray
    shown: bool = False
    message: dict[str, str] | None = None

    def forget(self, history: list[dict[str, str]]) -> None:
        """Its user message leaves the history (its text comes back in the turn continuing it)."""
        for i in range(len(history) - 1, -1, -1):
            if history[i] is self.message:
                del history[i]
                break


class _Speculation:
    """A reply being prepared before the turn is known to be over: ASR of the utterance (when
    it is speech), the LLM's stream and the TTS, up to the reply's first audio. `cancel()` drops
    all of it; `commit()` lets the reply's sentences be announced and the audio be played."""

    def __init__(
        self,
        conv: Conversation,
        audio: np.ndarray | None = None,
        text: str | None = None,
        tokens: AsyncIterator[str] | None = None,
    ) -> None:
        self.conv = conv
        self.drive_id = "agent-" + uuid.uuid4().hex[:16]
        self.audio = audio
        self.unanswered: _Unanswered | None = None  # the user's turn it answers
        self.transcript: str | None = text
        self.asr_done: float | None = None
        self.first: SpeechChunk | None = None
        self._tokens = tokens
        self._source: ReplySource | None = None
        self._it: AsyncIterator[SpeechChunk] | None = None
        self._announce: Callable[[str], None] | None = None
        self._pending: list[str] = []
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        c = self.conv
        if self.audio is not None:
            result = await c.asr.atranscribe(self.audio, c.config.language)
            self.transcript = getattr(result, "text", str(result)).strip()
            self.asr_done = time.perf_counter()
        if self._tokens is None:
            if not self.transcript:
                return
            self._tokens = c._guarded(c.llm.stream(c.messages_for(self.transcript)))
        self._source = ReplySource(
            self._tokens, c.tts, c.voice, c.config.options, on_sentence=self._on_sentence
        )
        self._it = self._source.chunks()
        with contextlib.suppress(StopAsyncIteration):
            self.first = await anext(self._it)

    def _on_sentence(self, sentence: str) -> None:
        if self._announce is not None:
            self._announce(sentence)
        else:
            self._pending.append(sentence)

    def reply_source(self) -> ReplySource:
        assert self._source is not None
        return self._source

    def commit(self, announce: Callable[[str], None]) -> None:
        self._announce = announce
        for sentence in self._pending:
            announce(sentence)
        self._pending.clear()

    async def stream(self) -> AsyncIterator[SpeechChunk]:
        assert self._it is not None
        try:
            if self.first is not None:
                yield self.first
            async for chunk in self._it:
                yield chunk
        finally:
            await self._it.aclose()

    def cancel(self) -> None:
        """Drop the speculation. While it runs, cancelling its task unwinds the LLM and TTS
        inside it; once it has its first audio, the paused reply iterator is closed here."""
        if not self.task.done():
            self.task.cancel()
        elif self._it is not None and self._announce is None:
            it, self._it = self._it, None
            closer = asyncio.get_running_loop().create_task(it.aclose())
            _CLOSING.add(closer)
            closer.add_done_callback(_CLOSING.discard)


_CLOSING: set[asyncio.Task[Any]] = set()  # iterators being closed after a cancelled speculation


class _CommittedSource:
    """The drive source of a committed speculation: its first audio, then the rest."""

    jitter_ms = 0

    def __init__(self, spec: _Speculation) -> None:
        self._spec = spec

    def chunks(self) -> AsyncIterator[SpeechChunk]:
        return self._spec.stream()
