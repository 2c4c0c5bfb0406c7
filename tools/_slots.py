"""Slot arithmetic: which start times are free, pure and database-free.

A day is cut into 15-minute starts within opening hours; an appointment
occupies its doctor from its start for its duration. Minutes since midnight
keep the overlap test to one comparison.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from tools.clinic import DOCTORS, SLOT_MINUTES, opening_hours

__all__ = [
    "ALTERNATIVES",
    "Appointment",
    "free_starts",
    "hhmm",
    "minute_of",
    "nearest",
    "next_open_day",
]

ALTERNATIVES = 3  # nearby free times offered when the asked-for one does not work
_OPEN_DAY_SEARCH = 14  # how far ahead "next open day" looks


@dataclass(frozen=True, slots=True)
class Appointment:
    """One row of the calendar."""

    id: int
    phone: str
    name: str
    appointment_type: str
    doctor: str
    day: date
    start: time
    duration_min: int
    status: str

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Appointment:
        """Build from a row of the calendar's columns, in table order."""
        id_, phone, name, kind, doctor, day, start, duration, status = row
        return cls(
            int(id_),
            phone,
            name,
            kind,
            doctor,
            date.fromisoformat(day),
            time.fromisoformat(start),
            int(duration),
            status,
        )

    @property
    def start_minute(self) -> int:
        """Minutes since midnight at which it starts."""
        return self.start.hour * 60 + self.start.minute

    @property
    def starts_at(self) -> datetime:
        """Start as a naive local datetime."""
        return datetime.combine(self.day, self.start)

    def as_artifact(self) -> dict[str, Any]:
        """The appointment as tools report it (no phone number)."""
        return {
            "id": self.id,
            "appointment_type": self.appointment_type,
            "day": self.day.isoformat(),
            "time": self.start.strftime("%H:%M"),
            "doctor": self.doctor,
            "name": self.name,
        }


def minute_of(at: time) -> int:
    return at.hour * 60 + at.minute


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def free_starts(
    day: date,
    duration_min: int,
    booked: Iterable[Appointment],
    now: datetime,
    *,
    doctors: Iterable[str] = DOCTORS,
    exclude_id: int | None = None,
) -> list[tuple[int, str]]:
    """Every free start minute that day with the first free doctor, earliest first."""
    hours = opening_hours(day)
    if hours is None or day < now.date():
        return []
    opens, closes = (minute_of(t) for t in hours)
    earliest = minute_of(now.time()) if day == now.date() else 0
    busy: dict[str, list[tuple[int, int]]] = {}
    for appt in booked:
        if appt.day == day and appt.status == "booked" and appt.id != exclude_id:
            start = appt.start_minute
            busy.setdefault(appt.doctor, []).append((start, start + appt.duration_min))
    order = list(doctors)
    free: list[tuple[int, str]] = []
    for start in range(opens, closes - duration_min + 1, SLOT_MINUTES):
        if start < earliest:
            continue
        end = start + duration_min
        for doctor in order:
            if all(e <= start or end <= s for s, e in busy.get(doctor, ())):
                free.append((start, doctor))
                break
    return free


def nearest(free: list[tuple[int, str]], minute: int, count: int = ALTERNATIVES) -> list[str]:
    closest = sorted(free, key=lambda slot: (abs(slot[0] - minute), slot[0]))[:count]
    return [hhmm(start) for start, _ in sorted(closest)]


def next_open_day(day: date) -> date | None:
    for offset in range(1, _OPEN_DAY_SEARCH + 1):
        candidate = day + timedelta(days=offset)
        if opening_hours(candidate) is not None:
            return candidate
    return None
