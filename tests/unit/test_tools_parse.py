"""Reading days, times and names the model passes, and saying outcomes aloud."""

from __future__ import annotations

from datetime import date, time

import pytest

from tools._parse import clean_name, parse_day, parse_part_of_day, parse_time
from tools._spoken import describe_availability, describe_effect, list_times
from tools.clinic import appointment_type, clinic_fact, doctor_name, spoken_day, spoken_time

MONDAY = date(2025, 3, 3)


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("2025-03-07", date(2025, 3, 7)),
        ("today", MONDAY),
        ("tomorrow", date(2025, 3, 4)),
        ("the day after tomorrow", date(2025, 3, 5)),
        ("Friday", date(2025, 3, 7)),
        ("friday morning", date(2025, 3, 7)),
        ("Monday", MONDAY),
        ("next Monday", date(2025, 3, 10)),
        ("March 12th", date(2025, 3, 12)),
        ("the 4th of April", date(2025, 4, 4)),
        ("12 march", date(2025, 3, 12)),
        ("Tuesday, March 11", date(2025, 3, 11)),
        ("February 2", date(2026, 2, 2)),  # already passed this year
        ("3/14", date(2025, 3, 14)),
        ("the 20th", date(2025, 3, 20)),
        ("2025-02-30", None),
        ("someday", None),
        ("", None),
    ],
)
def test_parse_day(said: str, expected: date | None) -> None:
    assert parse_day(said, MONDAY) == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("15:30", time(15, 30)),
        ("09:00", time(9, 0)),
        ("9", time(9, 0)),
        ("3", time(15, 0)),  # the clinic is closed at 3 AM
        ("3pm", time(15, 0)),
        ("3:30 p.m.", time(15, 30)),
        ("10 am", time(10, 0)),
        ("12 pm", time(12, 0)),
        ("noon", time(12, 0)),
        ("930", time(9, 30)),
        ("10 o'clock", time(10, 0)),
        ("at 11:15", time(11, 15)),
        ("25:00", None),
        ("13pm", None),
        ("whenever", None),
    ],
)
def test_parse_time(said: str, expected: time | None) -> None:
    assert parse_time(said) == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("morning", "morning"),
        ("AM", "morning"),
        ("in the afternoon", "afternoon"),
        ("evening", "afternoon"),
        ("p.m.", "afternoon"),
        (None, None),
        ("", None),
        ("any time", None),
    ],
)
def test_parse_part_of_day(said: str | None, expected: str | None) -> None:
    assert parse_part_of_day(said) == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("maria lopez", "Maria Lopez"),
        ("  JOHN   SMITH ", "John Smith"),
        ("Ronan McKay", "Ronan McKay"),
        ("o'brien", "O'Brien"),
        ("...", ""),
    ],
)
def test_clean_name(said: str, expected: str) -> None:
    assert clean_name(said) == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("checkup", "checkup"),
        ("a check-up", "checkup"),
        ("Check Up", "checkup"),
        ("flu shot", "vaccination"),
        ("consult", "consultation"),
        ("massage", None),
    ],
)
def test_appointment_types(said: str, expected: str | None) -> None:
    assert appointment_type(said) == expected


def test_doctors_and_facts() -> None:
    assert doctor_name("doctor patel") == "Dr. Patel"
    assert doctor_name("Dr Nguyen") == "Dr. Nguyen"
    assert doctor_name("Dr. Who") is None
    assert "42 River Road" in clinic_fact("where are you")
    assert "Saturday" in clinic_fact("opening hours")
    with pytest.raises(KeyError):
        clinic_fact("weather")


@pytest.mark.parametrize(
    ("at", "spoken"),
    [(time(9), "9 AM"), (time(15, 30), "3:30 PM"), (time(12), "noon"), (time(12, 15), "12:15 PM")],
)
def test_spoken_time(at: time, spoken: str) -> None:
    assert spoken_time(at) == spoken


def test_spoken_day() -> None:
    assert spoken_day(date(2025, 3, 4), MONDAY) == "tomorrow"
    assert spoken_day(MONDAY, MONDAY) == "today"
    assert spoken_day(date(2025, 3, 21)) == "Friday, March 21st"
    assert spoken_day(date(2025, 3, 12)) == "Wednesday, March 12th"
    assert list_times(["09:00", "09:30", "10:00"]) == "9 AM, 9:30 AM or 10 AM"


def test_outcomes_read_well_aloud() -> None:
    appt = {
        "id": 7,
        "appointment_type": "checkup",
        "day": "2025-03-05",
        "time": "10:00",
        "doctor": "Dr. Patel",
        "name": "Maria Lopez",
    }
    assert describe_effect("book_appointment", {"ok": True, "appointment": appt}, MONDAY) == (
        "You're booked: a checkup with Dr. Patel on Wednesday, March 5th at 10 AM,"
        " for Maria Lopez. The appointment number is 7."
    )
    taken = {
        "ok": False,
        "error": "slot_taken",
        "day": "2025-03-04",
        "time": "10:00",
        "alternatives": ["09:30", "10:30"],
    }
    assert describe_effect("book_appointment", taken, MONDAY) == (
        "I'm sorry, tomorrow at 10 AM is already taken. I could do 9:30 AM or 10:30 AM instead."
    )
    assert describe_effect("cancel_appointment", {"ok": True, "appointment": appt}, MONDAY) == (
        "Done: your checkup on Wednesday, March 5th at 10 AM is cancelled."
    )
    moved = {"ok": True, "appointment": {**appt, "time": "14:00"}, "previous": appt}
    assert describe_effect("reschedule_appointment", moved) == (
        "Done: your checkup has moved from Wednesday, March 5th at 10 AM"
        " to Wednesday, March 5th at 2 PM with Dr. Patel."
    )
    closed = {"ok": False, "error": "closed", "day": "2025-03-09", "next_open_day": "2025-03-10"}
    assert describe_availability(closed) == (
        "We're closed on Sundays. The next day we're open is Monday, March 10th."
    )
    saturday_pm = {
        "ok": True,
        "day": "2025-03-08",
        "appointment_type": "checkup",
        "part_of_day": "afternoon",
        "slots": [],
    }
    assert "close at noon on Saturdays" in describe_availability(saturday_pm)
