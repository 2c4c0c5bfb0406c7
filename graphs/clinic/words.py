"""What the clinic receptionist says: fixed lines and read-backs built from tool artifacts.

Short, speakable sentences: no digits, no markdown, days and times in words
(:mod:`spoken.saying`; the read-back shape is ``_speech``'s). Read-backs name
the type, doctor, day and time so a caller who was misrecognised hears what
was understood before anything is changed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spoken.numbers import say_number
from spoken.saying import say_day, say_time, say_times, sentence

from .phrases import appointment_phrase, when_phrase

__all__ = [
    "ANYTHING_ELSE",
    "CALENDAR_DOWN",
    "CHECK_OTHER",
    "CLOSING",
    "DAY_ERRORS",
    "KEYS_HINT",
    "MAX_READ",
    "MENU",
    "NOT_PUT_THROUGH",
    "NO_APPOINTMENTS",
    "NO_CALLER_ID",
    "OPENING_HOURS",
    "OTHER_DAY",
    "TRANSFER_OFFER",
    "WHAT_TO_CHANGE",
    "WHICH_TYPE",
    "alternative_times",
    "appointment",
    "choose_appointment",
    "confirm_booking",
    "confirm_cancel",
    "confirm_reschedule",
    "day_and_part",
    "distinct_times",
    "doctor_at",
    "list_appointments",
    "open_at",
    "parse_iso",
    "taken_with_alternatives",
    "your_appointment",
]

MENU = "You can book, cancel or move an appointment, or ask about our hours."
ANYTHING_ELSE = "Is there anything else I can help you with?"
WHICH_TYPE = "What kind of appointment would you like: a checkup, a consultation, or a vaccination?"
WHAT_TO_CHANGE = "Okay, what would you like to change: the day, the time, or the type of visit?"
OTHER_DAY = "Which other day would suit you?"
CHECK_OTHER = "Would you like me to check another day?"
OPENING_HOURS = (
    "We're open from nine to five on weekdays, and from nine to noon on Saturdays. "
    "What time would you like?"
)
DAY_ERRORS = {
    "closed": f"Sorry, we're closed that day. We're open Monday to Saturday. {OTHER_DAY}",
    "past": "Sorry, that day has already passed. Which day would you like?",
}
CALENDAR_DOWN = "Sorry, I can't reach the calendar just now."
TRANSFER_OFFER = "Would you like me to transfer you to the front desk?"
KEYS_HINT = "You can say yes or no, or press one for yes and two for no."
NO_APPOINTMENTS = "I don't see any upcoming appointments for this number."
NOT_PUT_THROUGH = (
    "I'm sorry, I couldn't put you through to the front desk just now. Can I help you with "
    "something else, like booking, cancelling or moving an appointment?"
)
NO_CALLER_ID = "Sorry, I can't see your phone number on this call, so I can't look up appointments."
CLOSING = "Thank you for calling Riverside Family Clinic. Goodbye."

_WEEKDAY_HOURS = ("09:00", "17:00")  # DESIGN.md section 6
_SATURDAY_HOURS = ("09:00", "12:00")
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
MAX_READ = 3  # a caller keeps about three options in mind


def open_at(day: dt.date | None, hhmm: str) -> bool:
    """Whether an appointment may start at ``hhmm`` (any weekday when ``day`` is unknown)."""
    if day is not None and day.weekday() == 6:
        return False
    opens, closes = _SATURDAY_HOURS if day is not None and day.weekday() == 5 else _WEEKDAY_HOURS
    return opens <= hhmm < closes


def parse_iso(value: Any) -> dt.date | None:
    """A ``date`` from an ISO string, or None."""
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def day_and_part(day: dt.date | None, part: str | None) -> str:
    """ "on Friday, November twenty seventh, in the morning"."""
    text = f"on {say_day(day)}" if day else "that day"
    return f"{text}, in the {part}" if part else text


def distinct_times(slots: Iterable[Any]) -> list[str]:
    """The distinct start times of availability slots, earliest first."""
    times = {s.get("time") for s in slots if isinstance(s, Mapping)}
    return sorted(t for t in times if isinstance(t, str) and _HHMM.fullmatch(t))


def doctor_at(slots: Iterable[Any], hhmm: str) -> str | None:
    """The first doctor free at ``hhmm``."""
    for s in slots:
        if isinstance(s, Mapping) and s.get("time") == hhmm and s.get("doctor"):
            return str(s["doctor"])
    return None


def alternative_times(alternatives: Iterable[Any]) -> list[str]:
    """Up to three alternative times from a refusal (plain times or slot dicts)."""
    out: list[str] = []
    for alt in alternatives:
        t = alt.get("time") if isinstance(alt, Mapping) else alt
        if isinstance(t, str) and _HHMM.fullmatch(t) and t not in out:
            out.append(t)
    return out[:MAX_READ]


def appointment(appt: Mapping[str, Any], article: str | None = None) -> str:
    """ "a checkup with Dr. Patel on Tuesday, December first, at three p.m."."""
    return appointment_phrase(appt, article=article)


def your_appointment(appt: Mapping[str, Any], *, now: bool = False) -> str:
    """ "Your checkup with Dr. Patel is (now) on Tuesday, December first, at three p.m."."""
    kind = appt.get("appointment_type") or "appointment"
    doctor = f" with {appt['doctor']}" if appt.get("doctor") else ""
    day = parse_iso(appt.get("day"))
    if day is None:
        return f"Your {kind}{doctor}."
    when = when_phrase(day, appt["time"]) if appt.get("time") else f"on {say_day(day)}"
    return sentence(f"Your {kind}{doctor} is {'now ' if now else ''}{when}")


def confirm_booking(slots: Any, name: str | None) -> str:
    """The read-back before ``book_appointment``."""
    what = appointment_phrase(
        {
            "appointment_type": slots.appointment_type,
            "doctor": slots.doctor,
            "day": slots.day.isoformat() if slots.day else "",
            "time": slots.time,
        }
    )
    return f"Just to confirm: {what}, under the name {name}. Shall I book it?"


def confirm_reschedule(target: Mapping[str, Any], slots: Any) -> str:
    """The read-back before ``reschedule_appointment``."""
    kind = target.get("appointment_type") or "appointment"
    old_day, old_time = parse_iso(target.get("day")), target.get("time")
    old = f" from {say_day(old_day)}, at {say_time(old_time)}," if old_day and old_time else ""
    new = f"{say_day(slots.day)}, at {say_time(slots.time)}"
    return sentence(f"Just to confirm: move your {kind}{old} to {new}") + " Shall I go ahead?"


def confirm_cancel(target: Mapping[str, Any]) -> str:
    """The read-back before ``cancel_appointment``."""
    what = appointment_phrase(target, article="your")
    return sentence(f"Just to confirm: cancel {what}") + " Shall I go ahead?"


def list_appointments(appointments: Sequence[Mapping[str, Any]]) -> str:
    """ "You have two upcoming appointments: a checkup ...; and a vaccination ..."."""
    n = len(appointments)
    read = [appointment_phrase(a) for a in appointments[:MAX_READ]]
    if n == 1:
        return sentence(f"You have one upcoming appointment: {read[0]}")
    listed = "; ".join(read[:-1]) + f"; and {read[-1]}"
    more = f" You have {_count(n - MAX_READ)} more after that." if n > MAX_READ else ""
    return sentence(f"You have {_count(n)} upcoming appointments: {listed}") + more


def choose_appointment(appointments: Sequence[Mapping[str, Any]], verb: str) -> str:
    """Read the list with positions, then ask which one to ``verb``."""
    ordinals = ("The first", "the second", "the third")
    read = [
        f"{ordinals[i]} is {appointment_phrase(a)}" for i, a in enumerate(appointments[:MAX_READ])
    ]
    return (
        f"You have {_count(len(appointments))} upcoming appointments. "
        + sentence("; ".join(read))
        + f" Which one would you like to {verb}?"
    )


def taken_with_alternatives(day: dt.date | None, times: Sequence[str]) -> str:
    """Refused because taken: read the alternatives on that day."""
    on = f"On {say_day(day)}, " if day else ""
    offer = sentence(f"{on}I could do {say_times(times)}")
    return f"Sorry, that time is already taken. {offer} Which would you prefer?"


def _count(n: int) -> str:
    return say_number(n) if 0 <= n < 60 else "many"
