"""``dialgraph transcript CA...`` prints what the service stored for a call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memory.transcripts import Transcript
from telephony.cli.main import main

SID = "CA" + "7" * 32


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no .env from the repository
    monkeypatch.delenv("DIALGRAPH_DATABASE_URL", raising=False)
    monkeypatch.setenv("DIALGRAPH_VAR_DIR", str(tmp_path / "var"))
    transcript = Transcript.open(SID, directory=tmp_path / "var" / "transcripts")
    transcript.append("agent", "Thanks for calling. How can I help?")
    transcript.append("caller", "my name is [PERSON]")
    transcript.append("agent", "Sorry, I didn't catch", interrupted=True)
    transcript.append("agent", "Goodbye.", runtime=True)
    return tmp_path / "var"


def test_prints_the_entries(var_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcript", SID]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "Thanks for calling. How can I help?",
        "my name is [PERSON]",
        "Sorry, I didn't catch [interrupted]",  # what the caller heard, cut
        "Goodbye. [runtime]",  # said by the runtime, not the graph
    ]
    assert lines[1].split()[2] == "caller:"


def test_json_lines(var_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcript", SID, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["seq"], r["role"]) for r in rows] == [
        (1, "agent"),
        (2, "caller"),
        (3, "agent"),
        (4, "agent"),
    ]


def test_an_unknown_call_says_so(var_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcript", "CA" + "0" * 32]) == 1
    assert "no transcript" in capsys.readouterr().err
