"""Saying times, days and numbers for a TTS: words, never digits, English names."""

from __future__ import annotations

import datetime as dt
import locale
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from spoken.days import parse_day
from spoken.names import month_name, weekday_name
from spoken.saying import join_words, say_day, say_time, say_times, sentence, speakable
from spoken.times import parse_time

MONDAY = dt.date(2025, 3, 3)


@pytest.mark.parametrize(
    ("at", "said"),
    [
        ("09:00", "nine a.m."),
        ("09:05", "nine oh five a.m."),
        ("15:30", "three thirty p.m."),
        ("12:00", "noon"),
        ("12:15", "twelve fifteen p.m."),
        ("00:30", "twelve thirty a.m."),
        (dt.time(17), "five p.m."),
    ],
)
def test_say_time(at: str | dt.time, said: str) -> None:
    assert say_time(at) == said


@pytest.mark.parametrize(
    ("times", "said"),
    [
        (["09:00", "09:30", "10:00"], "nine, nine thirty or ten a.m."),
        (["11:30", "12:00", "14:00"], "eleven thirty a.m., or noon or two p.m."),
        (["10:00", "15:00"], "ten a.m., or three p.m."),
        (["12:00", "12:30", "13:00"], "noon, twelve thirty or one p.m."),
        (["11:45", "12:00"], "eleven forty five a.m., or noon"),
        (["09:00"], "nine a.m."),
    ],
)
def test_times_share_their_marker(times: list[str], said: str) -> None:
    assert say_times(times) == said


def test_say_day() -> None:
    assert say_day(dt.date(2025, 3, 4), MONDAY) == "tomorrow"
    assert say_day(MONDAY, MONDAY) == "today"
    assert say_day(dt.date(2025, 3, 21)) == "Friday, March twenty first"
    assert say_day(dt.date(2026, 12, 1), MONDAY) == "Tuesday, December first"


@pytest.mark.parametrize("at", ["09:00", "09:45", "12:00", "13:15", "16:30", "23:05"])
def test_a_time_said_reads_back(at: str) -> None:
    assert parse_time(say_time(at), opens_at=0) == dt.time.fromisoformat(at)


def test_a_day_said_reads_back() -> None:
    for offset in range(2, 365, 5):  # within a year: the year is not said
        day = MONDAY + dt.timedelta(days=offset)
        assert parse_day(say_day(day), MONDAY) == day


def test_speakable_writes_clocks_and_numbers_in_words() -> None:
    assert speakable("Open 9 AM to 5:30 PM at 42 River Road.") == (
        "Open nine a.m. to five thirty p.m. at forty two River Road."
    )
    assert speakable("A checkup is 120 dollars") == "A checkup is one hundred twenty dollars."
    assert speakable("Ticket 482913 is open.") == "Ticket 482913 is open."  # a code, as written


def test_join_words_and_sentence() -> None:
    assert join_words([]) == ""
    assert join_words(["a"]) == "a"
    assert join_words(["a", "b", "c"], "or") == "a, b or c"
    assert sentence(" at nine a.m.") == "at nine a.m."
    assert sentence("Hello") == "Hello."


@pytest.fixture
def foreign_time_locale() -> Iterator[str]:
    """A non-English LC_TIME, when the machine has one."""
    saved = locale.setlocale(locale.LC_TIME)
    for name in ("de_DE.UTF-8", "fr_FR.UTF-8", "es_ES.UTF-8", "de_DE", "fr_FR"):
        try:
            locale.setlocale(locale.LC_TIME, name)
        except locale.Error:
            continue
        try:
            yield name
        finally:
            locale.setlocale(locale.LC_TIME, saved)
        return
    pytest.skip("no non-English locale installed")


def test_names_are_english_whatever_the_locale(foreign_time_locale: str) -> None:
    day = dt.date(2026, 12, 1)
    assert f"{day:%A}" != "Tuesday"  # the locale is in force ...
    assert (weekday_name(day), month_name(day)) == ("Tuesday", "December")  # ... and unused
    assert say_day(day) == "Tuesday, December first"


def test_no_bundled_code_names_a_day_through_the_locale() -> None:
    """``%A``/``%B`` name days in the server's locale; the bundled flows and tools use ours."""
    root = Path(__file__).resolve().parents[3]
    named = re.compile(r"%[aAbB]")
    found = [
        f"{path.relative_to(root)}:{n}"
        for package in ("spoken", "tools", "graphs", "dialgraph")
        for path in sorted((root / package).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if named.search(line) and ("strftime" in line or "{" in line)
    ]
    assert not found, found
