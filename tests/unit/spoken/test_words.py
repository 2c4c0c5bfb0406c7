"""Typed text and a model's arguments folded into the recogniser's shape of words."""

from __future__ import annotations

import pytest

from spoken.words import fold


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It's 3pm, Dr. Nguyen's check-up!", "its 3 pm dr nguyens check up"),
        ("three P.M.", "three pm"),
        ("three p m", "three pm"),
        ("3:30 p.m.", "3:30 pm"),
        ("At 15:30.", "at 15:30"),
        ("two o'clock", "two oclock"),
        ("  Twenty-Fifth  ", "twenty fifth"),
        ("2025-03-07", "2025 03 07"),
        ("#", "#"),
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected
    assert fold(expected) == expected  # folding twice changes nothing
