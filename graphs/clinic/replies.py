"""What a reply does to the state: the words, the stage it leaves, the question to re-ask.

Every reply of the clinic graph goes through :func:`ask` (or :func:`anything_else`),
which returns the state update of a node that speaks: the ``AIMessage``, the
``stage`` (what the reply asked for), the ``question`` asked again after a
miss (the reply's last sentence), ``last_reply`` (for "say that again"), and
it tells the ear what the answer should be (:func:`dialgraph.expect`). The
words themselves are the old flow's (:mod:`graphs.voice_agent._replies`),
so callers, tests and eval suites hear the same receptionist.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage

from dialgraph import Expect, expect
from graphs.clinic.state import EMPTY_SLOTS, Resume, Slots, Stage, State, Task
from graphs.voice_agent import _replies as words
from graphs.voice_agent.nlu import APPOINTMENT_TYPES

__all__ = [
    "ASK_NAME_ON_BOOKING",
    "ASK_NUMBER",
    "ASK_NUMBER_AGAIN",
    "NOT_ON_FILE",
    "anything_else",
    "ask",
    "offer_transfer",
    "say",
    "start",
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
    "change": Expect.choice(["the day", "the time", "the type of visit", "the name"]),
    **{stage: Expect.yes_no() for stage in _YES_NO_STAGES},
}
"""What the answer to each stage's question should be (biases the ear)."""


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
