"""Saying times, days and small numbers the way a TTS reads them well.

Piper reads digits as one cardinal ("2345") and the phrase splitter cuts at
a full stop followed by a space, so everything said here is words ("nine
thirty a.m.", "Tuesday, December first"), and a time ending in "a.m." or
"p.m." belongs at the end of a clause (before a comma or the end of the
sentence) rather than in the middle of one. Weekday and month names are
English whatever the process locale (:mod:`spoken.names`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from spoken.names import month_name, weekday_name
from spoken.numbers import say_number, say_ordinal

__all__ = [
    "join_words",
    "say_day",
    "say_time",
    "say_times",
    "sentence",
    "speakable",
]

_CLOCK_IN_TEXT = re.compile(r"\b(\d{1,2})(?::(\d\d))?\s*([AaPp])\.?\s?[Mm]\b\.?")
_NUMBER_IN_TEXT = re.compile(r"\b\d{1,3}\b")  # longer runs are codes, said as they are


def _clock(at: dt.time | str) -> tuple[str, str]:
    """ "15:30" -> ("three thirty", "p.m."); noon has no marker."""
    if isinstance(at, str):
        at = dt.time.fromisoformat(at)
    if (at.hour, at.minute) == (12, 0):
        return "noon", ""
    words = say_number(at.hour % 12 or 12)
    if at.minute:
        minutes = say_number(at.minute)
        words += f" oh {minutes}" if at.minute < 10 else f" {minutes}"
    return words, "a.m." if at.hour < 12 else "p.m."


def say_time(at: dt.time | str) -> str:
    """A clock time in words.

    >>> say_time("15:00"), say_time("09:05"), say_time("12:00")
    ('three p.m.', 'nine oh five a.m.', 'noon')

    Args:
        at: A time, or ``"HH:MM"`` on the 24-hour clock.
    """
    words, marker = _clock(at)
    return f"{words} {marker}".strip()


def join_words(items: Sequence[str], conjunction: str = "and") -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def say_times(times: Sequence[dt.time | str], conjunction: str = "or") -> str:
    """Several times, sharing "a.m."/"p.m.": "nine, nine thirty or ten a.m.".

    Noon, which has no marker, goes with the afternoon times after it:
    "noon, twelve thirty or one p.m.".
    """
    groups: list[tuple[str, list[str]]] = []
    for at in times:
        words, marker = _clock(at)
        last = groups[-1] if groups else None
        if last and marker and last[0] in (marker, "") and (last[0] or marker == "p.m."):
            groups[-1] = (marker, [*last[1], words])
        else:
            groups.append((marker, [words]))
    parts = [f"{join_words(ws, conjunction)} {marker}".strip() for marker, ws in groups]
    if len(parts) == 1:
        return parts[0]
    return f"{', '.join(parts[:-1])}, {conjunction} {parts[-1]}"


def say_day(day: dt.date, today: dt.date | None = None) -> str:
    """A date in words: "Tuesday, December first", or "today" and "tomorrow".

    Args:
        day: The date to say.
        today: When given, "today" and "tomorrow" are said for those two days.
    """
    if today is not None:
        if day == today:
            return "today"
        if day == today + dt.timedelta(days=1):
            return "tomorrow"
    return f"{weekday_name(day)}, {month_name(day)} {say_ordinal(day.day)}"


def sentence(text: str) -> str:
    """End ``text`` with one full stop (times already end in "a.m."/"p.m.")."""
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def speakable(text: str) -> str:
    """A written sentence with its clock times and small numbers in words.

    >>> speakable("Open 9 AM to 5:30 PM at 42 River Road.")
    'Open nine a.m. to five thirty p.m. at forty two River Road.'
    """

    def clock(m: re.Match[str]) -> str:
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        if not 1 <= hour <= 12 or minute > 59:
            return m.group(0)
        pm = m.group(3).lower() == "p"
        return say_time(dt.time(hour % 12 + (12 if pm else 0), minute))

    text = _CLOCK_IN_TEXT.sub(clock, text)
    text = _NUMBER_IN_TEXT.sub(lambda m: say_number(int(m.group(0))), text)
    return sentence(re.sub(r"\.\.+", ".", text))
