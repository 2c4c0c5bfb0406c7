"""Reading days: from the words a caller says, and from the text a model writes.

Two readers, one meaning:

- :func:`find_days` reads a recogniser's word list ("the twenty third of
  december", "next friday", "tuesday the first") and reports the words it
  used, so the time reader can skip them ("the third" is a date, never 3
  p.m.). It runs on every caller turn, so it is plain Python (microseconds).
- :func:`parse_day` reads a tool's ``day`` argument. Dates written with
  digits (ISO "2026-12-03", "12/3", "March 4th, 2027") are dateparser's;
  words go to :func:`find_days`, which also reads what dateparser misreads
  (measured: "on the 5th" as May 3rd, "the 20th" as a day already past,
  "March 3" on March 3 as next year) or cannot read ("the twenty third of
  december"). dateparser loads its language data on the first parse
  (~0.2 s): :func:`warm` does it at start-up.

Weekdays mean one thing in both: "friday" is the next Friday after today
(said on a Friday, the one a week on: a caller meaning today says "today");
"this friday" may be today; "next friday" is the Friday of next week
(Monday-based), so "this" and "next" name different days. The dialogue reads
the full date back, so a caller who meant another Friday hears it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Literal

import dateparser  # type: ignore[import-untyped]  # no type information shipped

from spoken.names import MONTH_ALIASES, MONTHS, WEEKDAY_ALIASES, WEEKDAYS
from spoken.numbers import ORDINALS, number_at
from spoken.words import fold

__all__ = [
    "LIST_NOUNS",
    "DayFound",
    "find_days",
    "ordinal_only",
    "parse_day",
    "warm",
    "weekday_after",
]

LIST_NOUNS = frozenset({"one", "ones", "option", "appointment", "time", "slot", "choice"})
"""Words after an ordinal that make it a choice from a list ("the second one"), not a date."""

_DIGIT_ORDINAL = re.compile(r"\d{1,2}(?:st|nd|rd|th)")
_MONTHS_AHEAD = 3  # months searched for "the 31st" (February and 30-day months skip it)

DayFound = tuple[int, dt.date, set[int]]
"""A day found in a word list: (position, date, indices of the words it used)."""


def _month_at(words: Sequence[str], i: int) -> int | None:
    word = words[i] if 0 <= i < len(words) else ""
    if word in MONTHS:
        return MONTHS.index(word) + 1
    return MONTH_ALIASES.get(word)


def _day_of_month(today: dt.date, day: int) -> dt.date | None:
    """The next date (from today) with this day of the month."""
    year, month = today.year, today.month
    for _ in range(_MONTHS_AHEAD):
        if day >= (today.day if (year, month) == (today.year, today.month) else 1):
            try:
                return dt.date(year, month, day)
            except ValueError:
                pass
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _month_day(today: dt.date, month: int, day: int) -> dt.date | None:
    """This month and day, today or later (February 29th: the next leap year within one)."""
    for year in (today.year, today.year + 1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def weekday_after(today: dt.date, weekday: int, qualifier: str = "") -> dt.date:
    """The day a weekday name means, said on ``today``.

    Args:
        today: The day it is said.
        weekday: Monday = 0.
        qualifier: ``""`` (the next one after today), ``"this"`` (may be
            today), ``"coming"`` (as plain), ``"next"`` (the one in next week).
    """
    if qualifier == "next":
        monday = today - dt.timedelta(days=today.weekday())
        return monday + dt.timedelta(days=7 + weekday)
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and qualifier != "this":
        ahead = 7
    return today + dt.timedelta(days=ahead)


def find_days(words: Sequence[str], today: dt.date, *, bare_ordinals: bool) -> list[DayFound]:
    """Every day mentioned in a word list, in order.

    Args:
        words: Folded words (:func:`spoken.words.fold`).
        today: What "tomorrow" and "friday" count from.
        bare_ordinals: A lone "third" means the 3rd (the dialogue asked for a
            day); otherwise an ordinal needs "the" or "on" before it.
    """
    found: list[DayFound] = []
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
            hit = (weekday_after(today, WEEKDAYS.index(w.rstrip("s")), qualifier), used)
        elif (month := _month_at(words, i)) is not None:
            number = number_at(words, i + 1) if nxt else None
            if number and 1 <= number.value <= 31:
                used = {i, *range(i + 1, i + 1 + number.length)}
                if (d := _month_day(today, month, number.value)) is not None:
                    hit = (d, used)
            # "the third of december" is handled when the number is reached
        elif (number := number_at(words, i)) is not None and 1 <= number.value <= 31:
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


def ordinal_only(words: Sequence[str], used: set[int]) -> bool:
    """Whether a day was read from a bare ordinal ("the second"), not a month or weekday."""
    return all(
        words[i] in ORDINALS or words[i] in {"the", "on"} or _DIGIT_ORDINAL.fullmatch(words[i])
        for i in used
    )


# --- written dates (dateparser) ----------------------------------------------------

_WRITTEN_DATE = re.compile(r"\b\d{4}\b|\b\d{1,2}\s*[/.-]\s*\d{1,2}\b")  # a year, "3/14", ISO
_WRITTEN_YEAR = re.compile(r"\b\d{4}\b|\b\d{1,2}/\d{1,2}/\d{2}\b")  # "2027", "3/14/27"
_Prefer = Literal["future", "current_period"]
_SETTINGS = {
    "DATE_ORDER": "MDY",  # an American clinic: "3/4" is March 4th
    "REQUIRE_PARTS": ["day", "month"],  # "at 3" or "2027" alone is not a day
}


def _dateparser(text: str, today: dt.date, prefer: _Prefer) -> dt.date | None:
    """dateparser's reading of ``text`` (English only: it would otherwise guess a language)."""
    settings = {
        **_SETTINGS,
        "PREFER_DATES_FROM": prefer,
        "RELATIVE_BASE": dt.datetime.combine(today, dt.time()),
    }
    read = dateparser.parse(text, languages=["en"], settings=settings)
    if read is None:
        return None
    day: dt.date = read.date()
    return day


def _written(text: str, today: dt.date) -> dt.date | None:
    """A date written with digits, read by dateparser relative to ``today``.

    Two corrections of dateparser's future preference (both measured): with
    a year written there is nothing to prefer, and preferring moved "3/14/26"
    said in November 2026 to 2126; and today's own date ("3/3" on March 3rd)
    counts as past and moves a year on.
    """
    if _WRITTEN_YEAR.search(text):
        return _dateparser(text, today, "current_period")
    day = _dateparser(text, today, "future")  # "3/2" said on March 3rd is next year's
    moved_on = day is not None and day == _a_year_on(today)
    if moved_on and _dateparser(text, today, "current_period") == today:  # not "in 1 year"
        return today
    return day


def _a_year_on(today: dt.date) -> dt.date | None:
    try:
        return today.replace(year=today.year + 1)
    except ValueError:  # February 29th
        return None


def _expand_aliases(words: list[str]) -> list[str]:
    """ "tues" -> "tuesday": written short forms of weekdays (a recogniser writes words)."""
    return [WEEKDAYS[WEEKDAY_ALIASES[w]] if w in WEEKDAY_ALIASES else w for w in words]


def parse_day(text: str, today: dt.date) -> dt.date | None:
    """Read the day a model (or a caller's words copied through) names.

    Understands ISO ``YYYY-MM-DD`` and other dates written with digits
    ("3/14", "March 4th, 2027", "in 2 weeks"), "today", "tomorrow", "the day
    after tomorrow", weekday names with "this"/"next" (see the module
    docstring), "March 4th", "4 March", "the 4th of April", "the twenty
    third of december", "the 20th". A month and day without a year is the
    next one on or after today. When several days are named, the last wins
    ("Tuesday, no, Wednesday").

    Args:
        text: The day as written by the model.
        today: The date "tomorrow" counts from.

    Returns:
        The date, or None when the text names no day (the tool asks again).
    """
    if _WRITTEN_DATE.search(text) and (day := _written(text, today)) is not None:
        return day
    words = _expand_aliases(fold(text).split())
    if found := find_days(words, today, bare_ordinals=False):
        return found[-1][1]
    if any(ch.isdigit() for ch in text) and not _WRITTEN_DATE.search(text):
        return _written(text, today)
    return None


def warm() -> None:
    """Parse once, so dateparser's language data is loaded before the first call."""
    _dateparser("2000-01-01", dt.date(2000, 1, 1), "future")
