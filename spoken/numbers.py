"""Number words: the one table of them, reading a number from words, saying one.

A recogniser writes numbers as words ("twenty five", "third", "oh five"), a
TTS reads digits badly (Piper says "2345" as one number), and redaction must
see a card number read digit by digit. Every reader and speaker of numbers
in Dialgraph takes its words from the tables here, so "oh" is a zero to the
redactor, the keypad answer reader and the turn-taking alike.

Saying a number is num2words' job. It is imported on first use, not here:
it loads every language it knows (~0.3 s), and most importers of this module
(turn-taking, redaction) only want the tables. :func:`warm` imports it at
start-up.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

__all__ = [
    "CARDINALS",
    "DIGIT_WORDS",
    "NUMBER_WORDS",
    "ORDINALS",
    "REPEATS",
    "SCALES",
    "TENS",
    "UNITS",
    "SpokenNumber",
    "number_at",
    "say_number",
    "say_ordinal",
    "warm",
]

UNITS: tuple[str, ...] = tuple(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen".split()
)
"""The number words below twenty; a word's index is its value."""

_UNIT_ORDINALS: tuple[str, ...] = tuple(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
    "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth".split()
)

TENS: dict[str, int] = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
"""The tens; "twenty five" is "twenty" then "five"."""

_TENS_ORDINALS: dict[str, int] = {
    "twentieth": 20,
    "thirtieth": 30,
    "fortieth": 40,
    "fiftieth": 50,
    "sixtieth": 60,
    "seventieth": 70,
    "eightieth": 80,
    "ninetieth": 90,
}

CARDINALS: dict[str, int] = {word: n for n, word in enumerate(UNITS)} | TENS
"""Single number words to their value (compounds like "twenty five" are two words)."""

ORDINALS: dict[str, int] = {word: n for n, word in enumerate(_UNIT_ORDINALS) if n} | _TENS_ORDINALS
"""Single ordinal words to their value ("twenty fifth" is "twenty" then "fifth")."""

SCALES: dict[str, int] = {"hundred": 100, "thousand": 1000}
"""Words that multiply what came before ("four hundred")."""

DIGIT_WORDS: dict[str, int] = {"zero": 0, "oh": 0, "o": 0, "nought": 0} | {
    word: n for n, word in enumerate(UNITS[1:10], start=1)
}
"""Words for one digit, as numbers are read out digit by digit ("five five five oh")."""

REPEATS: dict[str, int] = {"double": 2, "triple": 3}
"""Words that repeat the next digit ("double five" is 55)."""

NUMBER_WORDS: frozenset[str] = frozenset([*CARDINALS, *DIGIT_WORDS, *SCALES, *REPEATS])
"""Every word that can be part of a number being said (ordinals end one, so are not here)."""

_DIGIT_ORDINAL = re.compile(r"(\d{1,2})(?:st|nd|rd|th)")
_MAX_DIGITS = 2  # a digit token read as a number: hours, minutes, days ("2025" is not a day)


class SpokenNumber(NamedTuple):
    """A number read from words.

    Attributes:
        value: Its value.
        length: How many words it took.
        ordinal: Whether it was said as an ordinal ("third", "21st").
    """

    value: int
    length: int
    ordinal: bool


def _at(words: Sequence[str], i: int) -> str:
    """The word at ``i``, or ``""`` past the end (neighbours are looked at freely)."""
    return words[i] if 0 <= i < len(words) else ""


def _below_hundred(words: Sequence[str], j: int) -> tuple[int, int, bool] | None:
    """ "seven", "forty", "forty two", "forty second": (value, next index, ordinal)."""
    word, following = _at(words, j), _at(words, j + 1)
    if word in TENS:
        if 0 < CARDINALS.get(following, 0) < 10:
            return TENS[word] + CARDINALS[following], j + 2, False
        if 0 < ORDINALS.get(following, 0) < 10:
            return TENS[word] + ORDINALS[following], j + 2, True
    if word in CARDINALS:
        return CARDINALS[word], j + 1, False
    if word in ORDINALS:
        return ORDINALS[word], j + 1, True
    return None


def _below_thousand(words: Sequence[str], j: int) -> tuple[int, int, bool] | None:
    """ "four hundred (and) forty two" or anything :func:`_below_hundred` reads."""
    word, scale = _at(words, j), _at(words, j + 1)
    if 0 < CARDINALS.get(word, 0) < 20 and scale in ("hundred", "hundredth"):
        hundreds = CARDINALS[word] * 100
        if scale == "hundredth":
            return hundreds, j + 2, True
        j += 2
        rest = _below_hundred(words, j)
        if rest is None and _at(words, j) == "and":  # "one hundred and five" (British)
            rest = _below_hundred(words, j + 1)
        return (hundreds, j, False) if rest is None else (hundreds + rest[0], rest[1], rest[2])
    return _below_hundred(words, j)


def number_at(words: Sequence[str], i: int) -> SpokenNumber | None:
    """The number that starts at ``words[i]``, or None when none does.

    Reads digits ("25", "21st"), words ("twenty five", "twenty fifth"), and
    hundreds and thousands ("two thousand and five", "one hundred forty
    second"), with or without "and". It stops at the first word that does not
    continue the number, so "nine oh five" is 9 (then "oh five" minutes) and
    "two twenty" is 2: a caller saying a time, not a number grammar.

    Args:
        words: Lower-case words (see :func:`spoken.words.fold`).
        i: Where the number would start.
    """
    word = _at(words, i)
    if word.isdigit() and len(word) <= _MAX_DIGITS:
        return SpokenNumber(int(word), 1, False)
    if m := _DIGIT_ORDINAL.fullmatch(word):
        return SpokenNumber(int(m.group(1)), 1, True)
    head = _below_thousand(words, i)
    if head is None:
        return None
    value, j, ordinal = head
    scale = _at(words, j)
    if not ordinal and value and scale in ("thousand", "thousandth"):
        value *= 1000
        if scale == "thousandth":
            return SpokenNumber(value, j + 1 - i, True)
        j += 1
        rest = _below_thousand(words, j)
        if rest is None and _at(words, j) == "and":
            rest = _below_thousand(words, j + 1)
        if rest is not None:
            value, j, ordinal = value + rest[0], rest[1], rest[2]
    return SpokenNumber(value, j - i, ordinal)


@functools.cache
def _num2words() -> Callable[..., str]:
    import num2words  # type: ignore[import-untyped]  # no type information shipped

    convert: Callable[..., str] = num2words.num2words
    return convert


def _plain(words: str) -> str:
    """num2words' British form as a US voice reads it: no "and", no commas, no hyphens."""
    return " ".join(w for w in words.replace(",", " ").replace("-", " ").split() if w != "and")


def say_number(n: int) -> str:
    """A whole number in words: ``142`` -> ``"one hundred forty two"``.

    The US form, without "and" (the clinic is American, and it is what the
    TTS was given before); :func:`number_at` reads both forms.
    """
    return _plain(_num2words()(n))


def say_ordinal(n: int) -> str:
    """An ordinal in words: ``21`` -> ``"twenty first"``, ``100`` -> ``"one hundredth"``."""
    return _plain(_num2words()(n, to="ordinal"))


def warm() -> None:
    """Import num2words now (it is imported on first use otherwise)."""
    _num2words()
