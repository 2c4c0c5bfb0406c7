"""Riverside Family Clinic: the facts the demo receptionist knows.

Everything here is plain data plus small pure helpers that turn what a caller
(or a model) says into the clinic's canonical names. Saying its dates and
times aloud is :mod:`spoken.saying`'s. Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time

__all__ = [
    "ADDRESS",
    "APPOINTMENT_TYPES",
    "CLINIC_NAME",
    "DOCTORS",
    "FACT_TOPICS",
    "FRONT_DESK",
    "OPENING_HOURS",
    "OPENS_AT_HOUR",
    "SLOT_MINUTES",
    "AppointmentType",
    "appointment_type",
    "clinic_fact",
    "doctor_name",
    "fact_topic",
    "opening_hours",
]

CLINIC_NAME = "Riverside Family Clinic"
ADDRESS = "42 River Road"
FRONT_DESK = "+15550100200"  # E.164; the telephony layer dials it on a transfer
SLOT_MINUTES = 15  # appointments start on the quarter hour
NOON = time(12, 0)  # "morning" ends and "afternoon" starts here

DOCTORS: tuple[str, ...] = ("Dr. Patel", "Dr. Nguyen")


@dataclass(frozen=True, slots=True)
class AppointmentType:
    """One kind of appointment the clinic books.

    Attributes:
        name: Canonical name used in tools and the database ("checkup").
        duration_min: How long it occupies a doctor.
        price_usd: Self-pay price, quoted when a caller asks.
    """

    name: str
    duration_min: int
    price_usd: int


APPOINTMENT_TYPES: dict[str, AppointmentType] = {
    t.name: t
    for t in (
        AppointmentType("checkup", 30, 120),
        AppointmentType("consultation", 30, 90),
        AppointmentType("vaccination", 15, 40),
    )
}

# Weekday (Monday = 0) -> (opens, closes). A missing weekday is a closed day.
OPENING_HOURS: dict[int, tuple[time, time]] = {
    0: (time(9), time(17)),
    1: (time(9), time(17)),
    2: (time(9), time(17)),
    3: (time(9), time(17)),
    4: (time(9), time(17)),
    5: (time(9), time(12)),
}
OPENS_AT_HOUR = min(opens.hour for opens, _ in OPENING_HOURS.values())
"""The clinic opens at 9: an hour said without a.m./p.m. below it is the afternoon ("at 3")."""

_FACTS: dict[str, str] = {
    "hours": (
        "We're open Monday to Friday from 9 AM to 5 PM, and Saturday from 9 AM to noon. "
        "We're closed on Sunday."
    ),
    "address": f"We're at {ADDRESS}, next to the river footbridge.",
    "parking": (
        "There's free parking behind the building for two hours, "
        "and two accessible spaces right by the entrance."
    ),
    "insurance": (
        "We accept most major plans, including Aetna, Blue Cross, Cigna and Medicare. "
        "Please bring your insurance card to your visit."
    ),
    "prices": (
        "Without insurance, a checkup is 120 dollars, a consultation is 90 dollars, "
        "and a vaccination is 40 dollars."
    ),
    "doctors": "Our doctors are Dr. Patel and Dr. Nguyen. Both see patients of all ages.",
}
FACT_TOPICS: tuple[str, ...] = tuple(_FACTS)

# Words a caller or a model may use for each canonical name (matched on whole words).
_TYPE_WORDS: dict[str, tuple[str, ...]] = {
    "checkup": ("checkup", "check up", "check-up", "physical", "exam", "examination"),
    "consultation": ("consultation", "consult", "consulting"),
    "vaccination": ("vaccination", "vaccine", "shot", "jab", "immunization", "flu shot"),
}
_TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "hours": ("hours", "opening hours", "open", "close", "closing", "opening", "times"),
    "address": ("address", "location", "where", "directions", "located"),
    "parking": ("parking", "park", "car"),
    "insurance": ("insurance", "insurer", "coverage", "plan", "medicare", "medicaid"),
    "prices": ("prices", "price", "cost", "costs", "fee", "fees", "how much", "charge"),
    "doctors": ("doctors", "doctor", "physician", "physicians", "staff"),
}


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 -]+", " ", text.lower()).split())


def _match(text: str, table: dict[str, tuple[str, ...]]) -> str | None:
    said = _normalise(text)
    if said in table:
        return said
    for name, words in table.items():
        for word in words:
            if re.search(rf"\b{re.escape(word)}\b", said):
                return name
    return None


def appointment_type(text: str) -> str | None:
    """Map what was said ("a check-up", "flu shot") to a canonical appointment type.

    Args:
        text: The appointment type as spoken or as the model wrote it.

    Returns:
        "checkup", "consultation", "vaccination", or None when it is none of them.
    """
    return _match(text, _TYPE_WORDS)


def fact_topic(text: str) -> str | None:
    """Map a question topic ("opening times", "cost") to one of :data:`FACT_TOPICS`."""
    return _match(text, _TOPIC_WORDS)


def clinic_fact(topic: str) -> str:
    """The clinic's short, speakable answer on one topic.

    Args:
        topic: One of :data:`FACT_TOPICS`, or a word that means one of them.

    Returns:
        One or two sentences.

    Raises:
        KeyError: If the topic is not one the clinic has an answer for.
    """
    canonical = fact_topic(topic)
    if canonical is None:
        raise KeyError(topic)
    return _FACTS[canonical]


def doctor_name(text: str) -> str | None:
    """Map "patel", "Dr Nguyen", "doctor patel" to the canonical doctor name, else None."""
    said = _normalise(text)
    for doctor in DOCTORS:
        surname = doctor.split()[-1].lower()
        if re.search(rf"\b{surname}\b", said):
            return doctor
    return None


def opening_hours(day: date) -> tuple[time, time] | None:
    """(opens, closes) on that day, or None when the clinic is closed."""
    return OPENING_HOURS.get(day.weekday())
