"""The demo clinic's bookings, planned deterministically relative to "today".

A pure function of the date: the same ``today`` always yields the same plan,
so demos, recordings and tests see the same calendar. The plan leaves most of
every day free, so there is always something to offer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta

from tools.clinic import APPOINTMENT_TYPES, DOCTORS, opening_hours

__all__ = [
    "RETURNING_CALLER",
    "RETURNING_CALLER_NAME",
    "SEED_EFFECT_KEY",
    "PlannedAppointment",
    "seed_plan",
]

RETURNING_CALLER = "+15551230000"
RETURNING_CALLER_NAME = "Maria Lopez"
# The ledger row recording which "today" the demo rows were planned for. Tool keys
# are "thread:call", so a key without a colon cannot collide with one.
SEED_EFFECT_KEY = "demo-seed"
SEED_DAYS = 14  # demo bookings cover today and the next 13 days

_PATIENTS: tuple[tuple[str, str], ...] = (
    ("James Carter", "+15551230001"),
    ("Aisha Khan", "+15551230002"),
    ("Tom Becker", "+15551230003"),
    ("Lena Novak", "+15551230004"),
    ("Sam Ortiz", "+15551230005"),
    ("Grace Kim", "+15551230006"),
)
_PATEL, _NGUYEN = DOCTORS
# Day patterns, used in turn: (start, doctor, appointment type).
_PATTERNS: tuple[tuple[tuple[time, str, str], ...], ...] = (
    ((time(9, 0), _PATEL, "checkup"), (time(9, 0), _NGUYEN, "consultation"),
     (time(14, 0), _NGUYEN, "checkup")),
    ((time(10, 0), _NGUYEN, "vaccination"), (time(11, 0), _PATEL, "consultation"),
     (time(15, 30), _PATEL, "checkup")),
    ((time(9, 30), _PATEL, "vaccination"), (time(13, 0), _NGUYEN, "consultation")),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PlannedAppointment:
    """One demo booking."""

    day: date
    start: time
    doctor: str
    appointment_type: str
    name: str
    phone: str


def _returning_caller_day(today: date) -> date:
    """The first weekday at least two days ahead: always "upcoming" and never a Saturday."""
    day = today + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def seed_plan(today: date) -> list[PlannedAppointment]:
    """The demo bookings for a given ``today``, the returning caller's checkup first.

    Args:
        today: The clinic's current date.

    Returns:
        Bookings that fit opening hours, in insertion order.
    """
    plan = [
        PlannedAppointment(
            _returning_caller_day(today),
            time(10, 0),
            _PATEL,
            "checkup",
            RETURNING_CALLER_NAME,
            RETURNING_CALLER,
        )
    ]
    patient = 0
    for offset in range(SEED_DAYS):
        day = today + timedelta(days=offset)
        hours = opening_hours(day)
        if hours is None:
            continue
        opens, closes = hours
        for start, doctor, kind in _PATTERNS[offset % len(_PATTERNS)]:
            end = _add_minutes(start, APPOINTMENT_TYPES[kind].duration_min)
            if start < opens or end > closes:
                continue  # e.g. an afternoon pattern on a Saturday
            name, phone = _PATIENTS[patient % len(_PATIENTS)]
            patient += 1
            plan.append(PlannedAppointment(day, start, doctor, kind, name, phone))
    return plan


def _add_minutes(at: time, minutes: int) -> time:
    total = at.hour * 60 + at.minute + minutes
    return time(total // 60, total % 60)
