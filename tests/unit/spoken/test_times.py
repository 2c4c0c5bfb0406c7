"""Reading clock times and parts of the day, for a place that opens at nine.

The clinic is open 09:00-17:00, so an hour said without a.m./p.m. below nine
is the afternoon ("three" is 15:00, "nine" 09:00).
"""

from __future__ import annotations

import datetime as dt

import pytest

from spoken.times import find_times, parse_part_of_day, parse_time

OPENS_AT = 9


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        # as a model writes a tool's time argument
        ("15:30", "15:30"),
        ("09:00", "09:00"),
        ("08:00", "08:00"),  # written the 24-hour way: taken as written
        ("9", "09:00"),
        ("3", "15:00"),  # the clinic is closed at 3 AM
        ("3pm", "15:00"),
        ("3:30 p.m.", "15:30"),
        ("10 am", "10:00"),
        ("12 pm", "12:00"),
        ("noon", "12:00"),
        ("930", "09:30"),
        ("1530", "15:30"),
        ("10 o'clock", "10:00"),
        ("at 11:15", "11:15"),
        # as a caller says it, when a time was asked
        ("three", "15:00"),
        ("nine", "09:00"),
        ("eleven", "11:00"),
        ("twelve", "12:00"),
        ("one", "13:00"),
        ("three thirty", "15:30"),
        ("ten fifteen", "10:15"),
        ("nine oh five", "09:05"),
        ("two forty five", "14:45"),
        ("half past two", "14:30"),
        ("quarter past nine", "09:15"),
        ("quarter to four", "15:45"),
        ("a quarter to ten", "09:45"),
        ("twenty past ten", "10:20"),
        ("ten to four", "15:50"),
        ("3 pm", "15:00"),
        ("nine am", "09:00"),
        ("eleven a m", "11:00"),
        ("four in the afternoon", "16:00"),
        ("eight in the morning", "08:00"),
        ("3:30", "15:30"),
        ("midday", "12:00"),
        ("two o'clock", "14:00"),
        ("at three on friday", "15:00"),
        ("no make it four", "16:00"),
    ],
)
def test_times_when_a_time_was_asked(said: str, expected: str) -> None:
    hour, minute = expected.split(":")
    assert parse_time(said, opens_at=OPENS_AT) == dt.time(int(hour), int(minute))


@pytest.mark.parametrize("said", ["25:00", "13pm", "whenever", "", "the third"])
def test_no_time(said: str) -> None:
    assert parse_time(said, opens_at=OPENS_AT) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("book a checkup for tuesday at three", "15:00"),
        ("around ten thirty", "10:30"),
        ("can i come at two", "14:00"),
        ("i need three things", None),  # a bare number is not a time unless a time was asked
        ("the second one", None),
        ("on the third", None),  # a date, not 3 p.m.
        ("book one for me", None),
        ("from ten to four", None),  # a range, not 15:50
    ],
)
def test_times_in_free_speech(text: str, expected: str | None) -> None:
    found = find_times(text.split(), set(), loose=False, opens_at=OPENS_AT)
    assert (found[-1][1] if found else None) == expected


def test_words_used_for_a_day_are_not_a_time() -> None:
    words = "december three".split()  # the day's words, as spoken.days reports them: {0, 1}
    assert find_times(words, set(), loose=True, opens_at=OPENS_AT) == [(1, "15:00")]
    assert find_times(words, {0, 1}, loose=True, opens_at=OPENS_AT) == []


def test_the_opening_hour_decides_the_afternoon() -> None:
    assert parse_time("eight", opens_at=9) == dt.time(20, 0)
    assert parse_time("eight", opens_at=7) == dt.time(8, 0)


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("morning", "morning"),
        ("AM", "morning"),
        ("friday morning", "morning"),
        ("early", "morning"),
        ("in the afternoon", "afternoon"),
        ("evening", "afternoon"),
        ("something this evening", "afternoon"),
        ("after lunch", "afternoon"),
        ("p.m.", "afternoon"),
        ("three pm", None),  # the marker of a time, not a part of the day
        ("tuesday", None),
        (None, None),
        ("", None),
        ("any time", None),
    ],
)
def test_part_of_day(said: str | None, expected: str | None) -> None:
    assert parse_part_of_day(said) == expected
