"""Booking tools: availability, book, cancel, reschedule.

Each tool returns ``(content, artifact)``: ``content`` is one or two short
sentences the agent can say (or paraphrase) as they are; ``artifact`` is the
machine-readable outcome from :mod:`tools.calendar`. Nothing raises: a bad
day, a taken slot or a database failure all come back as a polite sentence
with ``{"ok": False, "error": ...}``.

Book, cancel and reschedule are :func:`dialgraph.side_effect` tools: the
runtime lets one under way finish when the caller barges in, answers a
repeated call from its ledger, and repairs a cut run with the committed
result. Underneath, the calendar commits each change under
``"{thread_id}:{tool_call_id}"`` (the same key), so a replay that reaches it
still returns the first outcome.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.tools import tool

from dialgraph import side_effect
from spoken.days import parse_day
from spoken.saying import say_time
from spoken.times import parse_part_of_day, parse_time
from tools._parse import clean_name
from tools._runtime import CallRuntime, call_facts, guarded
from tools._spoken import describe_availability, describe_effect
from tools.clinic import APPOINTMENT_TYPES, OPENS_AT_HOUR, doctor_name
from tools.clinic import appointment_type as canonical_type

__all__ = [
    "BOOKING_TOOLS",
    "MAX_SLOTS",
    "book_appointment",
    "cancel_appointment",
    "check_availability",
    "describe_effect",
    "reschedule_appointment",
]

MAX_SLOTS = 6  # more start times than this is too much to listen to

_ASK_DAY = "Sorry, I didn't catch the day. Which day would you like?"
_ASK_TIME = (
    f"Sorry, I didn't catch the time. What time would suit you, for example {say_time('10:30')}?"
)
_ASK_TYPE = "We book checkups, consultations and vaccinations. Which one would you like?"
_ASK_NAME = "May I have the patient's full name for the booking?"
_ASK_DOCTOR = (
    "Our doctors are Dr. Patel and Dr. Nguyen. Which one would you like, or is either fine?"
)
_NO_CALLER_ID = (
    "I can't see your phone number on this call, so I can't look up or change appointments. "
    "I can transfer you to the front desk."
)

# A model may spell "no preference" out instead of leaving the doctor empty.
_NO_PREFERENCE = re.compile(r"^\W*$|\b(any|anyone|either|whoever|no preference|none|null)\b")

Result = tuple[str, dict[str, Any]]


def _spread(slots: list[dict[str, str]], duration_min: int) -> list[dict[str, str]]:
    """At most MAX_SLOTS start times, earliest first, at least one appointment apart."""
    chosen: list[dict[str, str]] = []
    last = -duration_min
    for slot in slots:
        hour, minute = (int(part) for part in slot["time"].split(":"))
        start = hour * 60 + minute
        if start - last >= duration_min:
            chosen.append(slot)
            last = start
        if len(chosen) == MAX_SLOTS:
            break
    return chosen


async def _check_availability(
    runtime: CallRuntime, day: str, kind: str, part_of_day: str | None
) -> Result:
    facts = call_facts(runtime)
    wanted = parse_day(day, facts.today)
    if wanted is None:
        return _ASK_DAY, {"ok": False, "error": "bad_day", "day": day}
    canonical = canonical_type(kind or "checkup")
    if canonical is None:
        return _ASK_TYPE, {"ok": False, "error": "unknown_type", "appointment_type": kind}
    calendar = await facts.calendar()
    part = parse_part_of_day(part_of_day)
    artifact = await calendar.availability(wanted, canonical, now=facts.now, part_of_day=part)
    if artifact["ok"]:
        artifact["slots"] = _spread(artifact["slots"], APPOINTMENT_TYPES[canonical].duration_min)
    return describe_availability(artifact, facts.today), artifact


@tool(response_format="content_and_artifact", parse_docstring=True)
async def check_availability(
    day: str,
    runtime: CallRuntime,
    appointment_type: str = "checkup",
    part_of_day: str | None = None,
) -> Result:
    """Find free appointment times on one day.

    Use before booking or when the caller asks what is free. Offers up to six
    start times, earliest first.

    Args:
        day: The day as YYYY-MM-DD (words like "tomorrow" or "Friday" also work).
        appointment_type: "checkup", "consultation" or "vaccination".
        part_of_day: "morning", "afternoon", or leave empty for the whole day.
    """
    return await guarded(
        "check_availability", _check_availability(runtime, day, appointment_type, part_of_day)
    )


async def _book(
    runtime: CallRuntime, *, kind: str, day: str, at: str, name: str, doctor: str | None
) -> Result:
    facts = call_facts(runtime)
    request = {"appointment_type": kind, "day": day, "time": at, "alternatives": []}
    if not facts.caller:
        return _NO_CALLER_ID, {"ok": False, "error": "no_caller_id", **request}
    canonical = canonical_type(kind)
    if canonical is None:
        return _ASK_TYPE, {"ok": False, "error": "unknown_type", **request}
    wanted_day, wanted_time = parse_day(day, facts.today), parse_time(at, opens_at=OPENS_AT_HOUR)
    if wanted_day is None:
        return _ASK_DAY, {"ok": False, "error": "bad_day", **request}
    if wanted_time is None:
        return _ASK_TIME, {"ok": False, "error": "bad_time", **request}
    patient = clean_name(name)
    if not patient:
        return _ASK_NAME, {"ok": False, "error": "missing_name", **request}
    chosen_doctor = None
    if doctor and not _NO_PREFERENCE.search(doctor.lower()):
        chosen_doctor = doctor_name(doctor)
        if chosen_doctor is None:
            return _ASK_DOCTOR, {"ok": False, "error": "unknown_doctor", **request}
    calendar = await facts.calendar()
    artifact = await calendar.book(
        facts.key,
        phone=facts.caller,
        name=patient,
        appointment_type=canonical,
        day=wanted_day,
        at=wanted_time,
        now=facts.now,
        doctor=chosen_doctor,
    )
    return describe_effect("book_appointment", artifact, facts.today), artifact


@side_effect
@tool(response_format="content_and_artifact", parse_docstring=True)
async def book_appointment(
    appointment_type: str,
    day: str,
    time: str,
    name: str,
    *,
    runtime: CallRuntime,
    doctor: str | None = None,
) -> Result:
    """Book an appointment for the caller (their phone number comes from caller ID).

    Confirm type, day, time and the patient's name with the caller first.
    If the time is taken, the reply offers nearby free times.

    Args:
        appointment_type: "checkup" (30 min), "consultation" (30 min) or "vaccination" (15 min).
        day: The day as YYYY-MM-DD.
        time: The start time as HH:MM, 24-hour (e.g. "15:30"); quarter hours only.
        name: The patient's full name as the caller said it.
        doctor: "Dr. Patel" or "Dr. Nguyen" if the caller asked for one; else leave empty.
    """
    return await guarded(
        "book_appointment",
        _book(runtime, kind=appointment_type, day=day, at=time, name=name, doctor=doctor),
    )


async def _cancel(runtime: CallRuntime, appointment_id: int) -> Result:
    facts = call_facts(runtime)
    if not facts.caller:
        return _NO_CALLER_ID, {"ok": False, "error": "no_caller_id"}
    calendar = await facts.calendar()
    artifact = await calendar.cancel(
        facts.key, phone=facts.caller, appointment_id=appointment_id, now=facts.now
    )
    return describe_effect("cancel_appointment", artifact, facts.today), artifact


@side_effect
@tool(response_format="content_and_artifact", parse_docstring=True)
async def cancel_appointment(appointment_id: int, runtime: CallRuntime) -> Result:
    """Cancel one of the caller's upcoming appointments.

    Get the appointment number from list_my_appointments and confirm with the
    caller before cancelling.

    Args:
        appointment_id: The appointment number, as given by list_my_appointments.
    """
    return await guarded("cancel_appointment", _cancel(runtime, appointment_id))


async def _reschedule(runtime: CallRuntime, appointment_id: int, day: str, at: str) -> Result:
    facts = call_facts(runtime)
    request = {"appointment_id": appointment_id, "day": day, "time": at, "alternatives": []}
    if not facts.caller:
        return _NO_CALLER_ID, {"ok": False, "error": "no_caller_id", **request}
    wanted_day, wanted_time = parse_day(day, facts.today), parse_time(at, opens_at=OPENS_AT_HOUR)
    if wanted_day is None:
        return _ASK_DAY, {"ok": False, "error": "bad_day", **request}
    if wanted_time is None:
        return _ASK_TIME, {"ok": False, "error": "bad_time", **request}
    calendar = await facts.calendar()
    artifact = await calendar.reschedule(
        facts.key,
        phone=facts.caller,
        appointment_id=appointment_id,
        day=wanted_day,
        at=wanted_time,
        now=facts.now,
    )
    return describe_effect("reschedule_appointment", artifact, facts.today), artifact


@side_effect
@tool(response_format="content_and_artifact", parse_docstring=True)
async def reschedule_appointment(
    appointment_id: int, day: str, time: str, runtime: CallRuntime
) -> Result:
    """Move one of the caller's upcoming appointments to a new day and time.

    Keeps the type and, if free, the doctor. The old time is released only if
    the new one is booked. If the new time is taken, the reply offers nearby
    free times.

    Args:
        appointment_id: The appointment number, as given by list_my_appointments.
        day: The new day as YYYY-MM-DD.
        time: The new start time as HH:MM, 24-hour; quarter hours only.
    """
    return await guarded("reschedule_appointment", _reschedule(runtime, appointment_id, day, time))


BOOKING_TOOLS = [check_availability, book_appointment, cancel_appointment, reschedule_appointment]
