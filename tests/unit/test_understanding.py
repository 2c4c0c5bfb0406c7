"""The understanding step offline: its types, the yes/no and name helpers, the rules, Mixed.

Every case is recognised speech as the phone gives it (lower case, numbers as
words, names misheard), or keys. The chat-model understander is tested
against a local fake server in tests/integration/test_understanding_model.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from dialgraph import (
    EXACT,
    FUZZY,
    INFERRED,
    CallerTurn,
    Expect,
    IntentSpec,
    Meaning,
    Mixed,
    RuleUnderstander,
    Slot,
    SlotSpec,
    Understanding,
    match_choice,
    yes_no,
)
from graphs.clinic import meaning as clinic
from graphs.helpdesk import meaning as helpdesk

TODAY = dt.date(2026, 12, 3)  # a Thursday
DOCTORS = ("Dr. Patel", "Dr. Nguyen")


def speech(text: str, confidence: float | None = None, *others: str) -> CallerTurn:
    turn = CallerTurn(text=text, source="speech", alternatives=list(others))
    if confidence is not None:
        turn["confidence"] = confidence
    return turn


def keys(digits: str) -> CallerTurn:
    return CallerTurn(text=digits, source="dtmf", digits=digits)


# -- the types ------------------------------------------------------------------------
BOOKING = Understanding(
    intent="book",
    intent_confidence=0.95,
    slots={"day": Slot("2026-12-08", 0.9, "next tuesday"), "doctor": Slot("Dr. Nguyen", 0.5)},
)


def test_an_understanding_says_what_is_unsure_and_whether_to_trust_it() -> None:
    assert BOOKING.slot("day") == Slot("2026-12-08", 0.9, "next tuesday")
    assert BOOKING.slot("time") is None
    assert BOOKING.value("doctor") == "Dr. Nguyen" and BOOKING.value("time", "") == ""
    assert BOOKING.unsure(0.6) == ("doctor",)  # what a careful flow reads back
    assert not BOOKING.confident(0.6) and BOOKING.confident(0.5)
    assert not Understanding().understood and not Understanding().confident(0.0)
    assert Understanding(answer="yes", answer_confidence=0.9).confident(0.6)


def test_an_understanding_keeps_in_a_checkpoint_as_plain_data() -> None:
    strict = JsonPlusSerializer(allowed_msgpack_modules=None)  # only plain types come back
    stored = strict.loads_typed(strict.dumps_typed(BOOKING.as_dict()))
    assert Understanding.from_dict(stored) == BOOKING
    assert stored["slots"]["day"] == {
        "value": "2026-12-08",
        "confidence": 0.9,
        "heard": "next tuesday",
    }


def test_a_meaning_gives_the_recogniser_its_phrases() -> None:
    meaning = Meaning(
        intents={"book": IntentSpec("Book a visit.", ("book a checkup", "i need to see someone"))},
        slots={"doctor": SlotSpec.choice("the doctor", DOCTORS), "zip": SlotSpec.digits("ZIP", 5)},
    )
    assert meaning.hints() == ("book a checkup", "i need to see someone", "dr. patel", "dr. nguyen")
    assert meaning.slots["zip"] == SlotSpec("ZIP", "digits", length=5)
    assert clinic.MEANING.slots["doctor"].choices == DOCTORS
    assert set(helpdesk.MEANING.intents) == {
        "person",
        "goodbye",
        "new_ticket",
        "ticket_status",
        "outage",
    }


# -- yes or no ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("said", "answer", "confidence"),
    [
        ("yes", "yes", 1.0),
        ("yes please", "yes", 1.0),
        ("yeah go ahead", "yes", 1.0),
        ("Yeah, go ahead.", "yes", 1.0),
        ("that's right", "yes", 1.0),
        ("thats correct", "yes", 1.0),
        ("yes, cancel it please", "yes", 1.0),
        ("um yes", "yes", 1.0),
        ("of course", "yes", 1.0),
        ("sure", "yes", 0.85),
        ("okay", "yes", 0.85),  # also just acknowledges: less sure
        ("that would be great", "yes", 0.85),
        ("no problem", "yes", 0.7),
        ("i said yes", "yes", 0.6),  # an answer, but not where answers are said
        ("no", "no", 1.0),
        ("no thanks", "no", 1.0),
        ("no thank you", "no", 1.0),
        ("nope", "no", 1.0),
        ("no, wednesday", "no", 1.0),
        ("thats wrong", "no", 1.0),
        ("thats not right", "no", 1.0),
        ("not really", "no", 0.9),
        ("not now", "no", 0.9),
        ("no internet", None, 0.0),  # describes a fault: not a refusal
        ("no internet since monday", None, 0.0),
        ("no one picked up", None, 0.0),
        ("i have no idea", None, 0.0),
        ("im not sure", None, 0.0),
        ("nobody", None, 0.0),
        ("hello", None, 0.0),
        ("", None, 0.0),
    ],
)
def test_yes_and_no_in_their_spoken_forms(said: str, answer: str | None, confidence: float) -> None:
    assert yes_no(said) == (answer, confidence)


# -- known names by spelling and sound ------------------------------------------------
@pytest.mark.parametrize(
    ("turn", "doctor", "at_least"),
    [
        (speech("book with doctor patel"), "Dr. Patel", 1.0),
        (speech("patel please"), "Dr. Patel", 1.0),  # the title is optional
        (speech("doctor pattel"), "Dr. Patel", 0.9),  # spelled alike
        (speech("with doctor patil on friday"), "Dr. Patel", 0.85),
        (speech("doctor nuyen"), "Dr. Nguyen", 0.9),
        (speech("doctor new yen"), "Dr. Nguyen", 0.85),  # sounds alike
        (speech("doctor win"), "Dr. Nguyen", 0.85),  # as many say Nguyen
        (speech("i want the doctor", None, "i want doctor win"), "Dr. Nguyen", 0.75),  # n-best
        (speech("book with doctor pal", None, "book with doctor patel"), "Dr. Patel", 0.9),
    ],
)
def test_a_misheard_name_is_matched_against_every_reading(
    turn: CallerTurn, doctor: str, at_least: float
) -> None:
    found, confidence = match_choice(turn, DOCTORS)
    assert found == doctor
    assert at_least <= confidence <= 1.0


@pytest.mark.parametrize(
    "said",
    [
        "when can i come in",  # "when" sounds like "win", but alone it is half the evidence
        "i want to see the doctor",
        "a checkup next tuesday at three",
        "new yen",  # two common words, no title: too little to go on
        "",
    ],
)
def test_ordinary_words_name_no_one(said: str) -> None:
    assert match_choice(said, DOCTORS) == (None, 0.0)


def test_a_later_reading_counts_less_and_two_near_choices_less_still() -> None:
    best, _ = match_choice(speech("doctor patel"), DOCTORS)
    _, second = match_choice(speech("doctor", None, "doctor patel"), DOCTORS)
    _, third = match_choice(speech("doctor", None, "doctor", "doctor patel"), DOCTORS)
    assert best == "Dr. Patel" and second == 0.9 and third == 0.81
    _, torn = match_choice("doctor patel or doctor nguyen", DOCTORS)
    assert torn == 0.8  # both named: the first wins, unsure


def test_other_ways_of_saying_a_choice_can_be_given() -> None:
    menu = {"billing": ["my bill", "payment"], "technical support": ["tech support"]}
    assert match_choice("its about my bill", menu) == ("billing", 1.0)
    assert match_choice("tek support please", menu)[0] == "technical support"
    assert match_choice("its about my bill", menu, cutoff=1.01) == (None, 0.0)


# -- a flow's rules as an understander -------------------------------------------------
def rules_reading(
    turn: CallerTurn, *, expecting: Mapping[str, Any] | None, today: dt.date
) -> Understanding:
    """A tiny flow: "book" is an intent, "tuesday" a day, "with doctor X" a doctor."""
    words = turn["text"].split()
    slots = {}
    if "tuesday" in words:
        slots["day"] = Slot((today + dt.timedelta(days=5)).isoformat(), EXACT, "tuesday")
    doctor, likeness = match_choice(turn["text"], DOCTORS)
    if doctor:
        slots["doctor"] = Slot(doctor, likeness, turn["text"])
    return Understanding(
        intent="book" if "book" in words else None,
        intent_confidence=EXACT if "book" in words else 0.0,
        slots=slots,
        text=turn["text"],
    )


RULES = RuleUnderstander(rules_reading)


async def test_rule_confidence_is_scaled_by_the_recognisers() -> None:
    sure = await RULES.understand(speech("book tuesday"), today=TODAY)
    assert sure.intent == "book" and sure.intent_confidence == 1.0  # no figure: the rules stand
    assert sure.slot("day") == Slot("2026-12-08", 1.0, "tuesday")
    assert sure.source == "rules"
    noisy = await RULES.understand(speech("book tuesday", 0.5), today=TODAY)
    assert noisy.intent_confidence == 0.5 and noisy.slot("day") == Slot(
        "2026-12-08", 0.5, "tuesday"
    )


async def test_other_readings_fill_what_the_best_one_missed() -> None:
    turn = speech("book tuesday with doctor", 0.8, "look tuesday with doctor patel")
    heard = await RULES.understand(turn, today=TODAY)
    assert heard.intent == "book" and heard.intent_confidence == 0.8  # the best reading's
    assert heard.slot("doctor") == Slot("Dr. Patel", 0.72, "look tuesday with doctor patel")
    turn = speech("look tuesday", 1.0, "cook tuesday", "book tuesday")
    heard = await RULES.understand(turn, today=TODAY)
    assert heard.intent == "book" and heard.intent_confidence == 0.81  # the second alternative


async def test_nothing_is_read_into_silence_and_today_is_the_flows() -> None:
    silence = await RULES.understand(CallerTurn(text="", source="silence"), today=TODAY)
    assert not silence.understood
    heard = RULES.read(speech("book tuesday"))  # today from call_facts(): the real date
    assert heard.value("day") == (dt.date.today() + dt.timedelta(days=5)).isoformat()


# -- mixing rules and a model ----------------------------------------------------------
class FakeModel:
    """An understander that records what it was asked and answers as told."""

    def __init__(self, answer: Understanding) -> None:
        self.answer = answer
        self.asked: list[tuple[str, Mapping[str, Any] | None]] = []

    async def understand(
        self,
        turn: CallerTurn,
        *,
        expecting: Mapping[str, Any] | None = None,
        today: dt.date | None = None,
    ) -> Understanding:
        self.asked.append((turn["text"], expecting))
        return self.answer


MODEL_SAYS = Understanding(
    intent="book",
    intent_confidence=0.9,
    slots={"doctor": Slot("Dr. Nguyen", 0.85, "doctor when"), "time": Slot("15:00", 0.7)},
    source="model",
)


async def test_the_model_is_not_asked_when_the_rules_are_sure() -> None:
    model = FakeModel(MODEL_SAYS)
    mixed = Mixed(RULES, model, below=0.6)
    heard = await mixed.understand(speech("book tuesday with doctor patel", 0.9), today=TODAY)
    assert heard.source == "rules" and heard.value("doctor") == "Dr. Patel"
    for turn in (keys("1"), CallerTurn(text="", source="silence")):
        await mixed.understand(turn, today=TODAY)
    assert model.asked == []  # keys and silence never go to the model


async def test_the_model_is_asked_when_the_rules_are_unsure_and_the_surer_part_wins() -> None:
    model = FakeModel(MODEL_SAYS)
    mixed = Mixed(RULES, model, below=0.6)
    heard = await mixed.understand(speech("book tuesday with doctor when", 0.55), today=TODAY)
    assert model.asked == [("book tuesday with doctor when", None)]
    assert heard.source == "rules+model"
    assert heard.intent == "book" and heard.intent_confidence == 0.9  # the model's: surer
    assert heard.slot("day") == Slot("2026-12-08", 0.55, "tuesday")  # only the rules had it
    assert heard.value("doctor") == "Dr. Nguyen" and heard.value("time") == "15:00"


async def test_nothing_understood_asks_the_model_with_what_the_step_expects() -> None:
    model = FakeModel(MODEL_SAYS)
    await Mixed(RULES, model).understand(speech("um well"), expecting=Expect.time(), today=TODAY)
    assert model.asked == [("um well", Expect.time())]


async def test_a_failed_model_leaves_the_rules_reading_as_it_was() -> None:
    failed = Understanding(source="model", text="book tuesday")
    mixed = Mixed(RULES, FakeModel(failed), below=0.6)
    turn = speech("book tuesday", 0.4)
    assert await mixed.understand(turn, today=TODAY) == await RULES.understand(turn, today=TODAY)


# -- the bundled flows' rules in the step's shape --------------------------------------
@pytest.mark.parametrize(
    ("turn", "expecting", "intent", "slots"),
    [
        (
            speech("id like to book a checkup with doctor patel next tuesday at three"),
            None,
            ("book", EXACT),
            {
                "appointment_type": ("checkup", EXACT),
                "doctor": ("Dr. Patel", EXACT),
                "day": ("2026-12-08", EXACT),
                "time": ("15:00", EXACT),
            },
        ),
        (speech("three"), Expect.time(), None, {"time": ("15:00", INFERRED)}),
        (speech("maria lopez"), Expect.name(), None, {"name": ("Maria Lopez", INFERRED)}),
        (speech("my name is maria lopez"), Expect.name(), None, {"name": ("Maria Lopez", EXACT)}),
        (speech("the second one"), Expect.choice(["a", "b"]), None, {"selection": (2, EXACT)}),
        (speech("the last one"), Expect.choice(["a", "b"]), None, {"selection": (-1, EXACT)}),
        (
            speech("book with doctor new yen"),
            None,
            ("book", EXACT),
            {"doctor": ("Dr. Nguyen", 0.9)},
        ),
        (speech("book with doctor pattle"), None, ("book", EXACT), {"doctor": ("Dr. Patel", 0.9)}),
        (
            speech("move my tuesday appointment to thursday"),
            None,
            ("reschedule", EXACT),
            {"from_day": ("2026-12-08", EXACT), "day": ("2026-12-10", EXACT)},
        ),
        (keys("0"), None, ("transfer", EXACT), {"key": ("0", EXACT)}),
    ],
)
async def test_the_clinic_rules(
    turn: CallerTurn,
    expecting: Mapping[str, Any] | None,
    intent: tuple[str, float] | None,
    slots: dict[str, tuple[object, float]],
) -> None:
    heard = await clinic.RULES.understand(turn, expecting=expecting, today=TODAY)
    assert (heard.intent, heard.intent_confidence) == (intent or (None, 0.0))
    assert {n: (s.value, round(s.confidence, 2)) for n, s in heard.slots.items()} == slots


async def test_the_clinic_rules_answer_yes_and_no() -> None:
    heard = await clinic.RULES.understand(speech("yes cancel it please", 0.9), today=TODAY)
    assert (heard.answer, heard.answer_confidence) == ("yes", 0.9)
    heard = await clinic.RULES.understand(keys("2"), today=TODAY)
    assert (heard.answer, heard.answer_confidence) == ("no", 1.0)
    heard = await clinic.RULES.understand(speech("no make it four"), today=TODAY)
    assert heard.correction and heard.answer is None and heard.value("time") == "16:00"


@pytest.mark.parametrize(
    ("turn", "expecting", "intent", "slots"),
    [
        (speech("is there an outage in my area"), None, ("outage", EXACT), {}),
        (speech("is there an outtage in my area"), None, ("outage", FUZZY), {}),
        (speech("can i talk to a person"), None, ("person", EXACT), {}),
        (speech("a person at my door said the line was cut"), None, (None, 0.0), {}),
        (
            speech("whats the status of ticket four eight two nine one three"),
            None,
            ("ticket_status", EXACT),
            {"ticket_number": "482913"},
        ),
        (speech("five five one oh three"), None, ("outage", INFERRED), {"zip_code": "55103"}),
        (keys("55103"), Expect.digits(5), ("outage", INFERRED), {"zip_code": "55103"}),
        (
            speech("my router keeps restarting"),
            None,
            ("new_ticket", INFERRED),
            {"problem": "my router keeps restarting"},
        ),
        (speech("i want to open a ticket"), None, ("new_ticket", EXACT), {}),
    ],
)
async def test_the_helpdesk_rules(
    turn: CallerTurn,
    expecting: Mapping[str, Any] | None,
    intent: tuple[str | None, float],
    slots: dict[str, str],
) -> None:
    heard = await helpdesk.RULES.understand(turn, expecting=expecting, today=TODAY)
    assert (heard.intent, heard.intent_confidence) == intent
    assert {n: s.value for n, s in heard.slots.items()} == slots


async def test_the_helpdesk_rules_answer_yes_and_not_no_internet() -> None:
    heard = await helpdesk.RULES.understand(speech("yeah go ahead", 0.8), today=TODAY)
    assert (heard.answer, heard.answer_confidence) == ("yes", 0.8)
    heard = await helpdesk.RULES.understand(speech("no internet since monday"), today=TODAY)
    assert heard.answer is None and heard.intent == "outage"
