"""A whole call in which the caller speaks a card number, a phone number and
their name: afterwards nothing under var/ and no log line contains them.

Real server, softphone, Piper, pocketsphinx (domain model), local model;
checkpoints encrypted at rest (the graph may keep what it needs there).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from memory.redaction_logging import RedactingFilter
from telephony.cli.demo import run_demo
from telephony.settings import load_settings

pytest.importorskip("piper")
pytestmark = pytest.mark.slow

SCRIPT = """
description = "A caller gives their name, card and phone number"

[[step]]
wait_for_agent = true

[[step]]
say = "My name is John Miller."

[[step]]
wait_for_agent = true

[[step]]
say = "My card number is four one one one, one one one one, one one one one, one one one one."

[[step]]
wait_for_agent = true

[[step]]
say = "Call me back on three one two, five five five, zero one two three."

[[step]]
wait_for_agent = true

[[step]]
say = "No thanks, that will be all."

[[step]]
wait_for_agent = true
timeout_ms = 8000
"""

PLANTED = [
    b"4111111111111111",
    b"4111 1111",
    b"four one one one",
    b"3125550123",
    b"312 555",
    b"three one two",
    b"five five five",
    b"miller",
    b"Miller",
]


async def test_nothing_personal_reaches_var_or_the_logs(tmp_path: Path, caplog) -> None:
    script = tmp_path / "pii.toml"
    script.write_text(SCRIPT)
    var = tmp_path / "var"
    settings = load_settings(
        {"DIALGRAPH_VAR_DIR": str(var), "DIALGRAPH_CHECKPOINT_KEY": "test-secret-key-0123456789"},
        env_file=None,
    )
    caplog.set_level(logging.INFO)
    redacting = RedactingFilter()  # as `dialgraph` installs on every handler
    caplog.handler.addFilter(redacting)
    try:
        assert await run_demo(settings, script=script, out=var / "demo") == 0
    finally:
        caplog.handler.removeFilter(redacting)

    leaks = []
    for path in var.rglob("*"):
        # var/asr holds the recogniser's vocabulary (a list of common names), not call data.
        if path.is_file() and "asr" not in path.parts:
            data = path.read_bytes()
            leaks += [(path.name, p) for p in PLANTED if p in data]
    assert leaks == [], leaks
    logged = "\n".join(record.getMessage() for record in caplog.records).encode()
    assert [p for p in PLANTED if p in logged] == []
    # The recogniser did hear them: the transcript holds placeholders instead
    # (the name always; the offline model often garbles long digit strings).
    transcripts = b"".join(p.read_bytes() for p in (var / "demo" / "transcripts").glob("*"))
    assert b"[PERSON]" in transcripts
