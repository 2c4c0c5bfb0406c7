"""What the helpdesk understands, in the shape of Dialgraph's understanding step.

:data:`MEANING` declares the helpdesk's intents and slots once: the chat
model's prompt and schema (``dialgraph.ChatModelUnderstander``) and the
recogniser's hints are built from it. :func:`understand` is the helpdesk's
offline rules (:func:`graphs.helpdesk.intents.understand`) as a
``dialgraph.RuleFunction``, and :data:`RULES` the understander a node awaits::

    heard = await RULES.understand(turn, expecting=Expect.digits(5))
    if heard.intent == "outage" and (zip_code := heard.value("zip_code")): ...

Confidences say how each value was found: a key phrase as the rules know it
is ``EXACT``; an intent read from a number alone (a ZIP code said on its own
is an outage question) or from a fault described without asking for a
ticket is ``INFERRED``; a misheard key word put right ("outtage") is
``FUZZY``. ``RULES`` scales them by the recogniser's confidence and reads
the recogniser's other readings too, each rank trusted 0.9 times less.

The explicit graph (``graph.py``) reads every turn with ``RULES``, or with
``RULES`` then a chat model given :data:`MEANING` (``understander.py``), and
reads back a ZIP code or ticket number found less sure than its
``CONFIRM_BELOW`` before using it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from dialgraph import (
    EXACT,
    FUZZY,
    INFERRED,
    CallerTurn,
    IntentSpec,
    Meaning,
    RuleUnderstander,
    Slot,
    SlotSpec,
    Understanding,
    yes_no,
)
from spoken.words import fold
from tools.helpdesk import TICKET_DIGITS, ZIP_DIGITS, with_digits

from . import intents
from .intents import Intent

__all__ = ["MEANING", "RULES", "understand"]

MEANING = Meaning(
    intents={
        Intent.PERSON.value: IntentSpec(
            "The caller asks to speak with a person (mentioning one is not asking).",
            ("can i talk to a person", "transfer me to customer service", "an agent please"),
        ),
        Intent.GOODBYE.value: IntentSpec(
            "The caller is done and says goodbye.",
            ("thats all thanks goodbye", "great thanks so much bye", "im all set"),
        ),
        Intent.NEW_TICKET.value: IntentSpec(
            "The caller reports a fault at home or asks to open a ticket or book a technician.",
            ("i want to open a ticket", "my router keeps restarting", "can you send a technician"),
        ),
        Intent.TICKET_STATUS.value: IntentSpec(
            "The caller asks about a ticket already open.",
            ("whats the status of my ticket", "any update on ticket four eight two nine one three"),
        ),
        Intent.OUTAGE.value: IntentSpec(
            "The caller asks whether there is an outage, or says the service is down.",
            ("is there an outage in my area", "my internet is down", "no internet since monday"),
        ),
    },
    slots={
        "zip_code": SlotSpec.digits("the ZIP code of the caller's address", ZIP_DIGITS),
        "ticket_number": SlotSpec.digits("the number of a support ticket", TICKET_DIGITS),
        "problem": SlotSpec.text("the fault in the caller's own words (a ticket's summary)"),
    },
)
"""The helpdesk's intents (the :class:`~graphs.helpdesk.intents.Intent` values) and slots."""

_ASKS_FOR_A_TICKET = re.compile(
    r"\b(?:ticket|case|complaint|fault|problem|issue|repair|technician|engineer)\b"
)


def _intent_confidence(turn: CallerTurn, heard: intents.Understanding) -> float:
    bare = heard.text.replace(" ", "")
    if bare and bare in (heard.zip_code, heard.ticket_number):
        return INFERRED  # a number alone: the intent is what such a number is for
    if (
        heard.intent is Intent.NEW_TICKET
        and heard.problem
        and not _ASKS_FOR_A_TICKET.search(heard.text)
    ):
        return INFERRED  # a fault described: the helpdesk opens a ticket for it
    if turn["source"] == "speech":
        said = set(with_digits(fold(turn["text"])).split())
        if any(word not in said for word in heard.text.split()):
            return FUZZY  # a key word was misheard and put right
    return EXACT


def _asked_digits(expecting: Mapping[str, Any] | None) -> int:
    if not expecting or expecting.get("kind") != "digits":
        return 0
    return int(expecting.get("max_digits") or 0)


def understand(
    turn: CallerTurn, *, expecting: Mapping[str, Any] | None = None, today: dt.date | None = None
) -> Understanding:
    """One helpdesk turn, understood by the rules (a ``dialgraph.RuleFunction``).

    When the step asked for a ZIP code or a ticket number (``Expect.digits(5)``
    or ``(6)``), a turn that is only that number gives it; otherwise the
    numbers said within a sentence count. ``today`` is not used: the helpdesk
    reads no dates.
    """
    heard = intents.understand(turn)
    if not heard.text:
        return Understanding(text="")
    words = turn["text"]
    slots: dict[str, Slot] = {}
    asked = _asked_digits(expecting)
    zip_code = intents.zip_in(turn) if asked == ZIP_DIGITS else heard.zip_code
    ticket = intents.ticket_number_in(turn) if asked == TICKET_DIGITS else heard.ticket_number
    if zip_code:
        slots["zip_code"] = Slot(zip_code, EXACT, words)
    if ticket:
        slots["ticket_number"] = Slot(ticket, EXACT, words)
    if heard.problem:
        slots["problem"] = Slot(heard.problem, EXACT, words)
    answer_confidence = 0.0
    if heard.answer is not None:
        said, confidence = yes_no(words)
        answer_confidence = confidence if said == heard.answer else INFERRED
    return Understanding(
        intent=heard.intent.value if heard.intent else None,
        intent_confidence=_intent_confidence(turn, heard) if heard.intent else 0.0,
        answer=heard.answer,
        answer_confidence=answer_confidence,
        slots=slots,
        text=heard.text,
    )


RULES = RuleUnderstander(understand)
"""The helpdesk's offline understanding as an understander (no key, no I/O)."""
