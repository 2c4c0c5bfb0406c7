"""Reading clock times and parts of the day, from a caller's words or a model's text.

Works on folded words (:func:`spoken.words.fold`): "three thirty", "half past
two", "quarter to four", "nine oh five", "3pm", "15:30", "930", "noon".

An hour said without a.m. or p.m. is read in the hours of the place that
asks: below its opening hour it is the afternoon, so "three" at a clinic
that opens at 9 is 15:00 and "nine" is 09:00. The opening hour is a
parameter (``opens_at``), the caller's business, not this module's. A clock
written the 24-hour way ("15:30", "08:00") is taken as written.

Bare numbers are times only when the dialogue asked for a time (``loose``),
or with a word that makes them one ("at three", "three o'clock", "three
thirty", "three pm"); "i need three things" has no time in it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Literal

from spoken.numbers import CARDINALS, DIGIT_WORDS, number_at
from spoken.words import fold

__all__ = ["PartOfDay", "TimeFound", "find_times", "parse_part_of_day", "parse_time"]

PartOfDay = Literal["morning", "afternoon"]
TimeFound = tuple[int, str]
"""A time found in a word list: (position, ``"HH:MM"``)."""

_TIME_ANCHORS = frozenset({"at", "around", "about", "by", "say", "maybe", "it", "for", "until"})
_CLOCK = re.compile(r"(\d{1,2}):(\d\d)")
_RUN_OF_DIGITS = re.compile(r"(\d{1,2})(\d\d)")  # "930", "1530": a clock without its colon
_PAST_WORDS = frozenset({"past", "after"})
_TO_WORDS = frozenset({"to", "till", "before", "of"})
_NOON_WORDS = frozenset({"noon", "midday", "lunchtime"})
_ZEROS = frozenset(word for word, n in DIGIT_WORDS.items() if n == 0 and word != "zero")
_MINUTES_PER_DAY = 24 * 60


def _hour(hour: int, meridiem: str | None, opens_at: int) -> int | None:
    """A spoken hour on the 24-hour clock; without am/pm, one when the place is open."""
    if meridiem == "pm":
        return hour + 12 if hour < 12 else hour
    if meridiem == "am":
        return 0 if hour == 12 else hour
    if hour == 0:
        return None
    if hour < opens_at:
        return hour + 12  # "three" at a place open from 9 is 15:00
    return hour if hour <= 23 else None


def _meridiem_at(words: Sequence[str], j: int) -> tuple[str | None, int]:
    """An am/pm marker at ``words[j]``: (marker, words used)."""
    w = words[j] if j < len(words) else ""
    if w in {"am", "pm"}:
        return w, 1
    if w == "in" and j + 2 < len(words) and words[j + 1] == "the":
        if words[j + 2] == "morning":
            return "am", 3
        if words[j + 2] in {"afternoon", "evening"}:
            return "pm", 3
    return None, 0


def _minutes_at(words: Sequence[str], j: int) -> tuple[int, int] | None:
    """Spoken minutes after an hour: "thirty", "forty five", "oh five", "30"."""
    if j >= len(words):
        return None
    w = words[j]
    if w in _ZEROS and j + 1 < len(words) and 0 < CARDINALS.get(words[j + 1], 0) < 10:
        return CARDINALS[words[j + 1]], 2
    if w.isdigit() and len(w) == 2:
        return (int(w), 1) if int(w) < 60 else None
    number = number_at(words, j)
    if number and not number.ordinal and 10 <= number.value < 60:
        return number.value, number.length
    return None


def _relative_minutes(words: Sequence[str], i: int) -> tuple[int, int, int] | None:
    """ "half past two", "quarter to four", "ten past nine": (signed minutes, hour, words)."""
    j = i + (1 if words[i] == "a" else 0)
    if j >= len(words):
        return None
    if words[j] == "half":
        minutes, j = 30, j + 1
    elif words[j] == "quarter":
        minutes, j = 15, j + 1
    elif (n := number_at(words, j)) and not n.ordinal and n.value in {5, 10, 20, 25}:
        minutes, j = n.value, j + n.length
        if j < len(words) and words[j] == "minutes":
            j += 1
    else:
        return None
    if j + 1 >= len(words) or words[j] not in _PAST_WORDS | _TO_WORDS:
        return None
    direction = 1 if words[j] in _PAST_WORDS else -1
    if minutes == 30 and direction < 0:
        return None
    hour = number_at(words, j + 1)
    if not hour or hour.ordinal or not 1 <= hour.value <= 12:
        return None
    if direction < 0 and words[i - 1 : i] == ["from"]:
        return None  # "from ten to four" is a range, not 15:50
    return direction * minutes, hour.value, j + 1 + hour.length - i


def _written_clock(hour_text: str, minute: int, meridiem: str | None, opens_at: int) -> str | None:
    """ "15:30", "3:30" (+ am/pm), "08:00": a clock written with digits, as ``"HH:MM"``."""
    hour = int(hour_text)
    if hour > 12 or (len(hour_text) == 2 and hour_text.startswith("0") and meridiem is None):
        hour_24: int | None = hour  # written the 24-hour way
    else:
        hour_24 = _hour(hour, meridiem, opens_at)
    if hour_24 is None or hour_24 >= 24 or minute >= 60:
        return None
    return f"{hour_24:02d}:{minute:02d}"


def find_times(
    words: Sequence[str], used: set[int], *, loose: bool, opens_at: int
) -> list[TimeFound]:
    """Every time mentioned in a word list, in order.

    Args:
        words: Folded words (:func:`spoken.words.fold`).
        used: Indices already read as something else (a day's "third").
        loose: A time was asked for, so a bare number is one ("three").
        opens_at: The hour the place opens: an hour below it without am/pm
            is the afternoon.
    """
    found: list[TimeFound] = []
    i = 0
    while i < len(words):
        if i in used:
            i += 1
            continue
        w = words[i]
        prev = words[i - 1] if i else ""
        if w in _NOON_WORDS:
            found.append((i, "12:00"))
        elif m := _CLOCK.fullmatch(w):
            meridiem, _ = _meridiem_at(words, i + 1)
            if clock := _written_clock(m.group(1), int(m.group(2)), meridiem, opens_at):
                found.append((i, clock))
        elif m := _RUN_OF_DIGITS.fullmatch(w):
            meridiem, _ = _meridiem_at(words, i + 1)
            explicit = loose or prev in _TIME_ANCHORS or meridiem is not None
            clock = _written_clock(m.group(1), int(m.group(2)), meridiem, opens_at)
            if explicit and clock:
                found.append((i, clock))
        elif (offset := _relative_minutes(words, i)) is not None:
            minutes, hour, length = offset
            meridiem, _ = _meridiem_at(words, i + length)
            if (hour_24 := _hour(hour, meridiem, opens_at)) is not None:
                total = (hour_24 * 60 + minutes) % _MINUTES_PER_DAY
                found.append((i, f"{total // 60:02d}:{total % 60:02d}"))
            i += length
            continue
        elif (number := number_at(words, i)) is not None and not number.ordinal:
            hour, length = number.value, number.length
            j = i + length
            minute = 0
            explicit = prev in _TIME_ANCHORS
            if spoken_minutes := _minutes_at(words, j):
                minute, j = spoken_minutes[0], j + spoken_minutes[1]
                explicit = True
            if j < len(words) and words[j] == "oclock":
                j, explicit = j + 1, True
            meridiem, length = _meridiem_at(words, j)
            explicit = explicit or meridiem is not None
            valid = 1 <= hour <= 12 or (length == 0 and 13 <= hour <= 23 and words[i].isdigit())
            if words[i] == "one" and not explicit and len(words) > 1:
                valid = False  # "the second one", "that one": a choice, not 1 p.m.
            if valid and (explicit or loose) and (hour_24 := _hour(hour, meridiem, opens_at)):
                found.append((i, f"{hour_24:02d}:{minute:02d}"))
                i = j + length
                continue
        i += 1
    return found


def parse_time(text: str, *, opens_at: int, loose: bool = True) -> dt.time | None:
    """Read the time of day named in ``text``; the last one when several.

    Understands "15:30", "9", "9:30", "930", "3pm", "3:30 p.m.", "10
    o'clock", "noon", "three thirty", "half past two", "quarter to four",
    "four in the afternoon".

    Args:
        text: What the model wrote or the caller said.
        opens_at: The hour the place opens: "3" at a place open from 9 is 15:00.
        loose: A bare number is a time (the text is an answer to "what
            time?", as a tool's time argument is); ``False`` in free speech.

    Returns:
        The time, or None when the text names none.
    """
    found = find_times(fold(text).split(), set(), loose=loose, opens_at=opens_at)
    if not found:
        return None
    hour, minute = found[-1][1].split(":")
    return dt.time(int(hour), int(minute))


_MORNING = re.compile(r"\bmornings?\b|\bearly\b")
_AFTERNOON = re.compile(r"\bafternoons?\b|\bevenings?\b|\bafter lunch\b|\blater? in the day\b")


def parse_part_of_day(text: str | None) -> PartOfDay | None:
    """ "morning" or "afternoon" (evening and after lunch count as the afternoon).

    A lone "am" or "pm" ("AM", "p.m.") names one too, but not the marker of a
    time ("three pm" is a time, already in the afternoon). None (no text, or
    "any time") means the whole day.
    """
    words = fold(text or "").split()
    said = " ".join(words)
    marker = next(
        (w for i, w in enumerate(words) if w in {"am", "pm"} and not _after_a_number(words, i)),
        None,
    )
    if _MORNING.search(said) or marker == "am":
        return "morning"
    if _AFTERNOON.search(said) or marker == "pm":
        return "afternoon"
    return None


def _after_a_number(words: Sequence[str], i: int) -> bool:
    before = words[i - 1] if i else ""
    return before[:1].isdigit() or before in CARDINALS or before == "oclock"
