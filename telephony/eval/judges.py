"""Judging a call against its scenario: each unmet expectation is one line, with its turn.

The judges read only what any flow leaves behind, so a team's own flows are
judged the same way as the bundled ones:

- how the call ended and how long it took (the softphone's view, Twilio's
  REST log of transfers and hang-ups in audio mode);
- the tools the graph called and what they returned: the ``AIMessage`` tool
  calls and ``ToolMessage`` artifacts in the call's final checkpointed state;
- the final state's other values, by dotted path;
- what the agent said: exact in text mode, and in audio mode what a
  recogniser that is not the agent's own configuration heard, compared with
  the same fuzzy phrase match the caller uses, or in the words the caller
  understood (the agent's record of a reply its ear mostly heard: the
  generic model mishears a few words every time); a phrase the scenario
  forbids fails the call when either the ear or the record has it.

Pure: a :class:`~telephony.eval.results.CallRecord` in, failures out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from spoken.words import fold
from telephony.eval.caller import EXACT, GAVE_UP, MODEL_FAILED, contains
from telephony.eval.record import message_text, spoken_replies
from telephony.eval.results import CallRecord, Exchange, Failure
from telephony.eval.scenario import Scenario, ToolCallExpectation

__all__ = ["judge", "tool_calls"]


def judge(scenario: Scenario, call: CallRecord, *, similarity: float = EXACT) -> list[Failure]:
    """Every expectation of ``scenario`` that ``call`` does not meet (empty: it passed)."""
    expect = scenario.expect
    failures: list[Failure] = []
    last = call.exchanges[-1] if call.exchanges else None
    last_turn = last.turn if last else None
    gave_up = _gave_up(last)
    if call.ended_by == "error":
        failures.append(Failure(f"the call failed: {call.end_reason}", last_turn))
    elif call.ended_by == "timeout":
        # Out of time, or (text mode) out of replies in a fraction of it: say which.
        ran_out = call.duration_s >= expect.within_s or not call.end_reason
        limit = f"within {expect.within_s:g} s" if ran_out else f"({call.end_reason})"
        failures.append(Failure(f"the call did not end {limit}", last_turn))
    elif expect.ended_by not in ("any", call.ended_by) or (expect.ended_by == "caller" and gave_up):
        # A caller who gave up did not hang up as the scenario planned: say after what.
        detail = gave_up or call.end_reason
        detail = f" ({detail})" if detail else ""
        failures.append(
            Failure(f"ended by {call.ended_by}{detail}, expected {expect.ended_by}", last_turn)
        )
    if call.duration_s > expect.within_s and call.ended_by != "timeout":
        failures.append(
            Failure(f"took {call.duration_s:.0f} s, more than {expect.within_s:g} s", last_turn)
        )
    made = list(tool_calls(call.final_state))
    for wanted in expect.tool_calls:
        problem, turn = _tool_problem(wanted, made)
        if problem:
            failures.append(Failure(problem, turn))
    for name in expect.no_tool_calls:
        if forbidden := [c for c in made if c["name"] == name]:
            failures.append(
                Failure(f"{name} was called, and the scenario forbids it", forbidden[0]["turn"])
            )
    for path, value in expect.state.items():
        actual = _at_path(call.final_state, path)
        if not _same(actual, value):
            failures.append(Failure(f"state {path} is {actual!r}, expected {value!r}"))
    lines = [(e.turn, e.agent) for e in call.exchanges]
    record = spoken_replies(call.final_state)
    for options in expect.said:
        if not any(_said(e, phrase, similarity) for e in call.exchanges for phrase in options):
            others = "".join(f" (or {o!r})" for o in options[1:])
            failures.append(Failure(f"the agent never said {options[0]!r}{others}"))
    for phrase in expect.never_said:
        for turn, text in lines:
            if contains(text, phrase, similarity=similarity):
                failures.append(Failure(f"the agent said {phrase!r}: {_short(text)}", turn))
                break
        else:  # the ear missed it, but the agent's own record of what was heard has it
            for turn, text in enumerate(record, 1):
                if contains(text, phrase):
                    failures.append(Failure(f"the agent said {phrase!r}: {_short(text)}", turn))
                    break
    return failures


def _said(exchange: Exchange, phrase: str, similarity: float) -> bool:
    """Whether the caller heard ``phrase`` in this reply: by its ear, or in the words it
    understood (the agent's record of a reply the ear mostly heard: :mod:`telephony.eval.record`).
    """
    return contains(exchange.agent, phrase, similarity=similarity) or (
        bool(exchange.understood) and contains(exchange.understood, phrase)
    )


def _gave_up(last: Exchange | None) -> str:
    """Why the scripted caller gave up after the last reply (``""``: it did not)."""
    if last is not None and last.rule.startswith(MODEL_FAILED):
        return last.rule
    if last is None or last.rule != GAVE_UP:
        return ""
    return f"the caller gave up: no rule answers {_short(last.agent)!r}"


def tool_calls(state: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The tools the graph called, from its messages: name, arguments, result artifact, turn.

    ``turn`` is the agent's reply the call belongs to (1 + the spoken replies
    before it: a tool called after the greeting belongs to reply 2), the
    number the exchanges and the failures use.
    """
    requested: dict[str, dict[str, Any]] = {}
    messages: Sequence[Any] = state.get("messages") or ()
    spoken = 0
    for message in messages:
        calls = getattr(message, "tool_calls", None) or ()
        for call in calls:
            requested[str(call.get("id"))] = {
                "name": call.get("name"),
                "args": call.get("args"),
                "turn": spoken + 1,
            }
        if getattr(message, "type", "") == "ai" and not calls and message_text(message).strip():
            spoken += 1
    for message in messages:
        if getattr(message, "type", "") != "tool":
            continue
        asked = requested.pop(str(getattr(message, "tool_call_id", "")), {})
        yield {
            "name": getattr(message, "name", None) or asked.get("name"),
            "args": asked.get("args") or {},
            "artifact": getattr(message, "artifact", None),
            "turn": asked.get("turn"),
        }
    for asked in requested.values():  # asked for, never answered (a cancelled run)
        yield {
            "name": asked["name"],
            "args": asked["args"] or {},
            "artifact": None,
            "turn": asked["turn"],
        }


def _tool_problem(
    wanted: ToolCallExpectation, made: list[dict[str, Any]]
) -> tuple[str, int | None]:
    """Why no call in ``made`` meets ``wanted`` (``""``: one does), and the turn of the last try."""
    named = [c for c in made if c["name"] == wanted.name]
    if not named:
        others = sorted({str(c["name"]) for c in made})
        seen = f" (tools called: {', '.join(others)})" if others else " (no tool was called)"
        return f"{wanted.name} was never called{seen}", None
    problems = []
    for call in named:
        problem = ""
        if wanted.ok is not None:
            ok = call["artifact"].get("ok") if isinstance(call["artifact"], Mapping) else None
            if ok is not wanted.ok:
                problem = f"ok={ok!r}, expected {wanted.ok!r}"
        for key, value in wanted.args.items():
            asked = call["args"].get(key)
            results = [v for v in _values_of(call["artifact"], key) if v is not None]
            if not any(_same(v, value) for v in [asked, *results] if v is not None):
                # what the tool settled on ("2026-12-08") over how it was asked ("next tuesday")
                actual = results[0] if results else asked
                shown = f"{key}={actual!r}"
                if results and asked is not None and not _same(asked, actual):
                    shown += f" (asked as {asked!r})"
                problem = problem or f"{shown}, expected {value!r}"
        if not problem:
            return "", None
        problems.append(problem)
    return f"{wanted.name} was called, but {problems[-1]}", named[-1]["turn"]


def _values_of(obj: Any, key: str) -> Iterator[Any]:
    """Every value stored under ``key`` anywhere inside ``obj`` (nested mappings and lists)."""
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if k == key:
                yield v
            yield from _values_of(v, key)
    elif isinstance(obj, list | tuple):
        for item in obj:
            yield from _values_of(item, key)


def _at_path(state: Mapping[str, Any], path: str) -> Any:
    value: Any = state
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
        if value is None:
            return None
    return value


def _same(actual: Any, expected: Any) -> bool:
    """Equal, comparing text as folded words ("St. Mary's" is "st marys")."""
    if actual is None or expected is None:  # not str(None): a missing value is not "none"
        return actual is expected
    if isinstance(expected, str) or isinstance(actual, str):
        return fold(str(actual)) == fold(str(expected))
    return bool(actual == expected)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
