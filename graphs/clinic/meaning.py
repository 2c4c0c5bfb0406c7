"""What the clinic receptionist understands, in the shape of Dialgraph's understanding step.

:data:`MEANING` declares the clinic's intents and slots once: the chat
model's prompt and schema (``dialgraph.ChatModelUnderstander``) and the
recogniser's hints are built from it. :func:`understand` is the clinic's
offline rules (:func:`graphs.clinic.reading.read`: the NLU with the
clinic's corrections, words and keys alike) as a ``dialgraph.RuleFunction``,
and :data:`RULES` the understander a node awaits::

    heard = await RULES.understand(turn, expecting=Expect.time())
    if (time := heard.slot("time")) and time.confidence >= 0.8: ...

Slot values are plain: days as ISO dates, times as ``"HH:MM"``, the doctor
and the appointment type as the clinic spells them, ``selection`` counted
from 1 (``-1``: the last one read out). Confidences say how each value was
found: a phrase as the rules know it is ``EXACT``; a value the words give
only because of what was asked (a bare "three" when a time was asked, a bare
name) is ``INFERRED``; a doctor's name misheard ("doctor pattel", "doctor new
yen") has the likeness ``dialgraph.match_choice`` gives it. ``RULES`` scales
them by the recogniser's confidence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from dialgraph import (
    EXACT,
    FUZZY,
    INFERRED,
    CallerTurn,
    IntentSpec,
    Meaning,
    RuleFunction,
    RuleUnderstander,
    Slot,
    SlotSpec,
    Understanding,
    match_choice,
    yes_no,
)

from .nlu import APPOINTMENT_TYPES, DOCTORS, Expect, Intent, Utterance
from .reading import read

__all__ = ["MEANING", "RULES", "asked", "reader", "understand"]

_INTENTS: dict[Intent, tuple[str, tuple[str, ...]]] = {
    Intent.BOOK: (
        "Book a new appointment.",
        ("id like to book a checkup", "can i make an appointment with doctor patel"),
    ),
    Intent.AVAILABILITY: (
        "Ask which days or times are free.",
        ("anything free on friday morning", "when can i come in"),
    ),
    Intent.MY_APPOINTMENTS: (
        "Ask about the caller's own appointments.",
        ("when is my appointment", "do i have anything booked"),
    ),
    Intent.CANCEL: ("Cancel an appointment.", ("i need to cancel my appointment",)),
    Intent.RESCHEDULE: (
        "Move an appointment to another day or time.",
        ("can i move my tuesday appointment to thursday", "reschedule my checkup"),
    ),
    Intent.HOURS: ("Ask when the clinic is open.", ("what time do you close on saturday",)),
    Intent.ADDRESS: ("Ask where the clinic is.", ("where are you located",)),
    Intent.PARKING: ("Ask about parking.", ("is there parking",)),
    Intent.INSURANCE: ("Ask which insurance the clinic takes.", ("do you take medicare",)),
    Intent.PRICES: ("Ask what a visit costs.", ("how much is a checkup",)),
    Intent.DOCTORS: ("Ask which doctors work at the clinic.", ("which doctors do you have",)),
    Intent.TRANSFER: (
        "Ask to speak with a person at the front desk (mentioning one is not asking).",
        ("can i talk to a real person", "put me through to reception"),
    ),
    Intent.GOODBYE: (
        "Say goodbye; the caller is done.",
        ("thats all thank you bye", "great thanks so much bye"),
    ),
    Intent.THANKS: ("Thank the receptionist, without saying goodbye.", ("thank you",)),
    Intent.GREETING: ("Only greet.", ("hello", "good morning")),
    Intent.HELP: ("Ask what the receptionist can do.", ("what can you do",)),
    Intent.REPEAT: ("Ask to hear the last thing again.", ("sorry can you say that again",)),
    Intent.ABORT: (
        "Drop what is being arranged.",
        ("never mind forget it", "dont book it"),
    ),
}

MEANING = Meaning(
    intents={
        intent.value: IntentSpec(description, examples)
        for intent, (description, examples) in _INTENTS.items()
    },
    slots={
        "day": SlotSpec.date("the day the caller wants (for a reschedule: the new day)"),
        "time": SlotSpec.time("the time the caller wants (for a reschedule: the new time)"),
        "part_of_day": SlotSpec.choice("the part of the day wanted", ("morning", "afternoon")),
        "appointment_type": SlotSpec.choice("the kind of appointment", APPOINTMENT_TYPES),
        "doctor": SlotSpec.choice("the doctor the caller asks for", DOCTORS),
        "name": SlotSpec.name("the caller's name, when they give it"),
        "selection": SlotSpec.number(
            "which of the options just read out: 1 the first, 2 the second, -1 the last"
        ),
        "from_day": SlotSpec.date("for a reschedule: the day of the appointment to move"),
        "from_time": SlotSpec.time("for a reschedule: the time of the appointment to move"),
        "key": SlotSpec.text("a key pressed on the phone's keypad (0-9, * or #)"),
    },
)
"""The clinic's intents (the :class:`~graphs.clinic.nlu.Intent` values) and slots."""

_ASKED: dict[str, Expect] = {
    "yes_no": "yes_no",
    "date": "day",
    "time": "time",
    "name": "name",
    "choice": "choice",
}


def asked(expecting: Mapping[str, Any] | None) -> Expect | None:
    """The clinic's own name for what a step expects (``dialgraph.Expect`` mapping)."""
    kind = str((expecting or {}).get("kind") or "")
    choices = {str(c).lower() for c in (expecting or {}).get("choices") or ()}
    if kind == "choice" and choices and choices <= set(APPOINTMENT_TYPES):
        return "type"
    return _ASKED.get(kind)


def _values(u: Utterance) -> dict[str, str | int]:
    """The slots an utterance gives, as plain values."""
    found: dict[str, Any] = {
        "day": u.day.isoformat() if u.day else None,
        "time": u.time,
        "part_of_day": u.part_of_day,
        "appointment_type": u.appointment_type,
        "doctor": u.doctor,
        "name": u.name,
        "selection": None if u.selection is None else (u.selection + 1 if u.selection >= 0 else -1),
        "from_day": u.ref_day.isoformat() if u.ref_day else None,
        "from_time": u.ref_time,
        "key": u.dtmf,
    }
    return {name: value for name, value in found.items() if value is not None}


def _understood(turn: CallerTurn, expect: Expect | None, today: dt.date) -> Understanding:
    if turn["source"] not in {"speech", "dtmf"}:
        return Understanding(text="")
    u = read(turn, today, expect)
    if not u.text:
        return Understanding(text="")
    # a key means what it means: nothing is inferred from it; words are read
    # again without the question, so what only the question gave is INFERRED
    alone = read(turn, today, None) if expect and turn["source"] == "speech" else u
    plain = _values(alone)
    slots = {
        name: Slot(value, EXACT if plain.get(name) == value else INFERRED, turn["text"])
        for name, value in _values(u).items()
    }
    if turn["source"] == "speech":  # a doctor's name, however misheard, in every reading
        doctor, likeness = match_choice(turn, DOCTORS)
        ruled = slots.get("doctor")
        if doctor is not None and (ruled is None or ruled.value == doctor):
            slots["doctor"] = Slot(doctor, likeness, turn["text"])
        elif ruled is not None:  # the rules' own list of mishearings ("doctor gwen")
            slots["doctor"] = Slot(ruled.value, FUZZY, turn["text"])
    answer_confidence = 0.0
    if u.answer is not None:
        said, confidence = yes_no(u.text) if turn["source"] == "speech" else (u.answer, EXACT)
        answer_confidence = confidence if said == u.answer else INFERRED
    return Understanding(
        intent=u.intent.value if u.intent else None,
        intent_confidence=EXACT if u.intent else 0.0,
        answer=u.answer,
        answer_confidence=answer_confidence,
        slots=slots,
        correction=u.correction,
        text=u.text,
    )


def understand(
    turn: CallerTurn, *, expecting: Mapping[str, Any] | None = None, today: dt.date
) -> Understanding:
    """One clinic turn, understood by the rules (a ``dialgraph.RuleFunction``).

    Args:
        turn: The caller's turn: speech, or keys (``"1"`` yes, ``"2"`` no,
            ``"0"`` the front desk, a number in a list read out).
        expecting: What the step asked (``Expect.time()``, ``Expect.name()``...),
            so bare answers count.
        today: The day "tomorrow" and "friday" count from.
    """
    return _understood(turn, asked(expecting), today)


def reader(expect: Expect | None) -> RuleFunction:
    """The rules told what to expect in the clinic's own terms (the graph knows the
    stage, which says more than a ``dialgraph.Expect``: "the second one" and
    "nine thirty" both answer a list of times read out)."""

    def understand_as_asked(
        turn: CallerTurn, *, expecting: Mapping[str, Any] | None = None, today: dt.date
    ) -> Understanding:
        return _understood(turn, expect, today)

    return understand_as_asked


RULES = RuleUnderstander(understand)
"""The clinic's offline understanding as an understander (no key, no I/O)."""
