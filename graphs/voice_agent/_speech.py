"""Say dates, times and appointments the way a TTS reads them well.

Piper reads digits as one cardinal ("2345") and the phrase splitter cuts at a
full stop followed by a space, so everything here is words, and a time ending
in "a.m."/"p.m." is placed at the end of a clause (followed by a comma or the
end of the sentence) rather than in the middle of one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ._numbers import cardinal_words, ordinal_words

_CLOCK_IN_TEXT = re.compile(r"\b(\d{1,2})(?::(\d\d))?\s*([AaPp])\.?\s?[Mm]\b\.?")
_NUMBER_IN_TEXT = re.compile(r"\b\d{1,3}\b")

__all__ = [
    "appointment_phrase",
    "day_phrase",
    "join_words",
    "sentence",
    "speakable",
    "time_phrase",
    "times_phrase",
    "when_phrase",
]

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _clock(hhmm: str) -> tuple[str, str]:
    """ "15:30" -> ("three thirty", "p.m."); noon has no marker."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    if (hour, minute) == (12, 0):
        return "noon", ""
    words = cardinal_words(hour % 12 or 12)
    if minute:
        words += f" oh {cardinal_words(minute)}" if minute < 10 else f" {cardinal_words(minute)}"
    return words, "a.m." if hour < 12 else "p.m."


def time_phrase(hhmm: str) -> str:
    """ "15:00" -> "three p.m.", "09:05" -> "nine oh five a.m.", "12:00" -> "noon"."""
    words, marker = _clock(hhmm)
    return f"{words} {marker}".strip()


def join_words(items: Sequence[str], conjunction: str = "and") -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def times_phrase(times: Sequence[str], conjunction: str = "or") -> str:
    """Several times, sharing "a.m."/"p.m.": "nine, nine thirty or ten a.m."."""
    groups: list[tuple[str, list[str]]] = []
    for hhmm in times:
        words, marker = _clock(hhmm)
        if groups and groups[-1][0] == marker and marker:
            groups[-1][1].append(words)
        else:
            groups.append((marker, [words]))
    parts = [f"{join_words(ws, conjunction)} {marker}".strip() for marker, ws in groups]
    if len(parts) == 1:
        return parts[0]
    return f"{', '.join(parts[:-1])}, {conjunction} {parts[-1]}"


def day_phrase(day: dt.date) -> str:
    """ "Tuesday, December first"."""
    return (
        f"{_WEEKDAY_NAMES[day.weekday()]}, {_MONTH_NAMES[day.month - 1]} {ordinal_words(day.day)}"
    )


def when_phrase(day: dt.date, hhmm: str) -> str:
    """ "on Tuesday, December first, at three p.m." (noon: "at noon")."""
    return f"on {day_phrase(day)}, at {time_phrase(hhmm)}"


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
    return f"{text} {when_phrase(day, time)}" if time else f"{text} on {day_phrase(day)}"


def sentence(text: str) -> str:
    """End ``text`` with one full stop (times already end in "a.m."/"p.m.")."""
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _number(n: int) -> str:
    """0-999 in words."""
    hundreds, rest = divmod(n, 100)
    if not hundreds:
        return cardinal_words(rest) if rest < 60 else _under_hundred(rest)
    head = f"{cardinal_words(hundreds)} hundred"
    return head if not rest else f"{head} {_number(rest)}"


def _under_hundred(n: int) -> str:
    tens, unit = divmod(n, 10)
    word = {6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}[tens]
    return word if not unit else f"{word} {cardinal_words(unit)}"


def speakable(text: str) -> str:
    """A tool's sentence with its clock times and small numbers in words.

    >>> speakable("Open 9 AM to 5:30 PM at 42 River Road.")
    'Open nine a.m. to five thirty p.m. at forty two River Road.'
    """

    def clock(m: re.Match[str]) -> str:
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if not 1 <= hour <= 12 or minute > 59:
            return m.group(0)
        pm = m.group(3).lower() == "p"
        hour_24 = (hour % 12) + (12 if pm else 0)
        return time_phrase(f"{hour_24:02d}:{minute:02d}")

    text = _CLOCK_IN_TEXT.sub(clock, text)
    text = _NUMBER_IN_TEXT.sub(lambda m: _number(int(m.group(0))), text)
    return sentence(re.sub(r"\.\.+", ".", text))
