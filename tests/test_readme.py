"""The README's example runs as written: in a fresh directory, against a freshly started server.

The shell block after the ``readme-test`` marker is taken from README.md as it is, its ``KEY=`` and ``URL=``
lines replaced by the started server's demo key and address, and run with bash (``set -e``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.pki import TestPKI
from tests.api_server import ROOT, start_server, stop_server

_BLOCK = re.compile(r"<!-- readme-test:[^>]*-->\s*```sh\n(.*?)```", re.S)


def readme_examples() -> list[str]:
    return _BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_marks_its_example_for_testing() -> None:
    blocks = readme_examples()
    assert blocks and all(re.search(r"^KEY=", block, re.M) for block in blocks)


@pytest.mark.parametrize("block", readme_examples())
def test_readme_example_runs_as_written(block: str, pki: TestPKI, tmp_path: Path) -> None:
    server = start_server(tmp_path / "server", pki)
    try:
        work = tmp_path / "fresh"
        work.mkdir()
        (work / ".venv").symlink_to(sys.prefix)  # as after ./tasks run
        script = re.sub(r"^(KEY|URL)=.*$", "", block, flags=re.M)
        env = {**os.environ, "KEY": server.keys["demo"], "URL": server.url, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        stop_server(server)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (work / "sealed.pdf").read_bytes().startswith(b"%PDF")
    assert "Overall result: Passed (TOTAL_PASSED)" in done.stdout, done.stdout
    assert "Unclosed client session" not in done.stderr
