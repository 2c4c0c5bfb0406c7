"""The judges: every unmet expectation is one line saying why, with its turn where it has one.

Calls are built by hand as the text and audio modes record them, with the
final state holding real LangChain messages: the ``AIMessage`` that asked
for a tool and the ``ToolMessage`` carrying its result artifact, as the
clinic's graph leaves them in its checkpoint.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from telephony.eval.caller import EXACT, GAVE_UP, HEARD
from telephony.eval.judges import judge, tool_calls
from telephony.eval.results import CallRecord, Exchange, Failure, ScenarioResult
from telephony.eval.scenario import Scenario, parse_scenario

GREETING = "Good morning, thank you for calling Riverside Family Clinic. How can I help you today?"
CONFIRM = (
    "Just to confirm: a checkup on Tuesday, December eighth, at three p.m., "
    "under the name John Miller. Shall I book it?"
)
BOOKED = (
    "You're all set: a checkup with Dr. Patel on Tuesday, December eighth, at three p.m. "
    "Is there anything else I can help you with?"
)
GOODBYE = "Thank you for calling Riverside Family Clinic. Goodbye."
APPOINTMENT = {
    "id": 32,
    "appointment_type": "checkup",
    "day": "2026-12-08",
    "time": "15:00",
    "doctor": "Dr. Patel",
    "name": "John Miller",
}


def _tool(call_id: str, name: str, args: dict[str, Any], artifact: Any) -> list[Any]:
    """The model asking for a tool, and the tool's answer, as a graph's messages hold them."""
    return [
        AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id}]),
        ToolMessage(f"{name} done", tool_call_id=call_id, name=name, artifact=artifact),
    ]


def _booking_state(*, ok: bool = True, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """The clinic's final state after booking John Miller's checkup and saying goodbye."""
    booked = {"ok": ok, "appointment": APPOINTMENT} if ok else {"ok": False, "error": "taken"}
    return {
        "messages": [
            AIMessage(GREETING),
            HumanMessage("id like to book a checkup next tuesday at three"),
            *_tool(
                "call_1",
                "check_availability",
                {"day": "2026-12-08", "appointment_type": "checkup"},
                {"ok": True, "times": [["15:00", "Dr. Patel"]]},
            ),
            AIMessage("And what name should I put the appointment under?"),
            HumanMessage("john miller"),
            AIMessage(CONFIRM),
            HumanMessage("yes please"),
            *_tool(
                "call_2",
                "book_appointment",
                args
                or {
                    "appointment_type": "checkup",
                    "day": "2026-12-08",
                    "time": "15:00",
                    "name": "John Miller",
                },
                booked,
            ),
            AIMessage(BOOKED),
            HumanMessage("no thanks goodbye"),
            *_tool("call_3", "end_call", {"reason": "caller said goodbye"}, None),
            AIMessage(GOODBYE),
        ],
        "caller_name": "John Miller",
        "greeted": True,
        "slots": {"day": "2026-12-08", "doctor": None},
    }


def _booking_call(**changes: Any) -> CallRecord:
    """The call as text mode records it: five replies, ended by the agent's goodbye."""
    exchanges = [
        Exchange(1, GREETING, "say 'I'd like to book a checkup'", "rules[0]: 'how can i help'"),
        Exchange(2, "And what name should I put the appointment under?", "say 'John Miller'"),
        Exchange(3, CONFIRM, "say 'yes please'", "rules[2]: 'shall i book'"),
        Exchange(4, BOOKED, "say 'no thanks, goodbye'", "rules[3]: 'anything else'"),
        Exchange(5, GOODBYE),
    ]
    record = CallRecord(
        scenario="book",
        mode="text",
        exchanges=exchanges,
        ended_by="agent",
        end_reason="caller said goodbye",
        duration_s=1.4,
        final_state=_booking_state(),
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def _expecting(expect: str) -> Scenario:
    return parse_scenario(
        f"rules: [{{when: how can i help, say: hello}}]\nexpect: {expect}",
        source="judged.yaml",
        default_name="judged",
    )


def _reasons(expect: str, call: CallRecord, similarity: float = EXACT) -> list[str]:
    failures = judge(_expecting(expect), call, similarity=similarity)
    assert all("\n" not in str(f) for f in failures)
    return [str(f) for f in failures]


EVERYTHING_MET = """
  ended_by: agent
  tool_calls:
    - name: book_appointment
      ok: true
      args: {appointment_type: checkup, day: "2026-12-08", time: "15:00", name: john miller,
             doctor: dr patel}
    - name: end_call
  no_tool_calls: [cancel_appointment, transfer_to_front_desk]
  state: {caller_name: John Miller, greeted: true, slots.day: "2026-12-08", slots.doctor: null}
  said: ["checkup", "december eighth", "three p m", "Dr. Patel"]
  never_said: ["Maria", "Dr. Nguyen"]
  within_s: 120
"""


def test_a_call_that_meets_every_expectation_passes() -> None:
    call = _booking_call()
    failures = judge(_expecting(EVERYTHING_MET), call)
    assert failures == []
    result = ScenarioResult(call, failures)
    assert result.passed and result.reason == ""


# (expectations, the call, the one-line reasons in order)
UNMET = [
    pytest.param(
        "{tool_calls: [{name: book_appointment, args: {doctor: Dr. Lee}}]}",
        _booking_call(),
        # the tool's arguments name no doctor: the one its result booked is shown
        ["turn 4: book_appointment was called, but doctor='Dr. Patel', expected 'Dr. Lee'"],
        id="the wrong doctor booked",
    ),
    pytest.param(
        "{tool_calls: [{name: book_appointment, args: {day: '2026-12-09', time: '15:00'}}]}",
        _booking_call(),
        ["turn 4: book_appointment was called, but day='2026-12-08', expected '2026-12-09'"],
        id="an argument mismatch shows the value",
    ),
    pytest.param(
        "{tool_calls: [{name: cancel_appointment}]}",
        _booking_call(),
        [
            "cancel_appointment was never called "
            "(tools called: book_appointment, check_availability, end_call)"
        ],
        id="a tool never called lists the tools that were",
    ),
    pytest.param(
        "{tool_calls: [{name: book_appointment}]}",
        _booking_call(final_state={"messages": [AIMessage(GREETING)]}),
        ["book_appointment was never called (no tool was called)"],
        id="no tool at all",
    ),
    pytest.param(
        "{no_tool_calls: [book_appointment, cancel_appointment]}",
        _booking_call(),
        ["turn 4: book_appointment was called, and the scenario forbids it"],
        id="a forbidden tool called",
    ),
    pytest.param(
        "{tool_calls: [{name: book_appointment, ok: true}]}",
        _booking_call(final_state=_booking_state(ok=False)),
        ["turn 4: book_appointment was called, but ok=False, expected True"],
        id="the tool said it failed",
    ),
    pytest.param(
        "{tool_calls: [{name: book_appointment, ok: false}]}",
        _booking_call(),
        ["turn 4: book_appointment was called, but ok=True, expected False"],
        id="the tool was expected to refuse",
    ),
    pytest.param(
        "{state: {caller_name: Maria Lopez, slots.day: '2026-12-09', slots.doctor: Dr. Lee}}",
        _booking_call(),
        [
            "state caller_name is 'John Miller', expected 'Maria Lopez'",
            "state slots.day is '2026-12-08', expected '2026-12-09'",
            "state slots.doctor is None, expected 'Dr. Lee'",
        ],
        id="state paths, nested and missing",
    ),
    pytest.param(
        "{state: {slots.doctor: none, no.such.path: None}}",
        _booking_call(),
        [
            "state slots.doctor is None, expected 'none'",
            "state no.such.path is None, expected 'None'",
        ],
        id="a missing value is not the text none",
    ),
    pytest.param(
        "{never_said: [Maria, John Miller, Dr. Patel]}",
        _booking_call(),
        [
            "turn 3: the agent said 'John Miller': Just to confirm: a checkup on Tuesday, "
            "December eighth, at three p.m., under ...",
            "turn 4: the agent said 'Dr. Patel': You're all set: a checkup with Dr. Patel "
            "on Tuesday, December eighth, at thre...",
        ],
        id="never_said found, at the turn of the reply",
    ),
    pytest.param(
        "{said: [checkup, december ninth, Dr. Lee]}",
        _booking_call(),
        ["the agent never said 'december ninth'", "the agent never said 'Dr. Lee'"],
        id="said missing",
    ),
    pytest.param(
        "{ended_by: transfer}",
        _booking_call(),
        ["turn 5: ended by agent (caller said goodbye), expected transfer"],
        id="ended_by mismatch with the end reason",
    ),
    pytest.param(
        "{ended_by: agent}",
        _booking_call(ended_by="caller", end_reason="the caller hung up"),
        ["turn 5: ended by caller (the caller hung up), expected agent"],
        id="the caller hung up",
    ),
    pytest.param(
        "{ended_by: agent}",
        _booking_call(
            exchanges=[
                Exchange(1, GREETING, "say 'when are you open'", "rules[0]: 'how can i help'"),
                Exchange(2, "Which day would you like me to check?", "hangup", GAVE_UP),
            ],
            ended_by="caller",
            end_reason="the caller hung up",
        ),
        [
            "turn 2: ended by caller (the caller gave up: no rule answers "
            "'Which day would you like me to check?'), expected agent"
        ],
        id="the caller gave up: after which reply",
    ),
    pytest.param(
        "{ended_by: caller}",
        _booking_call(
            exchanges=[Exchange(1, GREETING, "hangup", GAVE_UP)],
            ended_by="caller",
            end_reason="the caller hung up",
        ),
        [
            "turn 1: ended by caller (the caller gave up: no rule answers 'Good morning, "
            "thank you for calling Riverside Family Clinic. How can I help y...'), expected caller"
        ],
        id="giving up is not the hang-up the scenario planned",
    ),
    pytest.param(
        "{ended_by: agent}",
        _booking_call(
            exchanges=[Exchange(n, "We're open nine to five.") for n in range(1, 41)],
            ended_by="timeout",
            end_reason="still going after 40 replies",
            duration_s=4.9,
        ),
        ["turn 40: the call did not end (still going after 40 replies)"],
        id="text mode: out of replies, not of time",
    ),
    pytest.param(
        "{ended_by: any, within_s: 60}",
        _booking_call(
            mode="audio",
            ended_by="timeout",
            end_reason="the scenario's time is up",
            duration_s=61.2,
        ),
        ["turn 5: the call did not end within 60 s"],
        id="audio mode: out of time",
    ),
    pytest.param(
        "{ended_by: agent}",
        _booking_call(
            exchanges=[Exchange(1, GREETING)],
            ended_by="error",
            end_reason="ValueError: Invalid isoformat string: '3 December'",
            final_state={},
        ),
        ["turn 1: the call failed: ValueError: Invalid isoformat string: '3 December'"],
        id="the call failed",
    ),
    pytest.param(
        "{ended_by: agent}",
        _booking_call(exchanges=[], ended_by="error", end_reason="OSError: no port"),
        ["the call failed: OSError: no port"],
        id="the call failed before a word",
    ),
    pytest.param(
        "{within_s: 30}",
        _booking_call(duration_s=42.4),
        ["turn 5: took 42 s, more than 30 s"],
        id="too slow",
    ),
]


@pytest.mark.parametrize(("expect", "call", "reasons"), UNMET)
def test_an_unmet_expectation_is_one_line_saying_why(
    expect: str, call: CallRecord, reasons: list[str]
) -> None:
    assert _reasons(expect, call) == reasons


def test_each_unmet_expectation_is_its_own_failure_and_the_first_is_the_reason() -> None:
    call = _booking_call(ended_by="caller", end_reason="the caller hung up", duration_s=200)
    failures = judge(
        _expecting(
            "{ended_by: agent, tool_calls: [{name: cancel_appointment}], said: [goodbye friend]}"
        ),
        call,
    )
    assert failures == [
        Failure("ended by caller (the caller hung up), expected agent", 5),
        Failure("took 200 s, more than 120 s", 5),
        Failure(
            "cancel_appointment was never called "
            "(tools called: book_appointment, check_availability, end_call)"
        ),
        Failure("the agent never said 'goodbye friend'"),
    ]
    assert ScenarioResult(call, failures).reason == (
        "turn 5: ended by caller (the caller hung up), expected agent"
    )


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("Dr. Patel", "dr patel"),
        ("dr patel", "Dr. Patel"),
        ("John Miller", "john  miller."),
        ("3pm", "3 PM"),
        ("CHECKUP", "checkup"),
    ],
)
def test_text_is_compared_folded_in_arguments_and_state(expected: str, actual: str) -> None:
    args = {"name": actual, "doctor": actual}
    call = _booking_call(final_state={**_booking_state(args=args), "caller_name": actual})
    expect = (
        f"{{tool_calls: [{{name: book_appointment, args: {{doctor: '{expected}'}}}}],"
        f" state: {{caller_name: '{expected}'}}}}"
    )
    assert _reasons(expect, call) == []


def test_an_argument_said_loosely_matches_the_value_the_tool_settled_on() -> None:
    """The model passed "next tuesday"; the tool's artifact holds the ISO day it meant."""
    args = {"appointment_type": "checkup", "day": "next tuesday", "time": "3pm", "name": "John"}
    call = _booking_call(final_state=_booking_state(args=args))
    met = "{tool_calls: [{name: book_appointment, args: {day: '2026-12-08', time: '15:00'}}]}"
    assert _reasons(met, call) == []
    # unquoted, YAML would read 2026-12-08 as a date: still the same day
    assert _reasons("{tool_calls: [{name: book_appointment, args: {day: 2026-12-08}}]}", call) == []
    unmet = "{tool_calls: [{name: book_appointment, args: {day: '2026-12-09'}}]}"
    assert _reasons(unmet, call) == [
        "turn 4: book_appointment was called, but day='2026-12-08' (asked as 'next tuesday'),"
        " expected '2026-12-09'"
    ]


def test_any_one_of_several_calls_of_a_tool_may_meet_the_expectation() -> None:
    state = _booking_state()
    state["messages"] += _tool(
        "call_4", "book_appointment", {"day": "2026-12-09"}, {"ok": True, "appointment": {}}
    )
    call = _booking_call(final_state=state)
    for day in ("2026-12-08", "2026-12-09"):
        met = f"{{tool_calls: [{{name: book_appointment, args: {{day: '{day}'}}}}]}}"
        assert _reasons(met, call) == []


def test_a_phrase_heard_in_audio_mode_is_matched_as_heard() -> None:
    heard = [Exchange(1, "you're all set a check up with doctor pattel on tuesday december eight")]
    call = _booking_call(mode="audio", exchanges=heard, final_state={})  # the ear's words only
    expect = "{said: [december eighth], never_said: [Dr. Patel]}"
    assert _reasons(expect, call, similarity=EXACT) == ["the agent never said 'december eighth'"]
    assert _reasons(expect, call, similarity=HEARD) == []
    assert _reasons("{never_said: [dr pattel]}", call, similarity=HEARD) == [
        "turn 1: the agent said 'dr pattel': you're all set a check up with doctor pattel on "
        "tuesday december eight"
    ]


def test_the_tools_called_come_from_the_messages_with_their_results() -> None:
    state = _booking_state()
    # a run cancelled between asking for a tool and its answer (a barge-in): asked, no result
    state["messages"].append(
        AIMessage("", tool_calls=[{"name": "transfer_to_front_desk", "args": {}, "id": "x"}])
    )
    assert list(tool_calls(state)) == [
        {
            "name": "check_availability",
            "args": {"day": "2026-12-08", "appointment_type": "checkup"},
            "artifact": {"ok": True, "times": [["15:00", "Dr. Patel"]]},
            "turn": 2,  # called on the way to the agent's second reply
        },
        {
            "name": "book_appointment",
            "args": {
                "appointment_type": "checkup",
                "day": "2026-12-08",
                "time": "15:00",
                "name": "John Miller",
            },
            "artifact": {"ok": True, "appointment": APPOINTMENT},
            "turn": 4,
        },
        {
            "name": "end_call",
            "args": {"reason": "caller said goodbye"},
            "artifact": None,
            "turn": 5,
        },
        {"name": "transfer_to_front_desk", "args": {}, "artifact": None, "turn": 6},
    ]
    assert list(tool_calls({})) == []
    # a forbidden tool asked for counts, even if the run was cancelled before it answered
    cancelled = _booking_call(final_state=state)
    assert _reasons("{no_tool_calls: [transfer_to_front_desk]}", cancelled) == [
        "turn 6: transfer_to_front_desk was called, and the scenario forbids it"
    ]


def test_a_said_phrase_may_be_heard_one_of_several_ways() -> None:
    scenario = parse_scenario(
        """
name: s
rules: [{when: hi, say: hello}]
expect: {said: [[noon, twelve], checkup]}
"""
    )
    heard_as_twelve = CallRecord(
        scenario="s",
        mode="audio",
        ended_by="agent",
        exchanges=[Exchange(1, "we close at twelve on saturdays"), Exchange(2, "a check up")],
    )
    assert judge(scenario, heard_as_twelve, similarity=HEARD) == []
    neither = CallRecord(
        scenario="s", mode="audio", ended_by="agent", exchanges=[Exchange(1, "a check up")]
    )
    assert [str(f) for f in judge(scenario, neither, similarity=HEARD)] == [
        "the agent never said 'noon' (or 'twelve')"
    ]


HOURS = (
    "We're open Monday to Friday from nine to five pm and Saturday from nine to noon. "
    "We're closed on Sunday. Is there anything else I can help you with?"
)
HOURS_HEARD = (
    "we're open monday to friday for my name to buy pm and saturday for my name to none were "
    "closed on friday is there anything else like can help you with"
)


def _hours_call(heard: str, record: list[Any], understood: str = "") -> CallRecord:
    return CallRecord(
        scenario="s",
        mode="audio",
        ended_by="agent",
        exchanges=[
            Exchange(1, "good morning how can i help"),
            Exchange(2, heard, understood=understood),
        ],
        final_state={"messages": record},
    )


def test_a_word_the_ear_mishears_counts_when_the_caller_understood_it() -> None:
    scenario = _expecting("{ended_by: agent, said: [noon]}")
    record = [AIMessage("Good morning, how can I help?"), HumanMessage("when"), AIMessage(HOURS)]
    # the caller's ear heard most of the reply, so it understood the recorded words
    assert judge(scenario, _hours_call(HOURS_HEARD, record, HOURS), similarity=HEARD) == []
    # the record alone vouches for nothing: what the caller did not understand was not said
    unheard = _hours_call(HOURS_HEARD, record)
    assert [str(f) for f in judge(scenario, unheard, similarity=HEARD)] == [
        "the agent never said 'noon'"
    ]


def test_a_forbidden_phrase_in_the_record_fails_even_when_the_ear_missed_it() -> None:
    scenario = _expecting("{ended_by: agent, never_said: [maria lopez]}")
    greeting = "Good morning Maria Lopez, how can I help?"
    call = _hours_call(HOURS_HEARD, [AIMessage(greeting), HumanMessage("when"), AIMessage(HOURS)])
    call.exchanges[0] = Exchange(1, "good morning marina will come back how can i help")
    assert [str(f) for f in judge(scenario, call, similarity=HEARD)] == [
        f"turn 1: the agent said 'maria lopez': {greeting}"
    ]
