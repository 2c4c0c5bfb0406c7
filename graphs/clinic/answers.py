"""Yes/no answers, corrections, choices from a list, and keypad presses.

Part of the clinic NLU (``nlu.parse`` combines them). Works on normalised text.
Keys pressed on the phone arrive tagged and are read by ``nlu.parse_keys``;
``dtmf_key`` reads a key written as text (typed in Studio): a lone digit
("1"), "press one", "pressed 1".
"""

from __future__ import annotations

import re

from spoken.numbers import DIGIT_WORDS, UNITS

__all__ = [
    "KEYS",
    "correction_marked",
    "dtmf_key",
    "no_answer",
    "selection",
    "yes_answer",
]

_LEAD = r"^(?:(?:um|uh|er|oh|ah|well|hmm) )*"
_YES = re.compile(
    _LEAD + r"(yes|yeah|yep|yup|ya|yea|sure|correct|right|ok|okay|alright|all right|absolutely"
    r"|definitely|certainly|of course|please|go ahead|please do|do it|book it|confirm|perfect"
    r"|sounds good|that works|works for me|great|fine|affirmative|uh huh|mhm|exactly"
    r"|thats (right|correct|fine|good|perfect|great)|that is (right|correct|fine)"
    r"|that sounds good|i do|i would)\b"
)
_NO = re.compile(
    _LEAD + r"(no|nope|nah|not really|negative|incorrect|wrong|dont|do not|i dont"
    r"|thats (wrong|not right|not correct|incorrect)|not right|not correct|not quite)\b"
)
_CORRECTION_START = re.compile(
    _LEAD + r"(no|nope|not|actually|sorry|wait|oops|rather|instead|how about|what about"
    r"|can we do|could we do|lets do|lets say|can it be|could it be|make it|make that)\b"
)
_CORRECTION_ANYWHERE = re.compile(
    r"\b(actually|i meant|i mean|make it|make that|change (it|that) to|change to|instead"
    r"|rather|on second thought|switch (it |that )?to)\b"
)
_ORDINAL_CHOICE = re.compile(
    r"\b(?:the )?(first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th|last|earliest|earlier"
    r"|latest|later)(?= (one|ones|option|appointment|time|slot|choice)\b|$)"
)
_NUMBERED_CHOICE = re.compile(
    rf"\b(?:number|option|choice) ({'|'.join(UNITS[1:6])}|[1-5])\b"
)  # "option two": one of the (at most five) things read out
_ANY_CHOICE = re.compile(
    r"\b(any|anything|whatever|whichever|any of them|any time|anytime|doesnt matter"
    r"|dont mind|first available|soonest|earliest)\b"
)
_CHOICE_INDEX = {
    "first": 0, "1st": 0, "earliest": 0, "earlier": 0, "second": 1, "2nd": 1,
    "third": 2, "3rd": 2, "fourth": 3, "4th": 3, "fifth": 4, "5th": 4,
    "last": -1, "latest": -1, "later": -1,
}  # fmt: skip
KEYS = {word: str(n) for word, n in DIGIT_WORDS.items()} | {"star": "*", "pound": "#", "hash": "#"}
"""Keypad keys said as words ("press oh", "hit pound")."""
_DTMF = re.compile(
    r"^(?:(?:i |caller )?(?:pressed|press|pushed|push|hit|typed|dialed)|dtmf|key|keypad)"
    r"(?: the)?(?: key| button| number)? ?([0-9*#]|" + "|".join(KEYS) + r")(?: key| button)?$"
)


def dtmf_key(t: str) -> str | None:
    """The key of a keypad press: "1", "press one", "pressed 0", "star"."""
    if len(t) == 1 and t in "0123456789*#":
        return t
    if m := _DTMF.match(t):
        return KEYS.get(m.group(1), m.group(1))
    return None


def selection(t: str, *, choosing: bool) -> int | None:
    """Index into a list just read out: "the second one" 1, "the last one" -1, "any" 0.

    ``choosing`` (a list was just read) also accepts a bare "two" or "the second".
    """
    if m := _NUMBERED_CHOICE.search(t):
        key = m.group(1)
        return int(KEYS.get(key, key)) - 1
    # Alone, "the second" is a choice only when a list was just read (it is also a date).
    if (m := _ORDINAL_CHOICE.search(t)) and (choosing or m.end() < len(t)):
        return _CHOICE_INDEX[m.group(1)]
    if choosing:
        words = t.split()
        if len(words) == 1 and words[0] in KEYS and KEYS[words[0]] != "0":
            return int(KEYS[words[0]]) - 1 if KEYS[words[0]].isdigit() else None
        if _ANY_CHOICE.search(t):
            return 0
    return None


def yes_answer(t: str) -> bool:
    """ "yes", "yeah", "sure", "that's right", "go ahead"... at the start of the turn."""
    return bool(_YES.search(t))


def no_answer(t: str) -> bool:
    """ "no", "nope", "not really", "that's wrong"... at the start of the turn."""
    return bool(_NO.search(t))


def correction_marked(t: str) -> bool:
    """Words that mark a correction: "no, ...", "actually", "i meant", "make it"."""
    return bool(_CORRECTION_START.search(t) or _CORRECTION_ANYWHERE.search(t))
