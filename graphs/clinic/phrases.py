"""How the clinic reads an appointment back: "a checkup with Dr. Patel on Tuesday, ...".

Saying days and times is :mod:`spoken.saying`'s (words, not digits, for the
TTS); what is the clinic's here is the shape of a read-back: the kind of
visit, the doctor, then "on <day>, at <time>" with the time at the end of a
clause, where "a.m."/"p.m." cannot be taken for the end of a sentence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from spoken.saying import say_day, say_time

__all__ = ["appointment_phrase", "when_phrase"]


def when_phrase(day: dt.date, hhmm: str) -> str:
    """ "on Tuesday, December first, at three p.m." (noon: "at noon")."""
    return f"on {say_day(day)}, at {say_time(hhmm)}"


def appointment_phrase(appointment: Mapping[str, Any], *, article: str | None = None) -> str:
    """ "a checkup with Dr. Patel on Tuesday, December first, at three p.m.".

    ``article`` replaces "a"/"an" ("your checkup ...").
    """
    kind = appointment.get("appointment_type") or "appointment"
    if article is None:
        article = "an" if kind[0] in "aeiou" else "a"
    doctor = appointment.get("doctor")
    text = f"{article} {kind}" + (f" with {doctor}" if doctor else "")
    try:
        day = dt.date.fromisoformat(str(appointment.get("day")))
    except ValueError:
        return text
    time = appointment.get("time")
    return f"{text} {when_phrase(day, time)}" if time else f"{text} on {say_day(day)}"
