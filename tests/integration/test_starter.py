"""``dialgraph new NAME`` writes a starter that passes its own tests on the first run.

The starter's tests run as a team would run them, in a fresh process from
the folder above the starter: one conversation as text, one transfer, and a
whole call through the softphone (real server, Piper, pocketsphinx).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from telephony.cli.starter import StarterError, write_starter

pytestmark = pytest.mark.slow


def test_the_starter_passes_its_own_tests(tmp_path: Path) -> None:
    pytest.importorskip("piper")
    root = write_starter("acme_support", where=tmp_path)
    assert (root / "acme_support_flow" / "graph.py").is_file()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "acme_support"],
        cwd=tmp_path,
        env={**os.environ, "ORT_DISABLE_TELEMETRY": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout


@pytest.mark.parametrize(
    ("name", "says"),
    [("Acme", "not a usable name"), ("graphs", "taken by Dialgraph"), ("class", "not a usable")],
)
def test_bad_names_are_refused(tmp_path: Path, name: str, says: str) -> None:
    with pytest.raises(StarterError, match=says):
        write_starter(name, where=tmp_path)


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    with pytest.raises(StarterError, match="exists already"):
        write_starter("acme", where=tmp_path)
