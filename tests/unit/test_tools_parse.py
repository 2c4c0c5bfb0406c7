"""Reading the names the model passes, and saying the tools' outcomes aloud.

Days, times and parts of the day are read by :mod:`spoken` (tested in
``tests/unit/spoken``); outcomes say them in words, as the dialogue does.
"""

from __future__ import annotations

from datetime import date

import pytest

from tools._parse import clean_name
from tools._spoken import describe_availability, describe_effect, list_times
from tools.clinic import appointment_type, clinic_fact, doctor_name

MONDAY = date(2025, 3, 3)


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


def test_times_are_listed_in_words() -> None:
    assert list_times(["09:00", "09:30", "10:00"]) == "nine, nine thirty or ten a.m."
    assert list_times(["11:45", "12:00"]) == "eleven forty five a.m., or noon"


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
        "You're booked: a checkup with Dr. Patel on Wednesday, March fifth at ten a.m.,"
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
        "I'm sorry, tomorrow at ten a.m. is already taken."
        " I could do nine thirty or ten thirty a.m. instead."
    )
    assert describe_effect("cancel_appointment", {"ok": True, "appointment": appt}, MONDAY) == (
        "Done: your checkup on Wednesday, March fifth at ten a.m. is cancelled."
    )
    moved = {"ok": True, "appointment": {**appt, "time": "14:00"}, "previous": appt}
    assert describe_effect("reschedule_appointment", moved) == (
        "Done: your checkup has moved from Wednesday, March fifth at ten a.m."
        " to Wednesday, March fifth at two p.m. with Dr. Patel."
    )
    closed = {"ok": False, "error": "closed", "day": "2025-03-09", "next_open_day": "2025-03-10"}
    assert describe_availability(closed) == (
        "We're closed on Sundays. The next day we're open is Monday, March tenth."
    )
    saturday_pm = {
        "ok": True,
        "day": "2025-03-08",
        "appointment_type": "checkup",
        "part_of_day": "afternoon",
        "slots": [],
    }
    assert "close at noon on Saturdays" in describe_availability(saturday_pm)
