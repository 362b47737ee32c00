"""Test setup shared by every test file: the project root on sys.path, and fixtures for a real
server process (`server`) and an in-process app (`app_client`). Helpers live in tests/support.py."""

from __future__ import annotations

import os
import sys

# One BLAS thread, as server.py sets it: OpenBLAS's spinning workers would eat a core.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import InProcessApp, ServerProcess  # noqa: E402


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real `python server.py` on 127.0.0.1 with a temporary data directory."""
    with ServerProcess(tmp_path / "data") as srv:
        yield srv


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real app in process, shared by the tests of one module."""
    with InProcessApp(tmp_path_factory.mktemp("api") / "data") as app:
        yield app
