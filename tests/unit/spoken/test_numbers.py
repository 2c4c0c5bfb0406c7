"""Number words: the tables, reading a number at a word, saying one (both ways agree)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spoken.numbers import (
    CARDINALS,
    DIGIT_WORDS,
    NUMBER_WORDS,
    ORDINALS,
    SpokenNumber,
    number_at,
    say_number,
    say_ordinal,
)

PROPERTY = settings(max_examples=400, deadline=None, derandomize=True)


def test_the_tables_hold_every_word_once_with_its_value() -> None:
    assert CARDINALS["zero"] == 0 and CARDINALS["nineteen"] == 19 and CARDINALS["ninety"] == 90
    assert ORDINALS["first"] == 1 and ORDINALS["thirtieth"] == 30 and "zeroth" not in ORDINALS
    assert {w for w, n in DIGIT_WORDS.items() if n == 0} == {"zero", "oh", "o", "nought"}
    assert {"double", "triple", "hundred", "thousand", "oh"} <= NUMBER_WORDS
    assert not NUMBER_WORDS & set(ORDINALS)  # "the third" ends a number, never continues one


@pytest.mark.parametrize(
    ("words", "at", "expected"),
    [
        ("twenty five", 0, (25, 2, False)),
        ("the twenty third of may", 1, (23, 2, True)),
        ("third", 0, (3, 1, True)),
        ("21st", 0, (21, 1, True)),
        ("15", 0, (15, 1, False)),
        ("2025", 0, None),  # a year, not a day or an hour
        ("nine oh five", 0, (9, 1, False)),  # then "oh five": minutes
        ("two twenty", 0, (2, 1, False)),  # a time said, not one number
        ("one hundred forty two", 0, (142, 4, False)),
        ("one hundred and forty two", 0, (142, 5, False)),
        ("two thousand and five", 0, (2005, 4, False)),
        ("one hundred and then", 0, (100, 2, False)),  # "and" only joins numbers
        ("one thousandth", 0, (1000, 2, True)),
        ("sixty five", 0, (65, 2, False)),
        ("hello", 0, None),
        ("three", 5, None),  # past the end
    ],
)
def test_number_at(words: str, at: int, expected: tuple[int, int, bool] | None) -> None:
    found = number_at(words.split(), at)
    assert found == (None if expected is None else SpokenNumber(*expected))


@pytest.mark.parametrize(
    ("n", "said", "ordinal"),
    [
        (0, "zero", None),
        (7, "seven", "seventh"),
        (21, "twenty one", "twenty first"),
        (30, "thirty", "thirtieth"),
        (42, "forty two", "forty second"),
        (120, "one hundred twenty", "one hundred twentieth"),
        (1500, "one thousand five hundred", "one thousand five hundredth"),
        (2005, "two thousand five", "two thousand fifth"),
    ],
)
def test_saying_numbers_in_words_without_and(n: int, said: str, ordinal: str | None) -> None:
    assert say_number(n) == said
    if ordinal:
        assert say_ordinal(n) == ordinal


@PROPERTY
@given(st.integers(0, 9999))
def test_a_number_said_reads_back(n: int) -> None:
    words = say_number(n).split()
    assert number_at(words, 0) == SpokenNumber(n, len(words), False)


@PROPERTY
@given(st.integers(1, 9999))
def test_an_ordinal_said_reads_back(n: int) -> None:
    words = say_ordinal(n).split()
    assert number_at(words, 0) == SpokenNumber(n, len(words), True)
