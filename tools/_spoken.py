"""Tool outcomes in words: short sentences that read well aloud.

Pure functions of an artifact, so a replayed side effect (same stored
artifact) is described the same way, and a runner can rebuild the answer of
a call whose run was cancelled. Days and times are said in words
(:mod:`spoken.saying`: "Wednesday, March fifth at ten a.m."), the way the
clinic's dialogue says them, so a model that reads a tool's sentence out as
it is gives the TTS nothing to misread.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any

from spoken.names import weekday_name
from spoken.saying import say_day, say_time, say_times, sentence
from tools.clinic import opening_hours

__all__ = [
    "describe_appointments",
    "describe_availability",
    "describe_effect",
    "list_times",
]

_ARTICLE = {
    "checkup": "a checkup",
    "consultation": "a consultation",
    "vaccination": "a vaccination",
}
_TROUBLE = (
    "I'm sorry, something went wrong with that request. Shall I transfer you to the front desk?"
)


def _day(iso: str, today: date | None) -> str:
    return say_day(date.fromisoformat(iso), today)


def _on(iso: str, today: date | None) -> str:
    """Say "on Wednesday, March fifth", but plain "today" / "tomorrow"."""
    said = _day(iso, today)
    return said if said in {"today", "tomorrow"} else f"on {said}"


def list_times(times: list[str]) -> str:
    """["09:00", "09:30", "10:00"] -> "nine, nine thirty or ten a.m."."""
    return say_times(times, "or")


def _what(appointment: dict[str, Any], today: date | None) -> str:
    kind = _ARTICLE.get(appointment["appointment_type"], appointment["appointment_type"])
    return (
        f"{kind} with {appointment['doctor']} {_on(appointment['day'], today)}"
        f" at {say_time(appointment['time'])}"
    )


def _closed(artifact: dict[str, Any], today: date | None) -> str:
    day = date.fromisoformat(artifact["day"])
    text = f"We're closed on {weekday_name(day)}s."
    if following := artifact.get("next_open_day"):
        text += f" The next day we're open is {_day(following, today)}."
    return text


def _offer(alternatives: list[str]) -> str:
    if not alternatives:
        return " Nothing else is free that day; would another day suit you?"
    return f" I could do {list_times(alternatives)} instead."


def describe_availability(artifact: dict[str, Any], today: date | None = None) -> str:
    """Words for a ``check_availability`` artifact."""
    error = artifact.get("error")
    if error == "closed":
        return _closed(artifact, today)
    if error == "past":
        return "That day has already passed. Which upcoming day would suit you?"
    if not artifact.get("ok"):
        return _TROUBLE
    kind = _ARTICLE.get(artifact["appointment_type"], artifact["appointment_type"])
    when = _on(artifact["day"], today)
    part = artifact.get("part_of_day")
    if part:
        when += f" in the {part}"
    times = [slot["time"] for slot in artifact["slots"]]
    if times:
        return sentence(f"For {kind} {when}, I have {list_times(times)}")
    hours = opening_hours(date.fromisoformat(artifact["day"]))
    if part == "afternoon" and hours is not None and hours[1] <= time(12):
        weekday = weekday_name(date.fromisoformat(artifact["day"]))
        return f"We close at noon on {weekday}s, so there's nothing in the afternoon."
    return f"I'm sorry, nothing is free for {kind} {when}."


def describe_appointments(appointments: list[dict[str, Any]], today: date | None = None) -> str:
    """Words for the caller's upcoming appointments, with their numbers."""
    if not appointments:
        return "I don't see any upcoming appointments for this phone number."
    if len(appointments) == 1:
        only = appointments[0]
        return (
            f"You have one upcoming appointment: {_what(only, today)},"
            f" appointment number {only['id']}."
        )
    items = "; ".join(f"number {a['id']}, {_what(a, today)}" for a in appointments)
    return f"You have {len(appointments)} upcoming appointments: {items}."


def _describe_failure(artifact: dict[str, Any], today: date | None) -> str:
    error = artifact.get("error")
    if error == "closed":
        return _closed(artifact, today)
    if error == "past":
        return "That time has already passed. Would another time suit you?"
    if error == "unknown_type":
        return "We book checkups, consultations and vaccinations. Which one would you like?"
    if error == "not_found":
        number = artifact.get("appointment_id")
        return (
            f"I couldn't find an upcoming appointment number {number} for this phone number."
            if number is not None
            else "I couldn't find that appointment for this phone number."
        )
    alternatives = artifact.get("alternatives") or []
    when = f"{_day(artifact['day'], today)} at {say_time(artifact['time'])}"
    if error == "slot_taken":
        return f"I'm sorry, {when} is already taken." + _offer(alternatives)
    if error == "bad_time":
        hours = opening_hours(date.fromisoformat(artifact["day"]))
        closes = say_time(hours[1]) if hours else "closing time"
        return sentence(
            f"I can't book {when}: appointments start on the quarter hour and must end by {closes}"
        ) + _offer(alternatives)
    return _TROUBLE


def describe_effect(tool: str, artifact: dict[str, Any], today: date | None = None) -> str:
    """Words for a side-effect tool's artifact (also for a replayed or recovered one).

    Args:
        tool: "book_appointment", "cancel_appointment" or "reschedule_appointment".
        artifact: What the tool (or :meth:`tools.calendar.Calendar.completed_effect`) returned.
        today: The clinic's date, to say "today" and "tomorrow".
    """
    if not artifact.get("ok"):
        return _describe_failure(artifact, today)
    appointment = artifact["appointment"]
    kind = appointment["appointment_type"]
    if tool == "book_appointment":
        return (
            f"You're booked: {_what(appointment, today)}, for {appointment['name']}."
            f" The appointment number is {appointment['id']}."
        )
    if tool == "cancel_appointment":
        return (
            f"Done: your {kind} {_on(appointment['day'], today)}"
            f" at {say_time(appointment['time'])} is cancelled."
        )
    if tool == "reschedule_appointment":
        before = artifact["previous"]
        return (
            f"Done: your {kind} has moved from {_day(before['day'], today)}"
            f" at {say_time(before['time'])} to {_day(appointment['day'], today)}"
            f" at {say_time(appointment['time'])} with {appointment['doctor']}."
        )
    return "Done."
