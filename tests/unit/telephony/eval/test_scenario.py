"""Scenario files: what a full one parses to, and every kind of mistake as one line.

A scenario author finds a typo when the suite loads, before any call is
placed: one :class:`ScenarioError` naming the file and the key, never a
traceback, a silently ignored key or a call that fails for a reason
unrelated to the flow.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from telephony.eval.scenario import (
    DEFAULT_CALLER,
    Action,
    CallerSpec,
    Expectations,
    Rule,
    Scenario,
    ScenarioError,
    ToolCallExpectation,
    load_scenario,
    load_suite,
    parse_scenario,
)

FULL = """
name: book-checkup
description: A new patient books a checkup
caller:
  number: "+14155550199"
  voice: espeak-us
  noise: babble
  snr_db: 10
  loss: 0.02
  jitter_ms: 40
today: "2026-12-03T10:00"
tags: [smoke, booking]
rules:
  - when: ["help you", "how can i help"]
    say: "I'd like to book a checkup next Tuesday at three"
  - when: your name
    say: "John Miller"
    barge_in_ms: 300
  - when: ["date of birth"]
    press: "0412#"
    times: 2
  - when: ["anything else"]
    say: "no thanks, goodbye"
    hangup_after: true
otherwise:
  - say: "sorry, could you say that again?"
  - silence: true
  - say: "I'd like to book a checkup next Tuesday at three"
  - hangup: true
expect:
  ended_by: agent
  tool_calls:
    - name: book_appointment
      ok: true
      args: {day: "2026-12-08", time: 15:00, doctor: Dr. Patel}
  no_tool_calls: [cancel_appointment]
  state: {caller_name: John Miller, slots.day: "2026-12-08"}
  said: ["checkup", "three p m"]
  never_said: Maria
  within_s: 90
"""


def _parse(text: str) -> Scenario:
    return parse_scenario(text, source="suite/bad.yaml", default_name="bad")


def test_a_full_scenario_parses_to_its_dataclasses() -> None:
    scenario = parse_scenario(FULL, source="suite/book.yaml", default_name="book")
    assert scenario == Scenario(
        name="book-checkup",
        description="A new patient books a checkup",
        source="suite/book.yaml",
        caller=CallerSpec(
            number="+14155550199",
            voice="espeak-us",
            noise="babble",
            snr_db=10.0,
            loss=0.02,
            jitter_ms=40,
        ),
        today="2026-12-03T10:00",
        rules=(
            Rule(
                ("help you", "how can i help"),
                Action("say", "I'd like to book a checkup next Tuesday at three"),
            ),
            Rule(("your name",), Action("say", "John Miller", barge_in_ms=300)),
            Rule(("date of birth",), Action("press", "0412#"), times=2),
            Rule(("anything else",), Action("say", "no thanks, goodbye", hangup_after=True)),
        ),
        otherwise=(
            Action("say", "sorry, could you say that again?"),
            Action("silence"),
            Action("say", "I'd like to book a checkup next Tuesday at three"),
            Action("hangup"),
        ),
        expect=Expectations(
            ended_by="agent",
            tool_calls=(
                ToolCallExpectation(
                    "book_appointment",
                    ok=True,
                    # an unquoted 15:00 stays the time, not YAML 1.1's base-60 number 900
                    args={"day": "2026-12-08", "time": "15:00", "doctor": "Dr. Patel"},
                ),
            ),
            no_tool_calls=("cancel_appointment",),
            state={"caller_name": "John Miller", "slots.day": "2026-12-08"},
            said=(("checkup",), ("three p m",)),
            never_said=("Maria",),
            within_s=90.0,
        ),
        tags=("smoke", "booking"),
    )


def test_the_least_a_scenario_needs_is_one_rule_and_the_rest_has_defaults() -> None:
    scenario = _parse("rules: [{when: hello, hangup: true}]")
    assert scenario.name == "bad"  # the file name
    assert scenario.caller == CallerSpec(number=DEFAULT_CALLER)
    assert scenario.today == ""
    assert scenario.expect == Expectations()
    assert scenario.expect.ended_by == "any" and scenario.expect.within_s == 120


@pytest.mark.parametrize(
    ("number", "expected"),
    [("withheld", ""), ("Withheld", ""), ('""', ""), ('"+15550100123"', "+15550100123")],
)
def test_a_withheld_caller_id_is_empty(number: str, expected: str) -> None:
    scenario = _parse(f"caller: {{number: {number}}}\nrules: [{{when: hi, hangup: true}}]")
    assert scenario.caller.number == expected


@pytest.mark.parametrize(
    ("written", "given_to_the_flow"),
    [
        ('"2026-12-03T10:00"', "2026-12-03T10:00"),
        ('"2026-12-03"', "2026-12-03"),
        ("2026-12-03", "2026-12-03"),  # unquoted: YAML's date
        ('"2026-12-03 10:00"', "2026-12-03T10:00"),  # the flow reads the T form only
        ('"2026-12-03T10:00:30"', "2026-12-03T10:00"),
    ],
)
def test_today_reaches_the_flow_in_the_form_it_reads(written: str, given_to_the_flow: str) -> None:
    assert _parse(f"today: {written}\nrules: [{{when: hi, hangup: true}}]").today == (
        given_to_the_flow
    )


def test_lines_lists_each_sentence_to_synthesise_once_in_order() -> None:
    scenario = parse_scenario(FULL, source="x.yaml")
    assert scenario.lines() == [
        "I'd like to book a checkup next Tuesday at three",
        "John Miller",
        "no thanks, goodbye",
        "sorry, could you say that again?",
    ]


RULE = "rules: [{when: hi, say: hello}]\n"

# (YAML, the key the message names, what it says): each one line, naming the file.
MISTAKES = [
    ("colour: red\n" + RULE, "the file", "unknown key 'colour'"),
    ("rules: [{when: hi, say: hello, tiems: 2}]", "rules[0]", "unknown key 'tiems'"),
    ("caller: {numbr: '+1'}\n" + RULE, "caller", "unknown key 'numbr'"),
    ("expect: {endedby: agent}\n" + RULE, "expect", "unknown key 'endedby'"),
    (
        RULE + "expect: {tool_calls: [{name: x, arg: {}}]}",
        "expect.tool_calls[0]",
        "unknown key 'arg'",
    ),
    # a fallback has no `when`: the key would silently do nothing
    (RULE + "otherwise: [{say: sorry, times: 3}]", "otherwise[0]", "unknown key 'times'"),
    ("description: no rules at all", "rules", "needs at least one rule"),
    ("rules: []\notherwise: []", "rules", "needs at least one rule"),
    ("rules: hello", "rules", "expected a list"),
    ("rules: [{say: hello}]", "rules[0]", "needs `when`"),
    ("rules: [{when: hi}]", "rules[0]", "needs exactly one of say, press, silence, hangup"),
    ("rules: [{when: hi, say: a, press: '1'}]", "rules[0]", "needs exactly one of"),
    ("rules: [{when: hi, say: a, hangup: true}]", "rules[0]", "needs exactly one of"),
    ("otherwise: [{}]", "otherwise[0]", "needs exactly one of"),
    ("otherwise: [say]", "otherwise[0]", "expected a mapping, got str"),
    ("rules: [{when: hi, press: 12ab}]", "rules[0].press", "keys are 0-9, * and #"),
    ("rules: [{when: hi, press: '1 2'}]", "rules[0].press", "keys are 0-9, * and #"),
    ("rules: [{when: hi, say: ''}]", "rules[0].say", "empty"),
    ("rules: [{when: hi, silence: false}]", "rules[0].silence", "write it as `true`"),
    ("rules: [{when: hi, hangup: yes please}]", "rules[0].hangup", "write it as `true`"),
    ("rules: [{when: hi, press: '1', barge_in_ms: 200}]", "rules[0].barge_in_ms", "only a `say`"),
    ("rules: [{when: hi, silence: true, barge_in_ms: 200}]", "rules[0].barge_in_ms", "only"),
    ("rules: [{when: hi, say: a, barge_in_ms: -5}]", "rules[0].barge_in_ms", "between 0"),
    ("rules: [{when: hi, say: a, hangup_after: 1}]", "rules[0].hangup_after", "true or false"),
    ("rules: [{when: hi, say: a, times: 0}]", "rules[0].times", "between 1 and 100"),
    ("rules: [{when: hi, say: a, times: 1.5}]", "rules[0].times", "whole number"),
    ("rules: [{when: hi, say: a, times: two}]", "rules[0].times", "expected a number"),
    ("rules: [{when: '', say: a}]", "rules[0].when", "a phrase needs words"),
    ("rules: [{when: '?!', say: a}]", "rules[0].when", "a phrase needs words"),
    ("rules: [{when: [hi, ''], say: a}]", "rules[0].when", "a phrase needs words"),
    ("rules: [{when: [], say: a}]", "rules[0].when", "a phrase or a list of phrases"),
    ("rules: [{when: {hi: 1}, say: a}]", "rules[0].when", "a phrase or a list of phrases"),
    ("caller: {noise: babble}\n" + RULE, "caller.snr_db", "noise needs an SNR"),
    ("caller: {noise: white, snr_db: 90}\n" + RULE, "caller.snr_db", "between -10 and 60"),
    ("caller: {loss: 0.9}\n" + RULE, "caller.loss", "between 0 and 0.5"),
    ("caller: {jitter_ms: 12.5}\n" + RULE, "caller.jitter_ms", "whole number"),
    # unquoted, YAML reads the number as an integer and drops the +
    ("caller: {number: +14155550134}\n" + RULE, "caller.number", "write it in quotes"),
    ("caller: {number: [1]}\n" + RULE, "caller.number", "expected text, got list"),
    ("caller: +14155550134\n" + RULE, "caller", "expected a mapping, got int"),
    ("expect: {ended_by: hangup}\n" + RULE, "expect.ended_by", "one of agent, caller"),
    ("expect: {ended_by: no}\n" + RULE, "expect.ended_by", "expected text, got bool"),
    ("expect: {within_s: 0}\n" + RULE, "expect.within_s", "between 1 and 3600"),
    ("expect: {said: []}\n" + RULE, "expect.said", "a phrase or a list"),
    ("expect: {never_said: ['']}\n" + RULE, "expect.never_said", "a phrase needs words"),
    ("expect: {tool_calls: book}\n" + RULE, "expect.tool_calls", "expected a list"),
    ("expect: {tool_calls: [{ok: true}]}\n" + RULE, "expect.tool_calls[0].name", "missing"),
    ("expect: {tool_calls: [{name: b, ok: 1}]}\n" + RULE, "expect.tool_calls[0].ok", "true or"),
    ("expect: {tool_calls: [{name: b, args: [1]}]}\n" + RULE, "expect.tool_calls[0].args", "map"),
    ("expect: {no_tool_calls: end_call}\n" + RULE, "expect.no_tool_calls", "expected a list"),
    ("expect: {state: [a]}\n" + RULE, "expect.state", "expected a mapping"),
    ("expect: [ended_by]\n" + RULE, "expect", "expected a mapping, got list"),
    ("today: next tuesday\n" + RULE, "today", "expected YYYY-MM-DD or YYYY-MM-DDTHH:MM"),
    ("today: '2026-13-03'\n" + RULE, "today", "expected YYYY-MM-DD"),
    ("today: '2026-12-03T10:00+02:00'\n" + RULE, "today", "without a time zone"),
    ("name: [a]\n" + RULE, "name", "expected text, got list"),
    ("tags: smoke\n" + RULE, "tags", "expected a list"),
    ("- a list", "the file", "expected a mapping, got list"),
    ("just words", "the file", "expected a mapping, got str"),
    # a key written twice: the second `expect:` would drop the first unchecked
    (RULE + "expect: {ended_by: agent}\nexpect: {}", "line 3, column 1", "found 'expect' twice"),
    ("rules:\n  - when: hi\n    say: a\n    say: b\n", "line 4, column 5", "found 'say' twice"),
    ("rules: [{when: hi, say: a}\n", "line 2, column 1", "not valid YAML"),
    ("rules:\n - when: hi\n  say: a\n", "line 3, column 3", "not valid YAML"),
]


@pytest.mark.parametrize(("text", "key", "problem"), MISTAKES)
def test_every_mistake_is_one_line_naming_the_file_and_the_key(
    text: str, key: str, problem: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        _parse(text)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"suite/bad.yaml: {key}: "), message
    assert problem in message, message


def test_a_scenario_file_is_named_after_itself_unless_it_says(tmp_path: Path) -> None:
    (tmp_path / "maria.yaml").write_text(RULE)
    (tmp_path / "other.yml").write_text("name: someone-else\n" + RULE)
    assert [s.name for s in load_suite(tmp_path)] == ["maria", "someone-else"]
    assert load_scenario(tmp_path / "maria.yaml").source == str(tmp_path / "maria.yaml")


def test_a_suite_is_every_scenario_under_the_folder_sorted(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(RULE)
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "c.yaml").write_text(RULE)
    (tmp_path / "a.yaml").write_text(RULE.replace("hello", "hi there"))
    (tmp_path / "notes.txt").write_text("not a scenario")
    suite = load_suite(tmp_path)
    assert [Path(s.source).relative_to(tmp_path).as_posix() for s in suite] == [
        "a.yaml",
        "b.yaml",
        "nested/c.yaml",
    ]
    # a single file is a suite of one
    assert load_suite(tmp_path / "b.yaml") == [load_scenario(tmp_path / "b.yaml")]


def test_two_scenarios_of_one_name_in_a_suite_name_both_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: booking\n" + RULE)
    (tmp_path / "b.yaml").write_text("name: booking\n" + RULE)
    with pytest.raises(ScenarioError) as caught:
        load_suite(tmp_path)
    message = str(caught.value)
    assert message == (
        f"{tmp_path / 'b.yaml'}: name 'booking' is also used by {tmp_path / 'a.yaml'}"
    )


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda root: root, "no scenario files (*.yaml)"),
        (lambda root: root / "missing", "no such folder or file"),
    ],
)
def test_a_suite_with_nothing_to_run_is_one_line(tmp_path: Path, make, problem: str) -> None:
    (tmp_path / "README.md").write_text("scenarios go here")
    folder = make(tmp_path)
    with pytest.raises(ScenarioError) as caught:
        load_suite(folder)
    assert str(caught.value) == f"{folder}: {problem}"


def test_an_unreadable_or_invalid_file_in_a_suite_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(RULE)
    (tmp_path / "latin1.yaml").write_bytes("rules: [{when: caf\xe9, say: a}]".encode("latin-1"))
    with pytest.raises(ScenarioError) as caught:
        load_suite(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'latin1.yaml'}: cannot read: ")
    (tmp_path / "latin1.yaml").write_text("rules: [{when: hi, sya: a}]")
    with pytest.raises(ScenarioError, match=r"latin1\.yaml: rules\[0\]: unknown key 'sya'"):
        load_suite(tmp_path)


@pytest.mark.parametrize(
    ("written", "keys"),
    [("'0123'", "0123"), ("0123", "0123"), ("1234", "1234"), ("'12#'", "12#"), ("'*0'", "*0")],
)
def test_keys_are_pressed_as_written(written: str, keys: str) -> None:
    """Unquoted 0123 is octal 83 in YAML 1.1: the caller would key the wrong digits."""
    scenario = _parse(f"rules: [{{when: hi, press: {written}}}]")
    assert scenario.rules[0].action == Action("press", keys)


def test_each_action_describes_itself_in_a_few_words() -> None:
    assert [a.describe() for a in parse_scenario(FULL).otherwise] == [
        "say 'sorry, could you say that again?'",
        "silence",
        'say "I\'d like to book a checkup next Tuesday at three"',
        "hangup",
    ]
    assert Action("press", "12#").describe() == "press 12#"


def test_earlier_calls_parse_with_the_scenario_s_day_and_no_expectations() -> None:
    scenario = parse_scenario(
        """
name: two
today: "2026-12-03T10:00"
before:
  - caller: {number: withheld}
    rules: [{when: hello, say: hi}]
  - today: "2026-12-04T09:00"
    rules: [{when: hello, say: again}]
rules: [{when: hello, say: me}]
expect: {never_said: [hi]}
"""
    )
    first, second = scenario.before
    assert (first.name, first.caller.number, first.today) == (
        "two.before[0]",
        "",
        "2026-12-03T10:00",
    )
    assert second.today == "2026-12-04T09:00"
    assert first.expect == second.expect and not first.expect.never_said
    assert scenario.expect.never_said == ("hi",)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            "before: [{rules: [{when: a, say: b}], expect: {said: [x]}}]",
            "before[0]: unknown key 'expect'",
        ),
        ("before: [{caller: {number: withheld}}]", "before[0].rules"),
        ("before: [{rules: [{when: a, shout: b}]}]", "before[0].rules[0]"),
    ],
)
def test_a_bad_earlier_call_names_where_it_is(body: str, where: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(where)):
        parse_scenario(f"name: x\nrules: [{{when: a, say: b}}]\n{body}\n")
