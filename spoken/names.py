"""English weekday and month names, the same whatever the process locale.

``strftime`` names days and months in the locale's language, so a server
started under ``LANG=de_DE.UTF-8`` would tell an English-speaking caller (and
the model's prompt) "Dienstag". The names here are the ones the readers
accept and the voice says.
"""

from __future__ import annotations

import datetime as dt

__all__ = [
    "MONTHS",
    "MONTH_ALIASES",
    "WEEKDAYS",
    "WEEKDAY_ALIASES",
    "month_name",
    "weekday_name",
]

WEEKDAYS: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
"""Weekday words, Monday first (``date.weekday()`` is the index)."""

MONTHS: tuple[str, ...] = tuple(
    "january february march april may june july august september october november december".split()
)
"""Month words, January first (``date.month - 1`` is the index)."""

WEEKDAY_ALIASES: dict[str, int] = {
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "wed": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
"""Written short forms (a model's "Tues 3/4"), to the weekday index."""

MONTH_ALIASES: dict[str, int] = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
"""Written short forms ("Dec. 3rd"), to the month number."""


def weekday_name(day: dt.date) -> str:
    """ "Tuesday", in English whatever the locale."""
    return WEEKDAYS[day.weekday()].title()


def month_name(day: dt.date) -> str:
    """ "December", in English whatever the locale."""
    return MONTHS[day.month - 1].title()
