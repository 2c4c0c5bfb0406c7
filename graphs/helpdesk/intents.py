"""Understand one caller turn at the helpdesk, offline and deterministically.

How it works: :func:`understand` reads the turn's words the way the
recogniser writes them (lower case, numbers as words) or as typed in Studio,
in four passes:

1. **Plain text**: lower case, apostrophes dropped ("what's" -> "whats"),
   punctuation to spaces, spoken digit runs to digits ("five five one oh
   three" -> "55103", :func:`tools.helpdesk.with_digits`), and a few
   misheard key words put right by fuzzy matching ("outtage" -> "outage").
2. **Slots**: a five-digit run is a ZIP code, a six-digit run a ticket number.
3. **Intent**, first match wins: a person (asked for, not merely mentioned:
   "can I talk to a person" is, "a person at my house said..." is not),
   goodbye, a new ticket asked for, a ticket's status, an outage, and last
   a fault described in the caller's own words (that opens a ticket too).
4. **Answer**: a yes or a no at the start of the turn ("yeah, go ahead",
   "no thanks"); "no internet" is not a no.

While the helpdesk waits for a ZIP code, ticket number or fault,
:func:`asks_instead` tells whether the turn asks for a person or says
goodbye instead of answering; a turn that reads out a number never does.

Pure functions of the text: no model, no I/O, same words, same result. The
graph does not call :func:`understand` itself: it reads turns through
Dialgraph's understanding step, where these rules are
:data:`graphs.helpdesk.meaning.RULES` (with confidences, and the recogniser's
other readings); :func:`asks_instead` it calls directly, on the best reading.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from dialgraph import CallerTurn
from tools.helpdesk import TICKET_DIGITS, ZIP_DIGITS, digits_in, with_digits

__all__ = [
    "NUMBER_ATTEMPT_DIGITS",
    "Answer",
    "Intent",
    "Understanding",
    "asks_instead",
    "plain",
    "ticket_number_in",
    "understand",
    "zip_in",
]

Answer = Literal["yes", "no"]

NUMBER_ATTEMPT_DIGITS = 3
"""Digits that make a turn an attempt at the number asked for, whatever else was heard
in it: the recogniser hears a first "five" as "bye" ("bye five one oh three")."""


class Intent(StrEnum):
    """What the caller asks for (the values are the graph's ``Request`` names)."""

    PERSON = "person"
    GOODBYE = "goodbye"
    NEW_TICKET = "new_ticket"
    TICKET_STATUS = "ticket_status"
    OUTAGE = "outage"


@dataclass(frozen=True, slots=True)
class Understanding:
    """One caller turn, understood.

    Attributes:
        text: The plain text the rules read (see the module doc).
        intent: What the caller asks for, if anything.
        answer: ``"yes"`` or ``"no"`` when the turn starts with one.
        zip_code: A five-digit ZIP code said in the turn, else ``""``.
        ticket_number: A six-digit ticket number said in the turn, else ``""``.
        problem: The caller's own words when they describe a fault ("my router
            keeps restarting"), usable as a ticket's summary; else ``""``.
    """

    text: str
    intent: Intent | None = None
    answer: Answer | None = None
    zip_code: str = ""
    ticket_number: str = ""
    problem: str = ""


# -- 1. plain text -------------------------------------------------------------------
# Key words a recogniser may mishear by a letter or two; only words this long are
# corrected, so short everyday words are never bent into key words.
_KEYWORDS = (
    "outage outages internet broadband connection ticket tickets status router modem "
    "technician representative operator goodbye broken restarting disconnecting"
).split()
_FUZZY_MIN_LENGTH = 5
_FUZZY_CUTOFF = 0.82  # "outtage" and "rooter" are corrected; "outside" and "interest" are not


def _corrected(word: str) -> str:
    if len(word) < _FUZZY_MIN_LENGTH or word in _KEYWORDS or word.isdigit():
        return word
    close = difflib.get_close_matches(word, _KEYWORDS, n=1, cutoff=_FUZZY_CUTOFF)
    return close[0] if close else word


def plain(text: str) -> str:
    """The text the rules read.

    ``"Oh, my ZIP's five five one oh three!"`` -> ``"my zips 55103"``.
    """
    lowered = text.lower().replace("\u2019", "'").replace("'", "")
    words = re.sub(r"[^a-z0-9]+", " ", lowered).split()
    # Punctuation is gone first, so "four eight two, nine one three" is one number.
    return " ".join(_corrected(w) for w in with_digits(" ".join(words)).split())


# -- 2-4. slots, intent, answer -----------------------------------------------------
_PEOPLE = (
    r"(?:person|human|agent|representative|operator|technician|engineer|someone|somebody"
    r"|anyone|anybody|customer service|support)"
)
_ASK_FOR_PERSON = re.compile(
    # "can I talk to a person", "I'd like to speak with someone", "let me talk to an agent"
    rf"\b(?:talk|speak|chat)(?:ing)? (?:to|with) (?:a |an |the |some )?(?:real |live |actual )?"
    rf"{_PEOPLE}\b"
    # "transfer me", "put me through", "connect me to support"
    r"|\b(?:transfer|connect|put) me\b"
    # "I want a person", "can I have a human", "get me an agent"
    r"|\b(?:want|need|like|have|get me|give me) (?:a |an |to a )?(?:real |live |actual )?"
    r"(?:person|human|agent|representative|operator)\b"
)
_PERSON_ALONE = re.compile(
    r"^(?:a |an |the )?(?:real |live )?(?:person|human|agent|representative|operator"
    r"|customer service|someone)(?: please)?$"
)
_GOODBYE = re.compile(
    r"\b(?:good ?bye|bye|thats all|that is all|that will be all|thatll be all|nothing else"
    r"|im all set|im done|all done|have a (?:good|nice) (?:day|one|night|evening))\b"
)
_NEW_TICKET = re.compile(
    r"\b(?:open|new|create|raise|log|file|start|make|submit|report|put in)\b(?: \w+){0,3}? "
    r"(?:ticket|case|complaint|fault|problem|issue|repair)\b"
    r"|\b(?:book|need|want|send) (?:a |an )?(?:technician|engineer|repair)\b"
)
_TICKET_STATUS = re.compile(
    r"\b(?:status|update|progress|news|check on|checking on|follow up|following up)\b"
    r".*\b(?:ticket|case|repair|request|complaint|report|technician|visit)\b"
    r"|\b(?:ticket|case)\b.*\b(?:status|update|progress)\b"
    r"|\b(?:my|existing|current|open) (?:ticket|case)\b"
    r"|\bticket number\b"
)
_OUTAGE = re.compile(
    r"\b(?:outage|outages|offline|blackout)\b"
    r"|\b(?:internet|broadband|connection|service|network|line|everything)\b(?: \w+){0,3}? "
    r"(?:down|out|off|dead|gone|not working|stopped working|isnt working|doesnt work)\b"
    r"|\bno (?:internet|service|connection|signal|broadband)\b"
    r"|\b(?:in|around) (?:my|the|our) (?:area|neighbourhood|neighborhood|street|building)\b"
)
_FAULT = re.compile(
    r"\b(?:broken|broke|slow|dropping|drops|cuts out|cutting out|disconnect\w*|restarting"
    r"|rebooting|blinking|flashing|red light|orange light|no lights|wont connect|cant connect"
    r"|cannot connect|not connecting|weak signal|no signal|buffering|not working|doesnt work"
    r"|isnt working|stopped working|down|dead)\b"
)
_QUESTION = re.compile(
    r"^(?:is|are|was|were|do|does|did|have|has|can|could|will|would|what|whats|when|why|how)\b"
)
_FILLERS = r"(?:(?:uh|um|er|well|oh|ah|hmm|so) )*"
_YES = re.compile(
    rf"^{_FILLERS}(?:yes|yeah|yep|yup|sure|okay|ok|correct|absolutely|definitely|go ahead"
    r"|do it|sounds good|thats right|of course|please do|please$)\b"
)
_NO = re.compile(
    rf"^{_FILLERS}(?:no(?! (?:internet|service|connection|signal|broadband|lights?)\b)|nope"
    r"|nah|dont|do not|not now|not yet|cancel|never mind|nevermind|wrong|thats wrong)\b"
)


def _run(text: str, digits: int) -> str:
    found = re.findall(rf"(?<!\d)\d{{{digits}}}(?!\d)", text)
    return found[-1] if found else ""  # "no, 55104": the last one said counts


def _intent(text: str, zip_code: str, ticket_number: str) -> Intent | None:
    if _ASK_FOR_PERSON.search(text) or _PERSON_ALONE.match(text):
        return Intent.PERSON
    if _GOODBYE.search(text):
        return Intent.GOODBYE
    if _NEW_TICKET.search(text):
        return Intent.NEW_TICKET
    if _TICKET_STATUS.search(text):
        return Intent.TICKET_STATUS
    if _OUTAGE.search(text):
        return Intent.OUTAGE
    if _FAULT.search(text):
        return Intent.NEW_TICKET
    bare = text.replace(" ", "")
    if ticket_number and bare == ticket_number:  # a ticket number on its own
        return Intent.TICKET_STATUS
    if zip_code and bare == zip_code:  # a ZIP code on its own
        return Intent.OUTAGE
    return None


def _answer(text: str) -> Answer | None:
    if _YES.match(text):
        return "yes"
    if _NO.match(text):
        return "no"
    return None


def understand(turn: CallerTurn | str) -> Understanding:
    """Read one caller turn (a :class:`~dialgraph.CallerTurn`, or text as typed).

    Silence, the call-start turn and line events carry no words: they come
    back with nothing understood.
    """
    if isinstance(turn, str):
        turn = CallerTurn(text=turn, source="speech")
    source = turn["source"]
    if source not in ("speech", "dtmf"):
        return Understanding("")
    text = plain((turn.get("digits") or turn["text"]) if source == "dtmf" else turn["text"])
    zip_code, ticket_number = _run(text, ZIP_DIGITS), _run(text, TICKET_DIGITS)
    intent = _intent(text, zip_code, ticket_number)
    described = bool(_FAULT.search(text) or _OUTAGE.search(text)) and not _QUESTION.match(text)
    problem = " ".join(turn["text"].split()).rstrip(".!?") if described else ""
    return Understanding(text, intent, _answer(text), zip_code, ticket_number, problem)


def _digits_answer(turn: CallerTurn, length: int) -> str:
    if turn["source"] == "dtmf":
        digits = turn.get("digits") or turn["text"]
    elif turn["source"] == "speech":
        digits = digits_in(plain(turn["text"]))
    else:
        return ""
    return digits if len(digits) == length and digits.isdigit() else ""


def zip_in(turn: CallerTurn) -> str:
    """The ZIP code a caller gave when asked for one (said or keyed), else ``""``."""
    return _digits_answer(turn, ZIP_DIGITS)


def ticket_number_in(turn: CallerTurn) -> str:
    """The ticket number a caller gave when asked for one (said or keyed), else ``""``."""
    return _digits_answer(turn, TICKET_DIGITS)


def asks_instead(turn: CallerTurn) -> Intent | None:
    """What a caller asks for instead of answering a question for a value: a person
    (:attr:`Intent.PERSON`), goodbye (:attr:`Intent.GOODBYE`), else ``None``.

    A turn with :data:`NUMBER_ATTEMPT_DIGITS` or more digits (said or keyed)
    is an attempt at the value, never a request: asking again costs a caller
    who misspoke, or was misheard, a few seconds; hanging up on one reading
    out a ZIP code costs the call.
    """
    heard = understand(turn)
    if heard.intent not in (Intent.PERSON, Intent.GOODBYE):
        return None
    if sum(ch.isdigit() for ch in heard.text) >= NUMBER_ATTEMPT_DIGITS:
        return None
    return heard.intent
