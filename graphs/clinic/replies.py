"""What a reply does to the state: the words, the stage it leaves, the question to re-ask.

Every reply of the clinic graph goes through :func:`ask` (or :func:`anything_else`),
which returns the state update of a node that speaks: the ``AIMessage``, the
``stage`` (what the reply asked for), the ``question`` asked again after a
miss (the reply's last sentence), ``last_reply`` (for "say that again"), and
it tells the ear what the answer should be (:func:`dialgraph.expect`). The
words themselves are the old flow's (:mod:`graphs.clinic.words`),
so callers, tests and eval suites hear the same receptionist.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage

from dialgraph import Expect, expect
from graphs.clinic import words
from graphs.clinic.nlu import APPOINTMENT_TYPES, DOCTORS
from graphs.clinic.state import EMPTY_SLOTS, Resume, Slots, Stage, State, Task, slot_values
from spoken.saying import say_day, say_time

__all__ = [
    "ASK_NAME_ON_BOOKING",
    "ASK_NUMBER",
    "ASK_NUMBER_AGAIN",
    "NOT_ON_FILE",
    "anything_else",
    "ask",
    "expecting",
    "offer_transfer",
    "say",
    "start",
    "values_said",
]

ASK_NUMBER = (
    "I can't see your phone number on this call. What's the phone number on the booking? "
    "You can say it or key it in."
)
ASK_NUMBER_AGAIN = "Sorry, I didn't get the whole number. What's the phone number on the booking?"
ASK_NAME_ON_BOOKING = "And what's the name on the booking?"
NOT_ON_FILE = "Sorry, I can't find a booking under that number and name."

_SENTENCE_END = re.compile(r"(?<=[.!])\s+(?=[A-Z])")
_YES_NO_STAGES = frozenset(
    {
        "confirm_book",
        "confirm_cancel",
        "confirm_reschedule",
        "confirm_transfer",
        "confirm_value",
        "anything_else",
        "offer_book",
        "offer_times",
        "retry_day",
    }
)
_ASKED_FOR: dict[str, dict[str, Any]] = {
    "type": Expect.choice(APPOINTMENT_TYPES),
    "day": Expect.date(),
    "time": Expect.time(),
    "name": Expect.name(),
    "name_on_booking": Expect.name(),
    "number": Expect.digits(10, hints=["my number is"]),
    "pick_time": Expect.time(hints=["the first one", "the second one", "the last one"]),
    "pick_appt": Expect.choice(["the first one", "the second one", "the third one"]),
    "doctor": Expect.choice(DOCTORS),
    "change": Expect.choice(["the day", "the time", "the type of visit", "the name"]),
    **{stage: Expect.yes_no() for stage in _YES_NO_STAGES},
}
"""What the answer to each stage's question should be (biases the ear)."""


def expecting(stage: Stage | None) -> Mapping[str, Any] | None:
    """What the answer to ``stage``'s question should be (``None``: nothing in particular)."""
    return _ASKED_FOR.get(stage or "")


def values_said(slots: Slots, details: Sequence[str]) -> str:
    """Details as the receptionist says them back to check them: "a checkup with Dr.
    Nguyen on Thursday, November twenty sixth, at three p.m."."""
    values = slot_values(slots)
    said = []
    for detail in details:
        value = values.get(detail)
        if not value:
            continue
        if detail == "day" and (day := words.parse_iso(value)):
            said.append(f"on {say_day(day)},")
        elif detail == "time":
            said.append(f"at {say_time(value)}")
        elif detail == "appointment_type":
            said.append(f"a {value}")
        elif detail == "doctor":
            said.append(f"with {value}")
        elif detail == "part_of_day":
            said.append(f"in the {value}")
        elif detail == "name":
            said.append(f"under the name {value}")
    return " ".join(said).rstrip(",")


def _tell_the_ear(spec: Mapping[str, Any] | None) -> None:
    if spec is None:
        return
    # A node called by hand (a unit test) runs outside a graph: there is no ear to tell.
    with contextlib.suppress(RuntimeError):
        expect(spec)


def say(text: str) -> dict[str, Any]:
    """Speak ``text``; the stage and the question stay as they are."""
    return {"messages": [AIMessage(text)]}


def ask(
    state: State,
    text: str,
    stage: Stage | None,
    *,
    question: str | None = None,
    expecting: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Say ``text`` (after any pending acknowledgement) and wait at ``stage``.

    Its last sentence (or ``question``) is asked again after a miss;
    ``expecting`` overrides what the stage's answer should be.
    """
    text = state.ack + text
    if question is None:
        question = _SENTENCE_END.split(text)[-1] if stage else ""
    _tell_the_ear(expecting if expecting is not None else _ASKED_FOR.get(stage or ""))
    return {
        "messages": [AIMessage(text)],
        "stage": stage,
        "question": question,
        "last_reply": text,
        "ack": "",
    }


def start(task: Task | None, slots: Slots | None = None) -> dict[str, Any]:
    """Begin ``task`` (``None``: none) afresh: no details, target or offered times."""
    return {
        "task": task,
        "slots": Slots(**(slots or EMPTY_SLOTS)),
        "unsure": [],
        "target": None,
        "hint": None,
        "offered": [],
        "offered_for": None,
    }


def anything_else(state: State, lead: str) -> dict[str, Any]:
    """``lead``, then "Is there anything else I can help you with?"."""
    return ask(state, f"{lead} {words.ANYTHING_ELSE}", "anything_else")


def offer_transfer(state: State, lead: str) -> dict[str, Any]:
    """Drop the task; offer the front desk (unless a transfer already failed)."""
    if state.transfer_failed:
        return {**start(None), **anything_else(state, lead)}
    return {
        **start(None),
        "resume": Resume(stage=None, question=words.MENU),
        **ask(state, f"{lead} {words.TRANSFER_OFFER}", "confirm_transfer"),
    }
