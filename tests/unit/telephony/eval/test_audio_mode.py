"""Audio mode's pure parts: the caller's line from a scenario, and who ended a call."""

from __future__ import annotations

import pytest

from telephony.eval.audio_mode import _ending, caller_line, describe
from telephony.eval.results import CallRecord
from telephony.eval.scenario import parse_scenario

QUIET = """
name: quiet
rules: [{when: hello, say: hi}]
"""
NOISY = """
name: noisy
caller: {noise: street, snr_db: 20, loss: 0.02}
rules: [{when: hello, say: hi}]
"""


def test_a_scenario_without_noise_gets_a_clean_line_unless_the_run_adds_babble() -> None:
    quiet = parse_scenario(QUIET)
    assert describe(caller_line(quiet)) == "clean"
    line = caller_line(quiet, snr_db=10)
    assert (line.noise, line.snr_db) == ("babble", 10)
    assert describe(line) == "babble 10 dB"


def test_a_scenario_keeps_its_noise_and_the_run_may_change_its_snr() -> None:
    noisy = parse_scenario(NOISY)
    assert describe(caller_line(noisy), noisy.caller.loss) == "street 20 dB, 2% loss"
    assert caller_line(noisy, snr_db=5).snr_db == 5
    assert caller_line(noisy, snr_db=5).noise == "street"


def test_the_same_scenario_gets_the_same_line_every_run() -> None:
    noisy = parse_scenario(NOISY)
    assert caller_line(noisy).degrade(b"\x10" * 800) == caller_line(noisy).degrade(b"\x10" * 800)


@pytest.mark.parametrize(
    ("closed_by", "reason", "transfers", "ended_by", "end_reason"),
    [
        ("app", "agent hangup", [], "agent", "agent hangup"),
        ("app", "agent transfer", ["+15550100200"], "transfer", "+15550100200"),
        ("caller", "", [], "caller", "the caller hung up"),
        ("", "cannot connect", [], "error", "cannot connect"),
        ("", "", [], "error", "the stream failed"),
    ],
)
def test_who_ended_the_call(
    closed_by: str, reason: str, transfers: list[str], ended_by: str, end_reason: str
) -> None:
    record = CallRecord(scenario="s", mode="audio", transfers=transfers)
    _ending(record, closed_by, reason, bool(transfers))
    assert (record.ended_by, record.end_reason) == (ended_by, end_reason)
