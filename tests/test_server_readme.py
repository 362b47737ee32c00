"""The README's signed-request examples (Python and curl), run as a user would paste them, with
the credentials and address of a real server process put in."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.support import ROOT, TEST_APP_ID, TEST_SECRET, ServerProcess

README = (ROOT / "README.md").read_text()


def example(title: str, lang: str) -> str:
    m = re.search(rf"{re.escape(title)}\n\n```{lang}\n(.*?)```", README, re.S)
    assert m, f"README has no {title} example"
    return m.group(1)


def personalise(code: str, srv: ServerProcess) -> str:
    # The README shows the credentials of its sample start-up output.
    app_id = re.search(r"AppId\s+(\d+)", README).group(1)
    secret = re.search(r"ServerSecret\s+([0-9a-f]{32})", README).group(1)
    return (
        code.replace("http://127.0.0.1:8000", srv.base_url)
        .replace(app_id, str(TEST_APP_ID))
        .replace(secret, TEST_SECRET)
    )


@pytest.mark.slow
def test_readme_examples(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with ServerProcess(tmp_path / "data") as srv:
        py = personalise(example("Python (standard library only):", "python"), srv)
        out = subprocess.run([sys.executable, "-c", py], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.strip().splitlines()
        assert "'Code': 0" in lines[0] and "astronaut" in lines[0]
        assert lines[-1].startswith("{'Code': 0") and "DriveId" in lines[-1]

        sh = personalise(example("curl (bash):", "bash"), srv)
        out = subprocess.run(["bash", "-c", sh], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        reply = json.loads(out.stdout)
        assert reply["Code"] == 0 and reply["Data"]["Total"] >= 1
