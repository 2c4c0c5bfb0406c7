"""Table tests for the clinic NLU: what the recogniser writes -> what the dialogue understands.

Inputs are written the way pocketsphinx emits them (lower case, no
punctuation, numbers as words), with a few typed forms ("3 pm", "15:30").
"today" is fixed at Tuesday 2026-11-24. Reading days, times and parts of the
day on their own is :mod:`spoken`'s, tested in ``tests/unit/spoken``; here they
are read as parts of a whole turn.
"""

from __future__ import annotations

import datetime as dt

import pytest

from graphs.clinic.nlu import (
    Intent,
    parse,
    parse_appointment_type,
    parse_doctor,
    parse_keys,
    parse_name,
)

TODAY = dt.date(2026, 11, 24)  # a Tuesday


def d(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a check up", "checkup"),
        ("my annual physical", "checkup"),
        ("checkup", "checkup"),
        ("a consult", "consultation"),
        ("i want to see the doctor", "consultation"),
        ("consultation", "consultation"),
        ("a flu shot", "vaccination"),
        ("my covid jab", "vaccination"),
        ("a vaccine", "vaccination"),
        ("a shot", "vaccination"),
        ("can you check my appointment", None),
    ],
)
def test_appointment_types(text: str, expected: str | None) -> None:
    assert parse_appointment_type(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("with doctor patel", "Dr. Patel"),
        ("dr nguyen please", "Dr. Nguyen"),
        ("with doctor win", "Dr. Nguyen"),
        ("doctor new when", "Dr. Nguyen"),
        ("i win", None),
        ("any doctor", None),
    ],
)
def test_doctors(text: str, expected: str | None) -> None:
    assert parse_doctor(text) == expected


@pytest.mark.parametrize(
    ("text", "bare", "expected"),
    [
        ("my name is maria lopez", False, "Maria Lopez"),
        ("this is john", False, "John"),
        ("it's priya sharma", False, "Priya Sharma"),
        ("hi this is john i want to book", False, "John"),
        ("under the name ann lee", False, "Ann Lee"),
        ("im calling to book", False, None),
        ("this is correct", False, None),
        ("call me back on three one two", False, None),
        ("call me later", False, None),
        ("maria lopez", False, None),
        ("maria lopez", True, "Maria Lopez"),
        ("yes its maria", True, "Maria"),
        ("next tuesday", True, None),
        ("book a checkup", True, None),
    ],
)
def test_names(text: str, bare: bool, expected: str | None) -> None:
    assert parse_name(text, bare=bare) == expected


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("what are your hours", Intent.HOURS),
        ("what time do you close on saturday", Intent.HOURS),
        ("are you open on sunday", Intent.HOURS),
        ("where are you located", Intent.ADDRESS),
        ("whats the address", Intent.ADDRESS),
        ("is there parking", Intent.PARKING),
        ("where do i park", Intent.PARKING),
        ("do you take my insurance", Intent.INSURANCE),
        ("do you accept medicare", Intent.INSURANCE),
        ("how much is a checkup", Intent.PRICES),
        ("what does a flu shot cost", Intent.PRICES),
        ("which doctors do you have", Intent.DOCTORS),
        ("anything free on friday morning", Intent.AVAILABILITY),
        ("what do you have on tuesday", Intent.AVAILABILITY),
        ("do you have anything open thursday", Intent.AVAILABILITY),
        ("id like to book a checkup for tuesday at three", Intent.BOOK),
        ("i need to make an appointment", Intent.BOOK),
        ("what appointments do i have", Intent.MY_APPOINTMENTS),
        ("when is my appointment", Intent.MY_APPOINTMENTS),
        ("cancel my appointment", Intent.CANCEL),
        ("i need to cancel", Intent.CANCEL),
        ("i need to reschedule", Intent.RESCHEDULE),
        ("can i move it to friday at ten", Intent.RESCHEDULE),
        ("change that to monday", Intent.RESCHEDULE),
        ("i want to move to a new house", None),
        ("thank you by by", Intent.GOODBYE),
        ("no thank the by", Intent.GOODBYE),
        ("at all thank you very much", Intent.GOODBYE),
        ("i will stand by", None),
        ("can i move my appointment", Intent.RESCHEDULE),
        ("change my appointment to friday", Intent.RESCHEDULE),
        ("can i talk to someone", Intent.TRANSFER),
        ("a person please", Intent.TRANSFER),
        ("human", Intent.TRANSFER),
        ("receptionist", Intent.TRANSFER),
        ("operator", Intent.TRANSFER),
        ("representative", Intent.TRANSFER),
        ("press zero", Intent.TRANSFER),
        ("0", Intent.TRANSFER),
        ("goodbye", Intent.GOODBYE),
        ("thats all", Intent.GOODBYE),
        ("thank you bye", Intent.GOODBYE),
        ("no thats all thanks", Intent.GOODBYE),
        ("thank you", Intent.THANKS),
        ("never mind", Intent.ABORT),
        ("hello", Intent.GREETING),
        ("can you say that again", Intent.REPEAT),
        ("sorry what", Intent.REPEAT),
    ],
)
def test_intents(text: str, intent: Intent) -> None:
    assert parse(text, TODAY).intent is intent


def test_booking_request_carries_all_its_details() -> None:
    u = parse("I'd like to book a checkup for Tuesday at three", TODAY)
    assert (u.intent, u.appointment_type, u.day, u.time) == (
        Intent.BOOK,
        "checkup",
        d("2026-12-01"),
        "15:00",
    )


@pytest.mark.parametrize(
    ("text", "day", "time", "part"),
    [
        ("next friday at half past two", "2026-12-04", "14:30", None),
        ("book the twenty third of december at three pm", "2026-12-23", "15:00", None),
        ("this friday in the morning", "2026-11-27", None, "morning"),
        ("on the third", "2026-12-03", None, None),  # a date, never 3 p.m.
        ("at three", None, "15:00", None),
    ],
)
def test_a_turn_reads_its_day_time_and_part_of_day(
    text: str, day: str | None, time: str | None, part: str | None
) -> None:
    u = parse(text, TODAY)
    assert (u.day, u.time, u.part_of_day) == (day and d(day), time, part)


def test_availability_request_carries_day_and_part() -> None:
    u = parse("anything free on friday morning", TODAY)
    assert (u.intent, u.day, u.part_of_day) == (Intent.AVAILABILITY, d("2026-11-27"), "morning")


def test_reschedule_separates_the_old_time_from_the_new() -> None:
    u = parse("move my appointment from tuesday to wednesday at four", TODAY)
    assert (u.ref_day, u.day, u.time) == (d("2026-12-01"), d("2026-11-25"), "16:00")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("yes", "yes"),
        ("yeah", "yes"),
        ("yep", "yes"),
        ("sure", "yes"),
        ("correct", "yes"),
        ("that's right", "yes"),
        ("yes please", "yes"),
        ("okay", "yes"),
        ("go ahead", "yes"),
        ("1", "yes"),
        ("press one", "yes"),
        ("pressed 1", "yes"),
        ("no", "no"),
        ("nope", "no"),
        ("no thanks", "no"),
        ("not really", "no"),
        ("that's wrong", "no"),
        ("2", "no"),
        ("press two", "no"),
        ("maybe", None),
        ("purple", None),
    ],
)
def test_yes_no(text: str, answer: str | None) -> None:
    assert parse(text, TODAY, expect="yes_no").answer == answer


@pytest.mark.parametrize(
    ("text", "slot", "value"),
    [
        ("no wednesday", "day", d("2026-11-25")),
        ("no, wednesday", "day", d("2026-11-25")),
        ("no, make it four", "time", "16:00"),
        ("actually friday", "day", d("2026-11-27")),
        ("i meant thursday", "day", d("2026-11-26")),
        ("sorry i mean half past two", "time", "14:30"),
        ("no a consultation", "appointment_type", "consultation"),
        ("not tuesday wednesday", "day", d("2026-11-25")),
        ("no four", "time", "16:00"),
    ],
)
def test_corrections_carry_the_new_value_not_a_no(text: str, slot: str, value: object) -> None:
    u = parse(text, TODAY, expect="yes_no")
    assert u.correction
    assert u.answer is None
    assert getattr(u, slot) == value


@pytest.mark.parametrize(
    ("text", "selection"),
    [
        ("the first one", 0),
        ("the second one", 1),
        ("second", 1),
        ("the last one", -1),
        ("number two", 1),
        ("two", 1),
        ("2", 1),
        ("any of them", 0),
        ("whatever is earliest", 0),
    ],
)
def test_choosing_from_a_list(text: str, selection: int) -> None:
    assert parse(text, TODAY, expect="choice").selection == selection


def test_second_is_a_choice_only_after_a_list() -> None:
    choosing = parse("the second", TODAY, expect="choice")
    assert (choosing.selection, choosing.day) == (1, None)
    assert parse("on the second", TODAY, expect="day").day == d("2026-12-02")


@pytest.mark.parametrize(
    ("keys", "expect", "field", "value"),
    [
        ("1", "yes_no", "answer", "yes"),
        ("2", None, "answer", "no"),
        ("0", None, "intent", Intent.TRANSFER),
        ("*", None, "intent", Intent.REPEAT),
        ("3", "choice", "selection", 2),
        ("4", "time", "time", "16:00"),
        (" 1 ", None, "dtmf", "1"),
    ],
)
def test_keys_pressed(keys: str, expect: str | None, field: str, value: object) -> None:
    u = parse_keys(keys, expect=expect)
    assert getattr(u, field) == value
    assert u.understood


@pytest.mark.parametrize("keys", ["482913", "12", "##"])
def test_an_entry_of_several_keys_is_heard_not_understood(keys: str) -> None:
    u = parse_keys(keys, expect="yes_no")
    assert u.text == keys and not u.understood


def test_no_keys_is_silence() -> None:
    assert parse_keys("").text == ""


def test_bare_number_is_a_time_only_when_a_time_was_asked() -> None:
    assert parse("four", TODAY, expect="time").time == "16:00"
    assert parse("four", TODAY).time is None


@pytest.mark.parametrize(
    "text", ["purple monkey dishwasher", "the cat sat", "hmm", "blah blah", "", "   "]
)
def test_gibberish_is_not_understood(text: str) -> None:
    assert not parse(text, TODAY).understood


def test_bare_name_is_understood_when_a_name_was_asked() -> None:
    assert parse("maria lopez", TODAY, expect="name").name == "Maria Lopez"
    assert not parse("maria lopez", TODAY).understood
