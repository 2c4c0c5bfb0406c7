"""``dialgraph eval`` against the real clinic: scenarios that must fail do, each for its reason.

The suite under ``tests/evals/`` is played in text mode against the clinic's
real flow (its graph, tools, calendar and the offline ``local`` model): four
scenarios are written to fail (the wrong doctor expected, another caller's
name spoken, a call that never ends, a caller who gives up with nothing
booked) and one to pass. Each must be reported with its own one-line reason,
through :func:`run_suite` and through the command line, whose exit status
gates CI under ``--min-success``. Text mode: a few seconds a run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphs.runtime.loader import load_flow
from telephony.cli.main import main
from telephony.eval.results import Failure, ScenarioResult
from telephony.eval.runner import RunOptions, Variant, run_suite
from telephony.eval.scenario import load_suite, parse_scenario
from telephony.eval.text_mode import MAX_REPLIES

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "tests" / "evals"
CLINIC = "graphs.clinic.graph:graph"  # the clinic, loadable from any folder
_QUIETED = ("dialgraph", "graphs", "memory", "tools")  # loggers the command quiets

WRONG_DOCTOR = "book_appointment was called, but doctor='Dr. Patel', expected 'Dr. Lee'"
WRONG_DOCTOR_AT = f"turn 4: {WRONG_DOCTOR}"  # the reply after the caller's yes
NOT_JOHN = "book_appointment was called, but name='Maria Lopez', expected 'John Miller'"
NEVER_ENDS = f"the call did not end (still going after {MAX_REPLIES} replies)"
NOTHING_BOOKED = "book_appointment was never called (no tool was called)"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The offline clinic model and a database per call, whatever the developer's shell says."""
    monkeypatch.setenv("DIALGRAPH_MODEL", "local")
    monkeypatch.delenv("DIALGRAPH_DATABASE_URL", raising=False)
    monkeypatch.delenv("DIALGRAPH_GRAPH", raising=False)


def _check_verdicts(results: dict[str, ScenarioResult]) -> None:
    """Each scenario of ``tests/evals`` judged as its file says it must be."""
    assert sorted(results) == [
        "another_callers_name",
        "books_a_checkup",
        "caller_gives_up",
        "never_ends",
        "wrong_doctor",
    ]
    control = results["books_a_checkup"]
    assert control.passed, control.failures
    assert control.call.ended_by == "agent" and control.call.mode == "text"

    assert results["wrong_doctor"].failures == [Failure(WRONG_DOCTOR, 4)]

    taken_for_maria = results["another_callers_name"].failures
    assert taken_for_maria[0] == Failure(NOT_JOHN, 3)  # the reply after the yes
    spoken = taken_for_maria[1]
    assert len(taken_for_maria) == 2 and spoken.turn == 1  # the greeting names her
    assert spoken.reason.startswith("the agent said 'Maria': "), spoken

    never_ends = results["never_ends"]
    assert never_ends.failures == [Failure(NEVER_ENDS, MAX_REPLIES)]
    assert never_ends.call.ended_by == "timeout"
    assert len(never_ends.call.exchanges) == MAX_REPLIES

    gave_up = results["caller_gives_up"].failures
    assert gave_up[0].turn == 2  # the greeting was answered; the next question was not
    assert gave_up[0].reason.startswith("ended by caller (the caller gave up: no rule answers '")
    assert gave_up[0].reason.endswith("'), expected agent")
    assert gave_up[1:] == [Failure(NOTHING_BOOKED)]

    for result in results.values():
        assert all("\n" not in str(f) for f in result.failures)


async def test_run_suite_reports_each_scenario_that_must_fail_with_its_reason(
    tmp_path: Path, offline: None
) -> None:
    progress: list[str] = []
    results = await run_suite(
        load_suite(SUITE),
        load_flow("clinic", root=REPO),
        RunOptions(out=tmp_path, parallel=5),
        progress=progress.append,
    )
    by_name = {r.call.scenario: r for r in results}
    _check_verdicts(by_name)
    # one progress line per call as it finishes, a failure with its first reason
    assert len(progress) == len(results)
    line = next(p for p in progress if " wrong_doctor " in p)
    assert "FAIL" in line and line.endswith(WRONG_DOCTOR_AT)
    assert "pass" in next(p for p in progress if " books_a_checkup " in p)
    # each call kept its own folder (its database and transcripts)
    assert len(list((tmp_path / "calls").iterdir())) == len(results)


def _eval(tmp_path: Path, *args: str) -> list[str]:
    return ["eval", *args, "--graph", CLINIC, "--mode", "text", "--out", str(tmp_path / "out")]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: None) -> Iterator[Path]:
    """Run the command line in-process, away from the repository's ``.env``.

    ``dialgraph eval`` quiets the runtime's loggers (``dialgraph``, ``memory``,
    ...) for its own per-call lines; in a test process that would silence
    them for every later test on this worker, so their levels are put back.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIALGRAPH_VAR_DIR", str(tmp_path / "var"))
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in _QUIETED)]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    levels = [(logger, logger.level) for logger in loggers]
    yield tmp_path
    for logger, level in levels:
        logger.setLevel(level)


def test_the_cli_fails_the_run_under_min_success_and_reports_why(
    cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_eval(cli, str(SUITE), "--parallel", "5", "--min-success", "1")) == 1
    out = capsys.readouterr().out
    assert f"  FAIL wrong_doctor: {WRONG_DOCTOR_AT}" in out.splitlines()
    assert f"  FAIL never_ends: turn {MAX_REPLIES}: {NEVER_ENDS}" in out.splitlines()
    assert "| text | 5 | 1 | 20% |" in out

    report = json.loads((cli / "out" / "report.json").read_text())
    calls = {c["call"]["scenario"]: c for c in report["calls"]}
    assert {name: c["passed"] for name, c in calls.items()} == {
        "another_callers_name": False,
        "books_a_checkup": True,
        "caller_gives_up": False,
        "never_ends": False,
        "wrong_doctor": False,
    }
    assert calls["wrong_doctor"]["failures"] == [WRONG_DOCTOR_AT]
    assert calls["never_ends"]["failures"] == [f"turn {MAX_REPLIES}: {NEVER_ENDS}"]
    assert calls["another_callers_name"]["failures"][0] == f"turn 3: {NOT_JOHN}"
    assert calls["another_callers_name"]["failures"][1].startswith("turn 1: the agent said 'Maria'")
    assert calls["caller_gives_up"]["failures"][1] == NOTHING_BOOKED
    assert calls["books_a_checkup"]["failures"] == []
    # the evidence is in the report: the booking the wrong-doctor verdict was made from
    booked = [
        m["artifact"]
        for m in calls["wrong_doctor"]["call"]["final_state"]["messages"]
        if m.get("name") == "book_appointment" and m["type"] == "tool"
    ]
    assert [b["appointment"]["doctor"] for b in booked] == ["Dr. Patel"]
    overall = next(row for row in report["summary"] if row["variant"] == "all")
    assert (overall["calls"], overall["passed"]) == (5, 1)


@pytest.mark.parametrize(("rate", "status"), [("0", 0), ("0.5", 0), ("0.51", 1)])
def test_the_exit_status_gates_on_the_success_rate(
    cli: Path, capsys: pytest.CaptureFixture[str], rate: str, status: int
) -> None:
    """Half the calls pass (one of two): a failing scenario fails the run only above the bar."""
    picked = ["--scenario", "wrong_doctor", "--scenario", "books_a*"]
    assert main(_eval(cli, str(SUITE), *picked, "--min-success", rate)) == status
    out = capsys.readouterr().out
    assert "| text | 2 | 1 | 50% |" in out
    assert f"  FAIL wrong_doctor: {WRONG_DOCTOR_AT}" in out.splitlines()


def test_a_noise_tag_no_scenario_has_is_exit_status_2(
    cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked before any server starts: a typo does not cost a run."""
    args = ("--mode", "audio", "--noise-snr", "10", "--noise-tag", "smoky")
    assert main(_eval(cli, str(SUITE), *args)) == 2
    assert (
        capsys.readouterr().err == "dialgraph eval: --noise-tag smoky: no scenario has that tag\n"
    )


def test_a_variant_with_a_tag_plays_only_the_scenarios_with_it() -> None:
    tagged, untagged = (
        parse_scenario(f"{tags}rules: [{{when: hi, say: hello}}]", default_name="s")
        for tags in ("tags: [smoke]\n", "")
    )
    noisy = Variant("audio", "piper", 10.0, tag="smoke")
    assert noisy.plays(tagged) and not noisy.plays(untagged)
    assert Variant("audio", "piper", 10.0).plays(untagged)


BAD_SUITES = [
    # (what is in the folder, the argument, the one line on stderr after "dialgraph eval: ")
    ({}, "missing", "{root}/missing: no such folder or file"),
    ({"README.md": "notes"}, ".", "{root}: no scenario files (*.yaml)"),
    (
        {"a.yaml": "rules: [{when: hi, say: hello, tiems: 2}]"},
        ".",
        "{root}/a.yaml: rules[0]: unknown key 'tiems' (known: ",
    ),
    (
        {"a.yaml": "rules: [{when: hi, say: hello}\n"},
        "a.yaml",
        "{root}/a.yaml: line 2, column 1: not valid YAML: ",
    ),
]


@pytest.mark.parametrize(("files", "argument", "message"), BAD_SUITES)
def test_a_bad_suite_is_exit_status_2_and_one_line(
    cli: Path,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    argument: str,
    message: str,
) -> None:
    suite = cli / "suite"
    suite.mkdir()
    for name, text in files.items():
        (suite / name).write_text(text)
    assert main(_eval(cli, str(suite / argument))) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("dialgraph eval: " + message.format(root=suite)), lines
    assert "Traceback" not in captured.err
    assert not (cli / "out" / "report.json").exists()
