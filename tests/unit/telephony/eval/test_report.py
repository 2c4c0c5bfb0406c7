"""The reports of a run: JUnit XML that CI reads, one self-contained HTML page, the JSON.

The calls are built by hand as the text and audio modes record them (see
``test_judges.py``): one passing text call, and two failing audio calls in
two line conditions, one of them with an agent that read back the caller's
phone number and spoke a ``<script>`` tag. The project's own redactor runs
(the default rules, as in a real run), so "the number is not in the report"
is what a user gets.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from telephony.eval.report import REPORT_NAMES, write_html, write_junit, write_reports
from telephony.eval.results import CallRecord, Exchange, Failure, ScenarioResult

FLOW = "clinic"
GREETING = "Good morning, thank you for calling Riverside Family Clinic. How can I help you today?"
NUMBER_SPOKEN = "five five five, one two three, four five six seven"
READ_BACK = f"I have your number as {NUMBER_SPOKEN}. Is that right?"
SCRIPT = "Sure <script>alert('owned')</script> booked."
BOOKED_FOR = "Nora Lindqvist"
WRONG_DOCTOR = "book_appointment was called, but doctor='Dr. Patel', expected 'Dr. Lee'"
# A reason that quotes a name: the judges' words are kept as they are.
WRONG_NAME = "state caller_name is 'Lucas Moreau', expected 'Maria Lopez'"
GAVE_UP = "ended by caller (the caller gave up: no rule answers 'Sure...'), expected agent"
RECORDING = Path("calls") / "002-wrong_doctor" / "call.wav"


def _booking_state(name: str, doctor: str) -> dict[str, Any]:
    """The clinic's final state after booking a checkup for ``name`` with ``doctor``."""
    args = {"appointment_type": "checkup", "day": "2026-12-08", "time": "15:00", "name": name}
    booked = {"ok": True, "appointment": {"id": 32, **args, "doctor": doctor}}
    return {
        "messages": [
            AIMessage(GREETING),
            HumanMessage(f"my name is {name.lower()}"),
            AIMessage("", tool_calls=[{"name": "book_appointment", "args": args, "id": "c1"}]),
            ToolMessage("booked", tool_call_id="c1", name="book_appointment", artifact=booked),
            AIMessage("Goodbye."),
        ],
        "caller_name": name,
    }


def _results(run: Path) -> list[ScenarioResult]:
    """A passing text call, then two failing audio calls (clean and babble 10 dB)."""
    passing = CallRecord(
        scenario="books_a_checkup",
        mode="text",
        exchanges=[
            Exchange(1, GREETING, "say 'a checkup please'", "rules[0]: 'how can i help'", 0.2),
            Exchange(2, "Goodbye.", at_s=0.5),
        ],
        ended_by="agent",
        end_reason="caller said goodbye",
        duration_s=0.75,
    )
    passing.note_final_state(_booking_state("John Miller", "Dr. Patel"))
    wrong_doctor = CallRecord(
        scenario="wrong_doctor",
        mode="audio",
        voice="amy",
        line="clean",
        exchanges=[
            Exchange(1, GREETING, "say 'book me with Dr. Lee'", "rules[0]", 0.9),
            Exchange(2, READ_BACK, "say 'yes'", "rules[1]", 6.2, voice_to_voice_ms=900.0),
            Exchange(3, SCRIPT, "", "", 11.0, voice_to_voice_ms=1100.0, barge_in=True),
        ],
        ended_by="caller",
        duration_s=14.25,
        recording=str(run / RECORDING),
        clears=1,
    )
    wrong_doctor.note_final_state(_booking_state(BOOKED_FOR, "Dr. Patel"))
    noisy = CallRecord(
        scenario="books_a_checkup",
        mode="audio",
        voice="amy",
        line="babble 10 dB",
        exchanges=[Exchange(1, GREETING, "say 'hello'", "rules[0]", 1.0)],
        ended_by="caller",
        duration_s=20.0,
        recording=str(run / "calls" / "003-books_a_checkup" / "call.wav"),
    )
    return [
        ScenarioResult(passing),
        ScenarioResult(
            wrong_doctor,
            [Failure(WRONG_DOCTOR), Failure(WRONG_NAME), Failure(GAVE_UP, turn=3)],
        ),
        ScenarioResult(noisy, [Failure("the agent never said 'checkup'")]),
    ]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run's folder with the three reports written by the project's redactor."""
    folder = tmp_path_factory.mktemp("run")
    paths = write_reports(folder, FLOW, _results(folder))
    assert paths == [folder / name for name in REPORT_NAMES]
    return folder


def test_junit_has_a_suite_per_variant_with_its_counts_and_reasons(run: Path) -> None:
    root = ET.parse(run / "report.xml").getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "2", "0")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert {name: (s.get("tests"), s.get("failures")) for name, s in suites.items()} == {
        "clinic: text": ("1", "0"),
        "clinic: amy / clean": ("1", "1"),
        "clinic: amy / babble 10 dB": ("1", "1"),
    }
    case = suites["clinic: amy / clean"].find("testcase")
    assert case is not None
    assert (case.get("classname"), case.get("name"), case.get("time")) == (
        "clinic.amy / clean",
        "wrong_doctor",
        "14.250",
    )
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == WRONG_DOCTOR
    assert (failure.text or "").splitlines() == [WRONG_DOCTOR, WRONG_NAME, f"turn 3: {GAVE_UP}"]
    out = case.findtext("system-out") or ""
    assert f"recording: {RECORDING.as_posix()}" in out
    assert "caller: say 'yes'  [rules[1]]" in out
    assert "voice-to-voice 1100 ms; barge-in" in out
    passing = suites["clinic: text"].find("testcase")
    assert passing is not None and passing.find("failure") is None


def test_the_html_page_shows_the_summary_the_reasons_and_a_relative_player(run: Path) -> None:
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "1 of 3 calls passed (33%)" in page
    # the summary row of the clean line: 1 call, none passed, voice-to-voice p50 and p95
    assert (
        "<td>amy / clean</td><td class=num>1</td><td class=num>0</td><td class=num>0%</td>"
        "<td class=num>1000 ms</td><td class=num>1090 ms</td>"
    ) in page
    for reason in (WRONG_DOCTOR, WRONG_NAME, f"turn 3: {GAVE_UP}"):
        assert f"<li>{html.escape(reason)}</li>" in page
    # failing calls first, in run order, then the passing one
    sections = re.findall(
        r'<details id="call-\d+" class="(\w+)">\n<summary>.*?<b>(\w+)</b> <span class="muted">'
        r"([^,]+),",
        page,
    )
    assert sections == [
        ("fail", "wrong_doctor", "amy / clean"),
        ("fail", "books_a_checkup", "amy / babble 10 dB"),
        ("pass", "books_a_checkup", "text"),
    ]
    assert f'<audio controls preload="none" src="{RECORDING.as_posix()}">' in page
    assert "barge-in</span>" in page and "book_appointment" in page
    assert "<li>my name is [PERSON]</li>" in page  # what the flow heard


def test_the_html_page_is_self_contained_and_escapes_what_the_agent_said(run: Path) -> None:
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in page
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "@import" not in page and "url(" not in page


def test_what_the_agent_and_caller_said_is_redacted_and_the_reasons_kept(run: Path) -> None:
    for name in REPORT_NAMES:
        text = (run / name).read_text(encoding="utf-8")
        assert NUMBER_SPOKEN not in text and "four five six seven" not in text, name
        assert "[PHONE]" in text, name
        # said by the caller, given to the tool, and in the final state: the report has none
        assert "john miller" not in text.lower(), name
        assert WRONG_NAME in html.unescape(text), name  # a judge's reason, kept as it is
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    call = report["calls"][1]
    assert call["failures"] == [WRONG_DOCTOR, WRONG_NAME, f"turn 3: {GAVE_UP}"]
    assert call["call"]["recording"] == RECORDING.as_posix()
    # what the graph itself names stays readable: tools, their ids, message types
    booked = call["call"]["final_state"]["messages"][2]["tool_calls"][0]
    assert (booked["name"], booked["id"], booked["args"]["day"]) == (
        "book_appointment",
        "c1",
        "2026-12-08",
    )
    assert BOOKED_FOR not in booked["args"]["name"]
    assert call["call"]["flow_heard"] == ["my name is [PERSON]"]


def test_a_recording_relative_to_the_working_folder_is_made_relative_to_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run started with ``--out var/eval/x`` records ``var/eval/x/calls/...``."""
    monkeypatch.chdir(tmp_path)
    out = Path("var") / "eval" / "x"
    out.mkdir(parents=True)
    result = _results(out)[1]
    assert not Path(result.call.recording).is_absolute()
    write_html(out / "report.html", FLOW, [result], redact=str)
    assert f'src="{RECORDING.as_posix()}"' in (out / "report.html").read_text()


def test_a_failing_redactor_still_writes_the_reports_redacted_by_patterns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(text: str) -> str:
        raise OSError("no spaCy model")

    paths = write_reports(tmp_path, FLOW, _results(tmp_path), redact=broken)
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert NUMBER_SPOKEN not in text and "[NUMBER]" in text, path.name
    warnings = [r for r in caplog.records if "redacted by patterns" in r.getMessage()]
    assert len(warnings) == 1  # said once, not once per line


def test_junit_stays_readable_when_the_agent_says_control_characters(tmp_path: Path) -> None:
    result = _results(tmp_path)[2]
    result.call.exchanges[0].agent = "hello\x00\x1b[31m there"
    write_junit(tmp_path / "report.xml", FLOW, [result], redact=str)
    case = ET.parse(tmp_path / "report.xml").getroot().find("testsuite/testcase")
    assert case is not None
    assert "agent: hello\ufffd\ufffd[31m there" in (case.findtext("system-out") or "")
