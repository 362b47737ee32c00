"""The conversation backends a server shares among its agent instances, made on first use.

One Whisper model (its own worker thread), one local LLM server when no endpoint is configured,
the TTS registry the API already has, and the instances themselves (`AgentInstances`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from agent.instances import AgentInstances
from agent.tts.base import TTS, SpeechOptions, Voice
from agent.vad import EndpointConfig, VoiceActivityDetector

log = logging.getLogger(__name__)


class AgentBackends:
    """Lazily built, shared by every conversation of the server."""

    def __init__(self, services: Any) -> None:
        self._services = services
        self.settings = services.settings
        self.instances = AgentInstances(idle_timeout_s=self.settings.agent_idle_timeout_s)
        self.instances.on_end = self._stop_task
        self._asr: Any = None
        self._local_llm: Any = None
        self._llm_lock = threading.Lock()

    @property
    def asr(self) -> Any:
        if self._asr is None:
            from agent.asr.whisper import WhisperASR

            self._asr = WhisperASR()
        return self._asr

    async def warm_up(self, tts: TTS, voice: Voice, language: str | None) -> None:
        """Load the models a first turn needs now, so the first answer is not late."""
        await warm_up(tts, voice)
        langs = ("zh",) if (language or voice.language or "").startswith("zh") else ("en",)
        await asyncio.to_thread(self.asr.load, langs)

    def detector(self, silence_ms: int = 500) -> VoiceActivityDetector:
        return make_detector(silence_ms)

    def voice(self, timbre_id: str | None, language: str | None) -> tuple[TTS, Voice]:
        registry = self._services.tts
        if timbre_id:
            return registry.get(timbre_id)
        voice = registry.default_voice(language or "en")
        return registry.get(voice.timbre_id)

    def chat_model(self, llm: Any) -> Any:
        """An OpenAI-compatible chat model from the agent's LLM config (Url, ApiKey, Model,
        Temperature, TopP, Params), else the server's DH_LLM_* setting, else the local model."""
        from agent.llm import ChatModel, base_url_of

        s = self.settings
        if llm.Url:
            base_url, api_key, model = base_url_of(llm.Url), llm.ApiKey, llm.Model
        elif s.llm_base_url:
            base_url, api_key, model = s.llm_base_url, s.llm_api_key, llm.Model or s.llm_model
        else:
            server = self.local_llm()
            base_url, api_key, model = server.base_url, "local", server.model
        return ChatModel(
            base_url=base_url,
            api_key=api_key or "none",
            model=model or "default",
            temperature=llm.Temperature,
            top_p=llm.TopP,
            extra=llm.Params or {},
        )

    def local_llm(self) -> Any:
        """The offline model's server, started once (blocking: call it from a thread)."""
        with self._llm_lock:
            if self._local_llm is None:
                from agent.llm.local import LocalLLMServer

                server = LocalLLMServer(threads=self.settings.llm_threads)
                server.start()
                self._local_llm = server
        return self._local_llm

    async def close(self) -> None:
        await self.instances.close()
        if self._local_llm is not None:
            self._local_llm.stop()
        if self._asr is not None:
            self._asr.close()

    async def _stop_task(self, instance: Any) -> None:
        from api.tasks import stop_task

        entry = self._services.live.entry(instance.task_id)
        if entry is not None:
            await stop_task(self._services, entry, f"agent instance ended: {instance.reason}")


def make_detector(silence_ms: int = 500) -> VoiceActivityDetector:
    """VAD and endpointer of a conversation: the turn ends after `silence_ms` of silence
    (ZEGO's VADSilenceSegmentation); after 200 ms of it the reply is already being prepared
    (shorter pauses cost more abandoned transcriptions, which hold up the one ASR thread)."""
    pause = min(0.2, silence_ms / 2000)
    return VoiceActivityDetector(EndpointConfig(min_silence=silence_ms / 1000, pause_after=pause))


async def warm_up(tts: TTS, voice: Voice) -> None:
    """Synthesize a word and drop it: loads the voice's model before the first reply."""
    stream = tts.synthesize("Hi." if voice.language != "zh" else "你好。", voice, SpeechOptions())
    try:
        async for _ in stream:
            pass
    except Exception as exc:  # a broken voice shows up on the first reply with its reason
        log.warning("warming up voice %s failed: %s", voice.timbre_id, exc)
    finally:
        await stream.aclose()


def backends_of(services: Any) -> AgentBackends:
    """The server's AgentBackends (`app.state.agents` holds its instances for the WebSocket)."""
    state = services.app_state
    backends = getattr(state, "agent_backends", None)
    if backends is None:
        backends = AgentBackends(services)
        state.agent_backends = backends
        state.agents = backends.instances
    return backends
