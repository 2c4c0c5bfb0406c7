"""Number words both ways: what the recogniser writes and what the TTS should read.

pocketsphinx writes numbers as words ("twenty five", "third"), and Piper reads
digits badly ("2345" as one cardinal), so the clinic dialogue parses words in
and speaks words out. Only the range the domain needs is covered: 0-59 for
clock minutes and hours, 1st-31st for days of the month.
"""

from __future__ import annotations

__all__ = [
    "CARDINALS",
    "ORDINALS",
    "TENS",
    "cardinal_words",
    "ordinal_words",
    "words_of",
]


def words_of(text: str) -> list[str]:
    """Split a space-separated word table (long vocabularies read better as prose)."""
    return text.split()


_UNITS = words_of(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
)
_UNIT_ORDINALS = words_of(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
    "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
)
TENS: dict[str, int] = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
_TENS_ORDINALS = {"twentieth": 20, "thirtieth": 30}

CARDINALS: dict[str, int] = {word: n for n, word in enumerate(_UNITS)} | TENS
"""Single number words to their value (compounds like "twenty five" are two words)."""

ORDINALS: dict[str, int] = {word: n for n, word in enumerate(_UNIT_ORDINALS) if n} | _TENS_ORDINALS
"""Single ordinal words to their value ("twenty fifth" is "twenty" + "fifth")."""

_TENS_BY_VALUE = {n: word for word, n in TENS.items()}


def cardinal_words(n: int) -> str:
    """Spell 0-59 as words: ``25`` -> ``"twenty five"``."""
    if not 0 <= n < 60:
        raise ValueError(f"cardinal_words covers 0-59, got {n}")
    if n < 20:
        return _UNITS[n]
    tens, unit = divmod(n, 10)
    word = _TENS_BY_VALUE[tens * 10]
    return word if unit == 0 else f"{word} {_UNITS[unit]}"


def ordinal_words(n: int) -> str:
    """Spell 1-31 as an ordinal: ``21`` -> ``"twenty first"``."""
    if not 1 <= n <= 31:
        raise ValueError(f"ordinal_words covers 1-31, got {n}")
    if n < 20:
        return _UNIT_ORDINALS[n]
    tens, unit = divmod(n, 10)
    if unit == 0:
        return "twentieth" if tens == 2 else "thirtieth"
    return f"{_TENS_BY_VALUE[tens * 10]} {_UNIT_ORDINALS[unit]}"
