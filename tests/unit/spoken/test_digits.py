"""Spoken digit runs and e-mail addresses to written form, mapped back to the words."""

from __future__ import annotations

import pytest

from spoken.digits import normalise


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card four one one one, one one one one", "card 4111 1111"),
        ("double five triple oh one", "550001"),
        ("plus nine one nine eight seven", "+91987"),
        ("twenty three hundred", "2300"),
        ("five five nought one", "5501"),
        ("fifty five one oh three", "55103"),
        ("priya dot sharma at example dot com", "priya.sharma@example.com"),
        ("raj at the rate gmail dot com", "raj@gmail.com"),
        # left alone: short runs, o'clock, interjections, non-TLD "emails"
        ("one moment please", "one moment please"),
        ("see you at three o'clock", "see you at three o'clock"),
        ("oh, two", "oh, two"),
        ("oh well", "oh well"),  # a lone "oh" is an interjection, never a crash
        ("you said: o.", "you said: o."),
        ("meet at the cafe dot bar", "meet at the cafe dot bar"),
    ],
)
def test_normalise_spoken_numbers_and_emails(text: str, expected: str) -> None:
    assert normalise(text).normalised == expected


def test_offsets_map_back_to_the_spoken_words() -> None:
    mapping = normalise("call four one one one now")
    start = mapping.normalised.index("4111")
    assert mapping.to_original(start, start + 4) == (5, 21)
    assert mapping.original[5:21] == "four one one one"
    assert mapping.to_original(0, 4) == (0, 4)  # untouched text maps one to one
