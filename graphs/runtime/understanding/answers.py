"""A yes or a no in its spoken forms: an offline helper for a flow's rules.

:func:`yes_no` reads the answer at the start of a turn ("yeah go ahead",
"not really"), plainer forms surer, and knows the "no" that describes
("no internet") from the one that refuses.
"""

from __future__ import annotations

import re

from graphs.runtime.understanding.meaning import EXACT, Answer
from spoken.words import fold

__all__ = ["yes_no"]

_FILLERS = r"^(?:(?:um|uh|er|erm|ah|oh|well|hmm|so|okay so|ok so) )*"
_NOT_AN_ANSWER = re.compile(
    # "no internet", "no one answered", "no idea": "no" before a noun describes, not refuses
    r"\bno (?:internet|service|connection|signal|broadband|power|light|lights|dial tone|network"
    r"|wifi|wi fi|phone|sound|picture|access|idea|one|body|matter|longer|more than|less than)\b"
)
_NO_BUT_YES = re.compile(_FILLERS + r"(?:no (?:problem|worries)|not a problem)\b")
_ANSWER_FORMS: tuple[tuple[Answer, float, str], ...] = (
    # (answer, confidence, forms at the start of the turn): the first that matches counts
    (
        "no",
        EXACT,
        r"(?:no|nope|nah|negative|incorrect|wrong|thats wrong|that is wrong|thats not right"
        r"|thats not correct|that is not right|not right|not correct|dont|do not|i dont"
        r"|never mind|nevermind)",
    ),
    (
        "no",
        0.9,
        r"(?:not really|not now|not yet|not quite|not today|i dont think so|id rather not"
        r"|i would rather not|better not|maybe not|not at the moment|please dont)",
    ),
    (
        "yes",
        EXACT,
        r"(?:yes|yeah|yep|yup|yea|ya|aye|affirmative|correct|absolutely|definitely|certainly"
        r"|exactly|of course|sure thing|go ahead|please do|do it|thats right|that is right"
        r"|thats correct|that is correct)",
    ),
    (
        "yes",
        0.85,
        r"(?:sure|ok|okay|alright|all right|fine|sounds good|that sounds good|that works"
        r"|works for me|perfect|great|lovely|please|uh huh|mhm|mm hmm|i do|i would|i think so"
        r"|i guess so|why not|right|thats (?:fine|good|great|perfect)"
        r"|that would be (?:great|good|fine|lovely|perfect))",
    ),
)
_ANSWERS = tuple(
    (answer, confidence, re.compile(_FILLERS + forms + r"\b"))
    for answer, confidence, forms in _ANSWER_FORMS
)
_YES_ANYWHERE = re.compile(r"\b(?:yes|yeah|yep)\b")
_NO_ANYWHERE = re.compile(r"(?<!\bnot )\b(?:no|nope)\b")
_LATE_ANSWER = 0.6  # "i said yes": an answer, but not where answers are said
_NO_BUT_YES_CONFIDENCE = 0.7  # "no problem" agrees, in most mouths


def yes_no(text: str) -> tuple[Answer | None, float]:
    """A yes or a no in its spoken forms, with a confidence; ``(None, 0.0)`` otherwise.

    A form at the start of the turn counts ("yes please", "yeah go ahead",
    "that's right", "yes, cancel it please", "nope", "not really"); plainer
    forms are surer ("yes" over "okay", which also acknowledges). "no" before
    a noun describes rather than refuses ("no internet since monday"), and "no
    problem" agrees.

    >>> yes_no("Yeah, go ahead.")
    ('yes', 1.0)
    """
    # "no internet" describes: read as "none internet", which no pattern takes for a no
    t = _NOT_AN_ANSWER.sub(lambda m: "none" + m.group(0)[2:], fold(text))
    if _NO_BUT_YES.match(t):
        return "yes", _NO_BUT_YES_CONFIDENCE
    for answer, confidence, pattern in _ANSWERS:
        if pattern.match(t):
            return answer, confidence
    if _YES_ANYWHERE.search(t):
        return "yes", _LATE_ANSWER
    if _NO_ANYWHERE.search(t):
        return "no", _LATE_ANSWER
    return None, 0.0
