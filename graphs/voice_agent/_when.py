"""Days and clock times in the words a caller uses, for the clinic's NLU.

Works on the word list of normalised text (see ``nlu.normalise``). Days come
first and report the words they used, so the time reader can skip them ("the
third" is a date, never 3 p.m.). Hours without am/pm are read in clinic hours:
"three" is 15:00 and "nine" 09:00 because the clinic is open 09:00-17:00.
"""

from __future__ import annotations

import datetime as dt
import re

from ._numbers import CARDINALS, ORDINALS, TENS, words_of

__all__ = [
    "CLINIC_CLOSE_HOUR",
    "CLINIC_OPEN_HOUR",
    "LIST_NOUNS",
    "MONTHS",
    "WEEKDAYS",
    "find_days",
    "find_times",
    "ordinal_only",
]

CLINIC_OPEN_HOUR = 9  # DESIGN.md section 6: Monday-Friday 09:00-17:00, Saturday 09:00-12:00
CLINIC_CLOSE_HOUR = 17

# --- numbers -----------------------------------------------------------------------

_DIGIT_ORDINAL = re.compile(r"(\d{1,2})(?:st|nd|rd|th)")


def _number_at(words: list[str], i: int) -> tuple[int, int, bool] | None:
    """The number starting at ``words[i]``: (value, words used, is ordinal)."""
    w = words[i]
    if w.isdigit() and len(w) <= 2:
        return int(w), 1, False
    if m := _DIGIT_ORDINAL.fullmatch(w):
        return int(m.group(1)), 1, True
    nxt = words[i + 1] if i + 1 < len(words) else ""
    if w in TENS:
        if 0 < CARDINALS.get(nxt, 0) < 10:
            return TENS[w] + CARDINALS[nxt], 2, False
        if 0 < ORDINALS.get(nxt, 0) < 10:
            return TENS[w] + ORDINALS[nxt], 2, True
    if w in CARDINALS:
        return CARDINALS[w], 1, False
    if w in ORDINALS:
        return ORDINALS[w], 1, True
    return None


# --- days --------------------------------------------------------------------------

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = words_of(
    "january february march april may june july august september october november december"
)
_MONTH_ALIASES = {"sept": 9, "dec": 12, "nov": 11, "oct": 10, "jan": 1, "feb": 2, "aug": 8}
LIST_NOUNS = frozenset({"one", "ones", "option", "appointment", "time", "slot", "choice"})


def _month_at(words: list[str], i: int) -> int | None:
    w = words[i]
    if w in MONTHS:
        return MONTHS.index(w) + 1
    return _MONTH_ALIASES.get(w)


def _day_of_month(today: dt.date, day: int) -> dt.date | None:
    """The next date (from today) with this day of the month."""
    year, month = today.year, today.month
    for _ in range(3):
        if day >= (today.day if (year, month) == (today.year, today.month) else 1):
            try:
                return dt.date(year, month, day)
            except ValueError:
                pass
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _month_day(today: dt.date, month: int, day: int) -> dt.date | None:
    for year in (today.year, today.year + 1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            return None
        if candidate >= today:
            return candidate
    return None  # pragma: no cover - the second year is always in the future


def _weekday(today: dt.date, weekday: int, qualifier: str) -> dt.date:
    """Resolve a weekday name.

    Plain "friday" is the next Friday after today; "this friday" may be today;
    "next friday" is the Friday of next week (Monday-based). The dialogue reads
    the full date back, so a caller who meant another Friday hears it.
    """
    if qualifier == "next":
        monday = today - dt.timedelta(days=today.weekday())
        return monday + dt.timedelta(days=7 + weekday)
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and qualifier != "this":
        ahead = 7
    return today + dt.timedelta(days=ahead)


def find_days(
    words: list[str], today: dt.date, *, bare_ordinals: bool
) -> list[tuple[int, dt.date, set[int]]]:
    """Every day mentioned: (position, date, word indices used)."""
    found: list[tuple[int, dt.date, set[int]]] = []
    i = 0
    while i < len(words):
        w = words[i]
        prev = words[i - 1] if i else ""
        nxt = words[i + 1] if i + 1 < len(words) else ""
        hit: tuple[dt.date, set[int]] | None = None
        if w == "tomorrow":
            used = {i}
            if prev == "after" and i >= 2 and words[i - 2] == "day":
                used |= {i - 2, i - 1}
                hit = (today + dt.timedelta(days=2), used)
            else:
                hit = (today + dt.timedelta(days=1), used)
        elif w in {"today", "tonight"} or (w == "this" and nxt in {"morning", "afternoon"}):
            hit = (today, {i})
        elif w.rstrip("s") in WEEKDAYS:
            qualifier = prev if prev in {"next", "this", "coming"} else ""
            used = {i, i - 1} if qualifier else {i}
            hit = (_weekday(today, WEEKDAYS.index(w.rstrip("s")), qualifier), used)
        elif (month := _month_at(words, i)) is not None:
            number = _number_at(words, i + 1) if nxt else None
            if number and 1 <= number[0] <= 31:
                used = {i, *range(i + 1, i + 1 + number[1])}
                if (d := _month_day(today, month, number[0])) is not None:
                    hit = (d, used)
            # "the third of december" is handled when the number is reached
        elif (number := _number_at(words, i)) is not None and 1 <= number[0] <= 31:
            value, length, ordinal = number
            after = i + length
            if after + 1 < len(words) and words[after] == "of":
                month = _month_at(words, after + 1)
                if month is not None and (d := _month_day(today, month, value)):
                    hit = (d, {*range(i, after + 2), *({i - 1} if prev == "the" else set())})
            elif after < len(words) and (month := _month_at(words, after)) is not None:
                if d := _month_day(today, month, value):
                    hit = (d, set(range(i, after + 1)))
            elif (ordinal and (prev in {"the", "on"} or bare_ordinals)) or (
                not ordinal and prev == "the" and i >= 2 and words[i - 2] == "on"
            ):
                following = words[after] if after < len(words) else ""
                if following not in LIST_NOUNS and (d := _day_of_month(today, value)):
                    hit = (d, {*range(i, after), *({i - 1} if prev in {"the", "on"} else set())})
            if hit:
                i = after - 1
        if hit:
            found.append((i, *hit))
        i += 1
    return found


# --- times -------------------------------------------------------------------------

_TIME_ANCHORS = frozenset({"at", "around", "about", "by", "say", "maybe", "it", "for", "until"})
_CLOCK = re.compile(r"(\d{1,2}):(\d\d)")
_PAST_WORDS = frozenset({"past", "after"})
_TO_WORDS = frozenset({"to", "till", "before", "of"})


def _clinic_hour(hour: int, meridiem: str | None) -> int | None:
    """Resolve a spoken hour; without am/pm, the one the clinic is open at."""
    if meridiem == "pm":
        return hour + 12 if hour < 12 else hour
    if meridiem == "am":
        return 0 if hour == 12 else hour
    if hour == 0:
        return None
    if hour < CLINIC_OPEN_HOUR:
        return hour + 12  # "three" at a clinic open 09-17 is 15:00
    return hour if hour <= 23 else None


def _meridiem_at(words: list[str], j: int) -> tuple[str | None, int]:
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


def _minutes_at(words: list[str], j: int) -> tuple[int, int] | None:
    """Spoken minutes after an hour: "thirty", "forty five", "oh five", "30"."""
    if j >= len(words):
        return None
    w = words[j]
    if w in {"oh", "o"} and j + 1 < len(words) and 0 < CARDINALS.get(words[j + 1], 0) < 10:
        return CARDINALS[words[j + 1]], 2
    if w.isdigit() and len(w) == 2:
        return (int(w), 1) if int(w) < 60 else None
    number = _number_at(words, j)
    if number and not number[2] and 10 <= number[0] < 60:
        return number[0], number[1]
    return None


def find_times(words: list[str], used: set[int], *, loose: bool) -> list[tuple[int, str]]:
    """Every time mentioned: (position, "HH:MM")."""
    found: list[tuple[int, str]] = []
    i = 0
    while i < len(words):
        if i in used:
            i += 1
            continue
        w = words[i]
        prev = words[i - 1] if i else ""
        if w in {"noon", "midday", "lunchtime"}:
            found.append((i, "12:00"))
        elif m := _CLOCK.fullmatch(w):
            hour, minute = int(m.group(1)), int(m.group(2))
            meridiem, _ = _meridiem_at(words, i + 1)
            hour_24 = _clinic_hour(hour, meridiem) if hour <= 12 else hour
            if hour_24 is not None and hour_24 < 24 and minute < 60:
                found.append((i, f"{hour_24:02d}:{minute:02d}"))
        elif (offset := _relative_minutes(words, i)) is not None:
            minutes, hour, length = offset
            meridiem, _ = _meridiem_at(words, i + length)
            if (hour_24 := _clinic_hour(hour, meridiem)) is not None:
                total = (hour_24 * 60 + minutes) % (24 * 60)
                found.append((i, f"{total // 60:02d}:{total % 60:02d}"))
            i += length
            continue
        elif (number := _number_at(words, i)) is not None and not number[2]:
            hour, length, _ = number
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
            if valid and (explicit or loose) and (hour_24 := _clinic_hour(hour, meridiem)):
                found.append((i, f"{hour_24:02d}:{minute:02d}"))
                i = j + length
                continue
        i += 1
    return found


def _relative_minutes(words: list[str], i: int) -> tuple[int, int, int] | None:
    """ "half past two", "quarter to four", "ten past nine": (signed minutes, hour, words)."""
    j = i + (1 if words[i] == "a" else 0)
    if j >= len(words):
        return None
    if words[j] == "half":
        minutes, j = 30, j + 1
    elif words[j] == "quarter":
        minutes, j = 15, j + 1
    elif (number := _number_at(words, j)) and not number[2] and number[0] in {5, 10, 20, 25}:
        minutes, j = number[0], j + number[1]
        if j < len(words) and words[j] == "minutes":
            j += 1
    else:
        return None
    if j + 1 >= len(words) or words[j] not in _PAST_WORDS | _TO_WORDS:
        return None
    direction = 1 if words[j] in _PAST_WORDS else -1
    if minutes == 30 and direction < 0:
        return None
    hour = _number_at(words, j + 1)
    if not hour or hour[2] or not 1 <= hour[0] <= 12:
        return None
    if direction < 0 and words[i - 1 : i] == ["from"]:
        return None  # "from ten to four" is a range, not 15:50
    return direction * minutes, hour[0], j + 1 + hour[1] - i


def ordinal_only(words: list[str], used: set[int]) -> bool:
    """Whether a day was read from a bare ordinal ("the second"), not a month or weekday."""
    return all(
        words[i] in ORDINALS or words[i] in {"the", "on"} or _DIGIT_ORDINAL.fullmatch(words[i])
        for i in used
    )
