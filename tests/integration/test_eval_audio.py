"""`dialgraph eval` in audio mode: simulated callers over the real server, speech both ways.

Two scenarios share one server (as a run does), each with its own flow
state: a booking the caller confirms by voice, and a caller who asks for a
person, whose transfer reaches the eval's carrier log. The agent's words are
judged as the caller's own recogniser heard them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from graphs.runtime.loader import load_flow
from telephony.eval.runner import RunOptions, Variant, run_suite
from telephony.eval.scenario import parse_scenario
from telephony.settings import Settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

BOOKING = """
name: book
today: "2026-12-03T10:00"
rules:
  - when: ["help you", "calling"]
    say: "I'd like to book a checkup next Tuesday at three"
  - when: ["what name", "your name", "name should"]
    say: "John Miller"
  - when: ["book it", "confirm"]
    say: "yes please"
  - when: ["anything else", "else i can"]
    say: "no thanks, that will be all"
otherwise:
  - say: "sorry, could you say that again?"
expect:
  ended_by: agent
  tool_calls:
    - name: book_appointment
      ok: true
      args: {appointment_type: checkup, day: "2026-12-08", time: "15:00"}
  said: ["checkup"]
  never_said: ["cancelled"]
"""

PERSON = """
name: person
today: "2026-12-03T10:00"
rules:
  - when: ["help you", "calling"]
    say: "Can I speak to a real person please?"
otherwise:
  - say: "I want to talk to someone at the front desk"
expect:
  ended_by: transfer
  no_tool_calls: [book_appointment]
"""


async def test_two_calls_on_one_server_are_judged_by_what_was_heard(tmp_path: Path) -> None:
    scenarios = [parse_scenario(BOOKING, source="book"), parse_scenario(PERSON, source="person")]
    flow = load_flow("clinic", root=ROOT)
    options = RunOptions(out=tmp_path, parallel=2, variants=(Variant("audio"),))
    lines: list[str] = []
    results = await run_suite(scenarios, flow, options, settings=Settings(), progress=lines.append)
    booked, person = results
    assert booked.passed, (booked.failures, booked.call.exchanges)
    assert person.passed, (person.failures, person.call.exchanges)
    # The booking went through the real recogniser and came back through the caller's ear.
    assert "check" in booked.call.exchanges[-1].agent or "check" in booked.call.exchanges[-2].agent
    assert any(e.voice_to_voice_ms for e in booked.call.exchanges)
    assert (tmp_path / "calls" / "001-book" / "call.wav").stat().st_size > 100_000
    # The transfer is in the carrier's log, with the flow's front-desk number.
    assert person.call.ended_by == "transfer" and person.call.transfers
    # Each call had its own state: the person's call booked nothing.
    assert (tmp_path / "calls" / "002-person" / "dialgraph.db").exists()
    assert any("2/2" in line for line in lines)
