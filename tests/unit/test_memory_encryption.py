"""Checkpoints encrypted at rest: on by default, one key a machine, rotation, clear errors."""

from __future__ import annotations

import logging
import multiprocessing
import sqlite3
import stat
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from memory.checkpointer import open_checkpointer
from memory.encryption import (
    CHECKPOINT_KEY_ENV,
    KEY_FILE_NAME,
    KeyRing,
    WrongKeyError,
    key_ring,
    load_or_create_key_file,
    parse_keys,
)
from memory.rekey import rotate

SECRET_WORDS = "my card is four one one one"
OLD = "old-key-0123456789abcdef"
NEW = "new-key-fedcba9876543210"


def _graph(saver):
    builder = StateGraph(MessagesState)
    builder.add_node("echo", lambda state: {"messages": []})
    builder.add_edge(START, "echo")
    return builder.compile(checkpointer=saver)


async def _write(path: Path, key: str | None, *, var_dir: Path | None = None) -> None:
    var_dir = var_dir or path.parent
    async with open_checkpointer(f"sqlite:///{path}", var_dir=var_dir, encryption_key=key) as saver:
        graph = _graph(saver)
        config = {"configurable": {"thread_id": "t1"}}
        await graph.ainvoke({"messages": [HumanMessage(SECRET_WORDS)]}, config)


async def _read(path: Path, key: str | None, *, var_dir: Path | None = None) -> str:
    var_dir = var_dir or path.parent
    async with open_checkpointer(f"sqlite:///{path}", var_dir=var_dir, encryption_key=key) as saver:
        state = await _graph(saver).aget_state({"configurable": {"thread_id": "t1"}})
    return state.values["messages"][0].content


def _raw(path: Path) -> bytes:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT checkpoint FROM checkpoints").fetchall()
        rows += db.execute("SELECT value FROM writes").fetchall()
    return b"".join(bytes(r[0]) for r in rows if r[0] is not None)


# -- on by default -------------------------------------------------------------------


async def test_by_default_checkpoints_are_encrypted_with_a_generated_key(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    await _write(path, "")  # the setting left empty
    assert b"four one one one" not in _raw(path)
    assert (tmp_path / KEY_FILE_NAME).is_file()
    assert await _read(path, "") == SECRET_WORDS, "the next start finds the same key"


async def test_off_stores_plain_text(tmp_path: Path) -> None:
    await _write(tmp_path / "plain.db", "off")
    assert b"four one one one" in _raw(tmp_path / "plain.db")
    assert not (tmp_path / KEY_FILE_NAME).exists(), "no key is made when encryption is off"


async def test_an_explicit_key_hides_it_and_loads_with_the_key(tmp_path: Path) -> None:
    path = tmp_path / "enc.db"
    await _write(path, "a long random secret")
    assert b"four one one one" not in _raw(path)
    assert await _read(path, "a long random secret") == SECRET_WORDS
    assert not (tmp_path / KEY_FILE_NAME).exists(), "a configured key makes no key file"


async def test_the_wrong_key_fails_loudly_not_with_garbage(tmp_path: Path) -> None:
    path = tmp_path / "enc.db"
    await _write(path, "the right key of 32 chars")
    with pytest.raises(WrongKeyError, match=CHECKPOINT_KEY_ENV) as caught:
        await _read(path, "the wrong key of 32 chars")
    assert isinstance(caught.value, ValueError)
    assert "right key" not in str(caught.value) and "wrong key" not in str(caught.value)


async def test_the_environment_is_read_when_no_setting_is_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``langgraph dev``'s factories pass nothing: the variable names the key."""
    path = tmp_path / "enc.db"
    await _write(path, "the service key of 32 chars")
    monkeypatch.setenv(CHECKPOINT_KEY_ENV, "the service key of 32 chars")
    assert await _read(path, None) == SECRET_WORDS


# -- the key file --------------------------------------------------------------------


def test_the_key_file_is_made_once_private_and_logged_without_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="memory.encryption"):
        first = load_or_create_key_file(tmp_path / "var")
        again = load_or_create_key_file(tmp_path / "var")
    path = tmp_path / "var" / KEY_FILE_NAME
    assert first == again == path.read_text().strip()
    assert len(first) == 64, "256 random bits, hex"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    generated = [r for r in caplog.records if "generated" in r.getMessage()]
    assert len(generated) == 1, "logged once, on the start that made it"
    message = generated[0].getMessage()
    assert "keep it" in message and "every worker and `langgraph dev` must share it" in message
    assert first not in caplog.text
    assert list((tmp_path / "var").iterdir()) == [path], "no temporary file left behind"


def _start(var_dir: str, barrier, out) -> None:  # in a child process
    barrier.wait()
    out.put(load_or_create_key_file(Path(var_dir)))


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    n = 8
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_start, args=(str(tmp_path), barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    keys = {out.get(timeout=30) for _ in procs}
    for p in procs:
        p.join(timeout=30)
    assert len(keys) == 1
    assert keys == {(tmp_path / KEY_FILE_NAME).read_text().strip()}


def test_a_loose_key_file_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.write_text(NEW + "\n" + OLD + "\n")
    path.chmod(0o644)
    ring = key_ring("", var_dir=tmp_path)
    assert ring is not None and len(ring) == 2, "the file may list keys, one a line"
    assert "chmod 600" in caplog.text
    assert NEW not in caplog.text


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("", ""),
        ("  ", ""),
        ("off", "off"),
        ("OFF", "off"),
        (f" {NEW} , {OLD} ", f"{NEW},{OLD}"),
    ],
)
def test_the_setting_is_parsed(raw: str, parsed: str) -> None:
    assert parse_keys(raw) == parsed


@pytest.mark.parametrize("raw", ["short", f"{NEW},", f"{NEW},,{OLD}", f"{NEW},tiny"])
def test_a_malformed_setting_is_refused_without_repeating_it(raw: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_keys(raw)
    assert NEW not in str(caught.value) and "tiny" not in str(caught.value)


def test_the_ring_never_shows_its_keys() -> None:
    ring = KeyRing([NEW, OLD])
    assert NEW not in repr(ring) and NEW not in str(ring)


# -- rotation and legacy rows --------------------------------------------------------


async def test_rotation_reads_old_and_new_in_either_order(tmp_path: Path) -> None:
    """A rolling deploy: some workers list ``old,new``, others ``new,old``; all read all."""
    old_db, new_db = tmp_path / "old.db", tmp_path / "new.db"
    await _write(old_db, OLD)
    await _write(new_db, f"{NEW},{OLD}")  # written under NEW
    for ring in (f"{NEW},{OLD}", f"{OLD},{NEW}"):
        assert await _read(old_db, ring) == SECRET_WORDS
        assert await _read(new_db, ring) == SECRET_WORDS
    with pytest.raises(WrongKeyError):
        await _read(new_db, OLD)


async def test_rotate_reencrypts_everything_under_the_newest_key(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    await _write(path, OLD)
    report = await rotate(f"sqlite:///{path}", f"{NEW},{OLD}", var_dir=tmp_path)
    assert report.checkpoint_rows > 0
    assert await _read(path, NEW) == SECRET_WORDS, "the old key can now be dropped"
    with pytest.raises(WrongKeyError):
        await _read(path, OLD)
    again = await rotate(f"sqlite:///{path}", f"{NEW},{OLD}", var_dir=tmp_path)
    assert again.checkpoint_rows == 0, "rows already under the newest key are left"


async def test_plain_checkpoints_from_before_still_load_and_rotate_encrypts_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calls.db"
    await _write(path, "off")
    assert await _read(path, NEW) == SECRET_WORDS
    report = await rotate(f"sqlite:///{path}", NEW, var_dir=tmp_path)
    assert report.checkpoint_rows > 0
    assert b"four one one one" not in _raw(path)
    assert await _read(path, NEW) == SECRET_WORDS


async def test_rotate_refuses_when_encryption_is_off(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="off"):
        await rotate(f"sqlite:///{tmp_path}/calls.db", "off", var_dir=tmp_path)
