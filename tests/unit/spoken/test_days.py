"""Reading days: a caller's words (the clinic's dialogue) and a model's text (the tools).

Two "todays": Monday 2025-03-03 (the tools' cases) and Tuesday 2026-11-24
(the dialogue's). Words are written the way pocketsphinx emits them (lower
case, numbers as words); the model's text the way a model writes it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spoken.days import find_days, parse_day, weekday_after
from spoken.names import WEEKDAYS

MONDAY = dt.date(2025, 3, 3)
TUESDAY = dt.date(2026, 11, 24)
PROPERTY = settings(max_examples=200, deadline=None, derandomize=True)


def d(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("2025-03-07", "2025-03-07"),
        ("today", "2025-03-03"),
        ("tomorrow", "2025-03-04"),
        ("the day after tomorrow", "2025-03-05"),
        ("Friday", "2025-03-07"),
        ("friday morning", "2025-03-07"),
        ("Monday", "2025-03-10"),  # said on a Monday: the next one (today is "today")
        ("this Monday", "2025-03-03"),
        ("next Monday", "2025-03-10"),
        ("March 12th", "2025-03-12"),
        ("the 4th of April", "2025-04-04"),
        ("12 march", "2025-03-12"),
        ("Tuesday, March 11", "2025-03-11"),  # the last day named wins
        ("February 2", "2026-02-02"),  # already passed this year
        ("3/14", "2025-03-14"),
        ("the 20th", "2025-03-20"),
        ("on the 5th", "2025-03-05"),  # dateparser reads May 3rd
        ("March 3", "2025-03-03"),  # dateparser reads next year's
        ("3/3", "2025-03-03"),  # likewise, corrected
        ("3/2", "2026-03-02"),
        ("3/14/26", "2026-03-14"),
        ("March 4th, 2027", "2027-03-04"),
        ("Dec. 3rd", "2025-12-03"),
        ("Tues", "2025-03-04"),
        ("in 2 weeks", "2025-03-17"),
    ],
)
def test_a_day_the_model_writes(said: str, expected: str) -> None:
    assert parse_day(said, MONDAY) == d(expected)


@pytest.mark.parametrize(
    "said", ["2025-02-30", "someday", "", "at 3", "2027", "the second one", "one day"]
)
def test_no_day_the_model_writes(said: str) -> None:
    assert parse_day(said, MONDAY) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", "2026-11-24"),
        ("tomorrow", "2026-11-25"),
        ("the day after tomorrow", "2026-11-26"),
        ("monday", "2026-11-30"),
        ("tuesday", "2026-12-01"),  # the next Tuesday, not today
        ("wednesday", "2026-11-25"),
        ("sunday", "2026-11-29"),
        ("this friday", "2026-11-27"),
        ("this tuesday", "2026-11-24"),
        ("next tuesday", "2026-12-01"),
        ("next friday", "2026-12-04"),  # Friday of next week
        ("the twenty fifth", "2026-11-25"),
        ("the twenty third", "2026-12-23"),  # already past this month
        ("on the 3rd", "2026-12-03"),
        ("december third", "2026-12-03"),
        ("the third of december", "2026-12-03"),
        ("the twenty third of december", "2026-12-23"),  # dateparser reads nothing
        ("3 december", "2026-12-03"),
        ("january second", "2027-01-02"),
        ("november twentieth", "2027-11-20"),
        ("tuesday the first", "2026-12-01"),
        ("this afternoon", "2026-11-24"),
        ("friday morning", "2026-11-27"),
        ("tuesday no wednesday", "2026-11-25"),  # the last one said wins
    ],
)
def test_a_day_the_caller_says(text: str, expected: str) -> None:
    found = find_days(text.split(), TUESDAY, bare_ordinals=False)
    assert found[-1][1] == d(expected)
    assert parse_day(text, TUESDAY) == d(expected)  # the tools read a caller's words alike


@pytest.mark.parametrize("text", ["book a checkup", "at three", "the second one", "one day"])
def test_no_day_the_caller_says(text: str) -> None:
    assert find_days(text.split(), TUESDAY, bare_ordinals=False) == []


def test_a_bare_ordinal_is_a_day_only_when_a_day_was_asked() -> None:
    assert find_days(["third"], TUESDAY, bare_ordinals=False) == []
    assert find_days(["third"], TUESDAY, bare_ordinals=True) == [(0, d("2026-12-03"), {0})]


def test_the_words_a_day_used_are_reported() -> None:
    words = "book the third of december at three".split()
    assert find_days(words, TUESDAY, bare_ordinals=False) == [(2, d("2026-12-03"), {1, 2, 3, 4})]


def test_next_friday_is_the_friday_of_next_week_for_callers_and_tools() -> None:
    assert weekday_after(TUESDAY, 4, "next") == d("2026-12-04")
    assert parse_day("next Friday", TUESDAY) == d("2026-12-04")
    assert parse_day("this Friday", TUESDAY) == parse_day("Friday", TUESDAY) == d("2026-11-27")


@PROPERTY
@given(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)))
def test_every_iso_date_reads_as_itself(day: dt.date) -> None:
    assert parse_day(day.isoformat(), TUESDAY) == day


@PROPERTY
@given(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)), st.sampled_from(WEEKDAYS))
def test_a_plain_weekday_is_the_next_one_after_today(today: dt.date, name: str) -> None:
    day = parse_day(name, today)
    assert day is not None and day.weekday() == WEEKDAYS.index(name)
    assert 1 <= (day - today).days <= 7
