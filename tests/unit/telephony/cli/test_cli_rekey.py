"""``dialgraph rekey`` re-encrypts what is stored under the newest key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from memory.encryption import WrongKeyError
from telephony.cli.main import main
from tests.unit.test_memory_encryption import NEW, OLD, SECRET_WORDS, _read, _write


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no .env from the repository
    path = tmp_path / "calls.db"
    monkeypatch.setenv("DIALGRAPH_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("DIALGRAPH_VAR_DIR", str(tmp_path))
    asyncio.run(_write(path, OLD))
    return path


def test_rekey_moves_everything_to_the_new_key(
    database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIALGRAPH_CHECKPOINT_KEY", f"{NEW},{OLD}")
    assert main(["rekey"]) == 0
    assert "re-encrypted" in capsys.readouterr().out
    assert asyncio.run(_read(database, NEW)) == SECRET_WORDS  # the old key can go
    with pytest.raises(WrongKeyError):
        asyncio.run(_read(database, OLD))


def test_rekey_without_the_old_key_says_so_and_changes_nothing(
    database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DIALGRAPH_CHECKPOINT_KEY", NEW)
    assert main(["rekey"]) == 2
    err = capsys.readouterr().err
    assert "DIALGRAPH_CHECKPOINT_KEY" in err and OLD not in err and NEW not in err
    assert asyncio.run(_read(database, OLD)) == SECRET_WORDS
