"""What a step expects, as the recognisers use it: parsing, models to decode with, key terms."""

from __future__ import annotations

import re

import pytest

from spoken.days import parse_day
from spoken.digits import normalise
from spoken.times import parse_time
from telephony.speech.base import Expectation
from telephony.speech.expectation import (
    HINTS_PREFIX,
    KIND_SEARCHES,
    ExpectationBoard,
    answers,
    hint_phrase,
    key_terms,
    kind_answers,
    searches_for,
)

DOCTORS = ["Dr. Patel", "Dr. Nguyen"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, None),
        ("yes_no", None),  # not a mapping
        ({"kind": "text"}, None),  # free speech: the flow's own model
        ({"kind": "text", "hints": []}, None),
        ({"kind": "yes_no", "hints": []}, Expectation("yes_no")),
        ({"kind": "date", "hints": ["next week"]}, Expectation("date", ("next week",))),
        (
            {"kind": "choice", "choices": DOCTORS, "hints": [*DOCTORS, "either"]},
            Expectation("choice", (*DOCTORS, "either"), tuple(DOCTORS)),
        ),
        (
            {"kind": "digits", "max_digits": 5, "min_digits": 1, "finish_on_key": "#"},
            Expectation("digits", max_digits=5),
        ),
        ({"kind": "digits", "max_digits": "five"}, Expectation("digits")),  # lenient
        ({"kind": "yes_no", "max_digits": 5}, Expectation("yes_no")),  # only digits have a length
        ({"kind": "riddle", "hints": ["sphinx"]}, Expectation("text", ("sphinx",))),
        ({"kind": "riddle"}, None),
        ({"kind": "name", "hints": "maria"}, Expectation("name")),  # a string is not a list
        (
            {"kind": "name", "hints": ["  maria   lopez ", "", 7]},
            Expectation("name", ("maria lopez",)),
        ),
    ],
)
def test_an_expect_mapping_becomes_an_expectation(spec: object, expected: object) -> None:
    assert Expectation.from_spec(spec) == expected  # type: ignore[arg-type]


HINTED = "hinted"  # stands for the digest-named model of the step's own hints


@pytest.mark.parametrize(
    ("expectation", "searches"),
    [
        (None, ()),
        (Expectation("yes_no"), ("yes_no",)),
        (Expectation("date"), ("date",)),
        (Expectation("time"), ("time",)),
        (Expectation("number"), ("number",)),
        (Expectation("digits", max_digits=5), ("digits",)),  # a length alone: the kind's model
        (Expectation("name"), ("name",)),
        (Expectation("choice", tuple(DOCTORS), tuple(DOCTORS)), (HINTED, "choice")),
        (Expectation("digits", ("my zip code is",), max_digits=5), (HINTED, "digits")),
        (Expectation("text", ("my internet is down",)), (HINTED,)),
    ],
)
def test_each_kind_decodes_with_its_model_and_hints_come_first(
    expectation: Expectation | None, searches: tuple[str, ...]
) -> None:
    found = searches_for(expectation)
    assert [HINTED if s.startswith(HINTS_PREFIX) else s for s in found] == list(searches)
    assert set(found) - {s for s in found if s.startswith(HINTS_PREFIX)} <= set(KIND_SEARCHES)
    assert all(re.fullmatch(r"[a-z0-9_-]+", s) for s in found)  # file-name safe


def test_steps_that_ask_the_same_share_a_model_and_others_do_not() -> None:
    ask = Expectation("choice", tuple(DOCTORS), tuple(DOCTORS))
    again = Expectation.from_spec({"kind": "choice", "choices": DOCTORS, "hints": DOCTORS})
    other = Expectation("choice", ("Dr. Patel", "Dr. Okafor"), ("Dr. Patel", "Dr. Okafor"))
    as_name = Expectation("name", tuple(DOCTORS))
    assert searches_for(ask) == searches_for(again)
    assert len({searches_for(e)[0] for e in (ask, other, as_name)}) == 3


@pytest.mark.parametrize("kind", KIND_SEARCHES)
def test_every_kind_has_answers_in_the_recognisers_spelling(kind: str) -> None:
    said = kind_answers(kind)
    assert len(said) >= 10
    assert kind_answers(kind) == said  # fixed: the models are cached under a digest of them
    for sentence in said:
        assert re.fullmatch(r"[a-z.' ]+", sentence), sentence  # words, never digits or capitals


def test_text_has_no_answers_of_its_own() -> None:
    assert kind_answers("text") == []


def test_the_answers_mean_what_their_kind_asks_for() -> None:
    import datetime as dt

    today = dt.date(2026, 12, 3)
    dates = [s for s in kind_answers("date") if s not in {"next week", "this week"}]
    assert all(parse_day(s, today) is not None for s in dates), [
        s for s in dates if parse_day(s, today) is None
    ]
    times = [s for s in kind_answers("time") if "morning" not in s and "afternoon" not in s]
    times = [s for s in times if s != "any time"]
    assert all(parse_time(s, opens_at=9) is not None for s in times), [
        s for s in times if parse_time(s, opens_at=9) is None
    ]
    numbers = [s for s in kind_answers("digits") if len(s.split()) > 2]
    assert all(re.search(r"\d{3,}", normalise(s).normalised) for s in numbers)


def test_a_digits_step_with_a_length_says_numbers_of_that_length() -> None:
    step = Expectation("digits", ("my zip code is",), max_digits=5)
    said = answers(step)
    runs = [normalise(s).normalised for s in said if s.startswith("my zip code is ")]
    assert len(runs) >= 20
    assert all(re.search(r"\b\d{5}\b", run) for run in runs), runs[:3]


def test_hints_are_said_as_the_recogniser_writes_them() -> None:
    assert hint_phrase("Dr. Nguyen") == "doctor nguyen"
    assert hint_phrase("Dr Patel, please!") == "doctor patel please"
    assert hint_phrase("The 9:30 one") == "the nine thirty one"
    said = answers(Expectation("choice", tuple(DOCTORS), tuple(DOCTORS)))
    assert {"doctor nguyen", "with doctor nguyen", "doctor patel please"} <= set(said)
    assert set(kind_answers("choice")) <= set(said)  # "the second one" still an answer


def test_the_cloud_recogniser_gets_the_hints_never_a_kinds_common_words() -> None:
    assert key_terms(None) == ()
    assert key_terms(Expectation("yes_no")) == ()
    assert key_terms(Expectation("digits", max_digits=6)) == ()
    assert key_terms(Expectation("choice", tuple(DOCTORS), tuple(DOCTORS))) == tuple(DOCTORS)


def test_the_board_keeps_each_calls_expectation_for_its_open_transcription() -> None:
    board = ExpectationBoard()
    yes_no, day = Expectation("yes_no"), Expectation("date")

    assert board.expect("CA1", yes_no) is None  # not transcribing yet: kept for when it starts
    first = board.open("CA1")
    assert first.expectation == yes_no and first.version == 1
    assert board.expect("CA1", day) is first and first.expectation == day
    board.expect("CA1", day)
    assert first.version == 2, "the same expectation again is no change"
    board.expect("CA1", None)
    assert (first.expectation, first.version) == (None, 3)

    second = board.open("CA2")
    board.close("CA1", first)
    assert board.current("CA1") is None and board.current("CA2") is None
    board.expect("CA2", day)
    assert second.expectation == day

    retry = board.open("CA2")  # a retried engine opens the call again
    board.close("CA2", second)  # the old transcription ending leaves the new one open
    assert board.expect("CA2", yes_no) is retry


def test_calls_that_never_start_cannot_pile_up_on_the_board() -> None:
    board = ExpectationBoard(pending_limit=3)
    for n in range(10):
        board.expect(f"CA{n}", Expectation("yes_no"))
    assert [board.current(f"CA{n}") is not None for n in range(10)] == [False] * 7 + [True] * 3
    assert board.open("CA9").expectation == Expectation("yes_no")
    assert board.current("CA9") == Expectation("yes_no")
