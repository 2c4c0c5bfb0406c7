"""Lenient readers for the days, times and names a model passes to the tools.

The tools ask for ISO dates and 24-hour times, but a model (or a caller's
words copied through) will also say "tomorrow", "Friday", "March 4th", "3pm".
Each reader returns None when it cannot tell, so the tool can ask again
politely instead of guessing.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta

__all__ = ["clean_name", "parse_day", "parse_part_of_day", "parse_time"]

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_LAST_PM_HOUR = 8  # "at 3" means 3 PM: the clinic opens at 9 and closes by 5
_ORDINAL = r"(\d{1,2})(?:st|nd|rd|th)?"


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9:/\-. ]+", " ", text.lower()).split())


def _month(word: str) -> int | None:
    for number, name in enumerate(_MONTHS, start=1):
        if len(word) >= 3 and name.startswith(word):
            return number
    return None


def _on_or_after(today: date, month: int, day: int, year: int | None) -> date | None:
    try:
        if year is not None:
            return date(year, month, day)
        candidate = date(today.year, month, day)
        return candidate if candidate >= today else date(today.year + 1, month, day)
    except ValueError:
        return None


def parse_day(text: str, today: date) -> date | None:
    """Read a day.

    Understands ``YYYY-MM-DD``, "today", "tomorrow", "the day after tomorrow",
    weekday names ("Friday" is the next Friday on or after today, "next Friday"
    the first one after today), "March 4th" / "4 March" / "the 4th of March"
    (this year, or next year once passed), "the 4th", and US "3/4".

    Args:
        text: The day as written by the model.
        today: The clinic's current date.

    Returns:
        The date, or None if it cannot be read.
    """
    said = _words(text)
    if iso := re.search(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", said):
        return _on_or_after(today, int(iso.group(2)), int(iso.group(3)), int(iso.group(1)))
    if "day after tomorrow" in said:
        return today + timedelta(days=2)
    if re.search(r"\btomorrow\b", said):
        return today + timedelta(days=1)
    if re.search(r"\b(today|tonight)\b", said):
        return today
    year_match = re.search(r"\b(20\d{2})\b", said)
    year = int(year_match.group(1)) if year_match else None
    for token_match in re.finditer(r"[a-z]+", said):
        month = _month(token_match.group(0))
        if month is None:
            continue
        after = re.match(rf"\s+(?:the\s+)?{_ORDINAL}\b", said[token_match.end() :])
        before = re.search(rf"\b{_ORDINAL}\s+(?:of\s+)?$", said[: token_match.start()])
        number = after or before
        if number:
            return _on_or_after(today, month, int(number.group(1)), year)
    for weekday, name in enumerate(_WEEKDAYS):
        if re.search(rf"\b{name}\b", said):
            ahead = (weekday - today.weekday()) % 7
            if ahead == 0 and re.search(rf"\bnext\s+{name}\b", said):
                ahead = 7
            return today + timedelta(days=ahead)
    if slash := re.search(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b", said):
        month, day = int(slash.group(1)), int(slash.group(2))
        raw_year = slash.group(3)
        full_year = None if raw_year is None else int(raw_year) % 100 + 2000
        return _on_or_after(today, month, day, full_year)
    if nth := re.search(rf"\bthe\s+{_ORDINAL}\b", said):
        wanted = int(nth.group(1))
        for ahead in range(62):
            candidate = today + timedelta(days=ahead)
            if candidate.day == wanted:
                return candidate
    return None


def parse_time(text: str) -> time | None:
    """Read a time of day.

    Understands ``HH:MM`` (24 h), "9", "9:30", "930", "3pm", "3:30 p.m.",
    "10 o'clock", "noon". Without AM/PM, 1 to 8 mean the afternoon (the
    clinic's hours are 9 AM to 5 PM).

    Args:
        text: The time as written by the model.

    Returns:
        The time, or None if it cannot be read.
    """
    said = _words(text).replace("o clock", "").replace("oclock", "")
    said = re.sub(r"\b(at|around|about)\b", " ", said).strip()
    if re.fullmatch(r"(12\s*)?(noon|midday)", said):
        return time(12, 0)
    match = re.fullmatch(
        r"(\d{1,2})(?:[:.h]?(\d{2}))?\s*(a\.?\s?m\.?|p\.?\s?m\.?)?", said.replace(" ", "")
    )
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    meridiem = (match.group(3) or "").replace(".", "").replace(" ", "")
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    elif 1 <= hour <= _LAST_PM_HOUR:
        hour += 12
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def parse_part_of_day(text: str | None) -> str | None:
    """Map "AM", "evening", "later" to "morning" or "afternoon"; None means all day."""
    said = _words(text or "").replace(".", "")
    if re.search(r"\b(morning|am|early)\b", said):
        return "morning"
    if re.search(r"\b(afternoon|pm|evening|late|later|lunch)\b", said):
        return "afternoon"
    return None


def clean_name(text: str) -> str:
    """A patient's name as given, tidied: "maria  LOPEZ" -> "Maria Lopez", "McKay" kept."""
    words = re.sub(r"[^\w' .-]+", " ", text).split()
    tidy = [w.title() if (w.islower() or w.isupper()) else w for w in words]
    return " ".join(tidy).strip(" .-'")
