"""Caller ID as the runtime uses it: an E.164 number, or ``""`` for unknown.

Twilio puts a word in ``From`` when the caller hides their number
(``anonymous``, ``Anonymous``, ``Restricted``, ``Unavailable``, ``Unknown``,
``Private``, ``Blocked``), or that word spelt on a phone keypad with a plus
(``+266696687`` is ANONYMOUS), or nothing at all; a call from a SIP endpoint or
a Twilio Client brings an address (``sip:alice@example.com``,
``client:alice``). None of these identifies a person: taken as a number, every
withheld caller would be one caller, greeted with the others' name and
appointments. :func:`normalise_caller` turns every such value, and anything
else that is not a plausible phone number, into ``""`` (unknown), which never
matches caller memory and never reaches a flow as a number.

"Plausible" is ``phonenumbers.is_possible_number`` (the right length for its
country), not ``is_valid_number``: validity depends on number-range metadata
that lags the carriers (a real caller on a new range would lose their memory)
and rejects the fictional 555 numbers used in documentation and tests. The
keypad spellings that happen to have a possible length (UNKNOWN is
``+8656696``) are refused by name.

Pure: no I/O and no logging, so memory, graphs and telephony can all use it.
"""

from __future__ import annotations

import re
from typing import Final

import phonenumbers

__all__ = ["WITHHELD_WORDS", "is_withheld", "normalise_caller"]

# What carriers and Twilio send instead of a hidden number.
WITHHELD_WORDS: Final = frozenset(
    {"anonymous", "restricted", "blocked", "unknown", "unavailable", "private", "withheld"}
)
_KEYPAD: Final = {
    letter: str(digit)
    for digit, letters in enumerate(
        ["", "", "abc", "def", "ghi", "jkl", "mno", "pqrs", "tuv", "wxyz"]
    )
    for letter in letters
}
# Each word as keypad digits: Twilio sends "+266696687" for ANONYMOUS.
_WITHHELD_DIGITS: Final = frozenset("".join(_KEYPAD[c] for c in word) for word in WITHHELD_WORDS)
# Characters a phone number is written with; a letter (a word, "sip:", "ext")
# means it is not a plain number (and phonenumbers would read "1-800-FLOWERS").
_NUMBER_CHARS: Final = re.compile(r"[0-9+\-(). ]+", re.ASCII)
_MAX_CHARS: Final = 40  # E.164 is 16 characters; room for spaces and dashes
_MIN_DIGITS: Final = 7  # shorter is a short code or an extension, not a caller


def is_withheld(raw: str) -> bool:
    """Whether ``raw`` is one of the values sent for a hidden number (or empty)."""
    text = raw.strip().lower()
    if text in WITHHELD_WORDS or not text:
        return True
    digits = text.removeprefix("+")
    return digits.isascii() and digits.isdigit() and digits in _WITHHELD_DIGITS


def normalise_caller(raw: str | None, default_region: str | None = None) -> str:
    """The caller's number in E.164, or ``""`` when it is withheld or not a number.

    Args:
        raw: ``From`` (inbound) or ``To`` (outbound) as Twilio sent it.
        default_region: ISO country code to read a number without ``+`` in
            (``"GB"``); ``None`` (Twilio always sends E.164) refuses such numbers.

    Returns:
        E.164 (``"+14155550100"``) for a possible phone number, else ``""``.
    """
    if not isinstance(raw, str) or len(raw) > _MAX_CHARS or is_withheld(raw):
        return ""
    text = raw.strip()
    if not _NUMBER_CHARS.fullmatch(text) or sum(c.isdigit() for c in text) < _MIN_DIGITS:
        return ""
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return ""
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE or number.extension:
        return ""
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return "" if is_withheld(e164) else e164
