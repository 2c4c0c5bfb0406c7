"""The understanders that need no model: a flow's rules, and rules first with a model after.

:class:`RuleUnderstander` runs a flow's offline :class:`~.meaning.RuleFunction`
on the best reading and on the recogniser's other readings, and scales what
it found by the recogniser's confidence. :class:`Mixed` asks a second
understander (a chat model, usually) only when the first is unsure, and keeps
the surer reading of each part.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from graphs.runtime.contract import CallerTurn, call_facts
from graphs.runtime.understanding.meaning import (
    ALTERNATIVE_WEIGHT,
    RuleFunction,
    Understander,
    Understanding,
    _words_of,
)

__all__ = ["Mixed", "RuleUnderstander"]


def _scaled(found: Understanding, by: float) -> Understanding:
    if by >= 1.0:
        return found
    return replace(
        found,
        intent_confidence=round(found.intent_confidence * by, 3),
        answer_confidence=round(found.answer_confidence * by, 3),
        slots={
            n: replace(s, confidence=round(s.confidence * by, 3)) for n, s in found.slots.items()
        },
    )


class RuleUnderstander:
    """A flow's offline function as an :class:`Understander` (no key, no I/O).

    The function reads the best reading; each of the recogniser's other
    readings is read too, trusted :data:`ALTERNATIVE_WEIGHT` less per rank,
    and gives what the best one lacked or was less sure of. Every
    confidence is then scaled by the recogniser's (none given: the rules' own
    stand; keys pressed are certain).

    Args:
        read: The flow's function (:class:`RuleFunction`).
        source: The :attr:`Understanding.source` of its results.
    """

    def __init__(self, read: RuleFunction, *, source: str = "rules") -> None:
        self._read = read
        self.source = source

    def read(
        self,
        turn: CallerTurn,
        *,
        expecting: Mapping[str, Any] | None = None,
        today: dt.date | None = None,
    ) -> Understanding:
        """The same as :meth:`understand`, for code that is not async."""
        day = today or call_facts().local_date()
        found = self._read(turn, expecting=expecting, today=day)
        if turn["source"] == "speech":
            for rank, text in enumerate(turn.get("alternatives") or (), start=1):
                other = self._read(
                    CallerTurn(text=text, source="speech"), expecting=expecting, today=day
                )
                found, _ = _merged(found, _scaled(other, ALTERNATIVE_WEIGHT**rank))
        heard = turn.get("confidence") if turn["source"] == "speech" else None
        scale = 1.0 if heard is None else min(1.0, max(0.0, float(heard)))
        return replace(_scaled(found, scale), source=self.source)

    async def understand(
        self,
        turn: CallerTurn,
        *,
        expecting: Mapping[str, Any] | None = None,
        today: dt.date | None = None,
    ) -> Understanding:
        """Understand ``turn`` by the rules (async only to be an :class:`Understander`)."""
        return self.read(turn, expecting=expecting, today=today)


class Mixed:
    """Rules first, a model only where the rules are unsure.

    ``first`` reads every turn; ``then`` is asked only for spoken words that
    ``first`` did not understand with at least ``below`` confidence in every
    part. The two are merged part by part, the surer one winning, so a model
    that fails (understanding nothing) leaves the rules' reading as it was.

    Args:
        first: The fast, keyless understander (usually a :class:`RuleUnderstander`).
        then: The one to ask when ``first`` is unsure (a :class:`ChatModelUnderstander`).
        below: The confidence under which ``first`` counts as unsure.
    """

    def __init__(self, first: Understander, then: Understander, *, below: float = 0.6) -> None:
        self.first = first
        self.then = then
        self.below = below

    async def understand(
        self,
        turn: CallerTurn,
        *,
        expecting: Mapping[str, Any] | None = None,
        today: dt.date | None = None,
    ) -> Understanding:
        """Understand ``turn``: ``first``, and ``then`` when ``first`` is unsure."""
        found = await self.first.understand(turn, expecting=expecting, today=today)
        if turn["source"] != "speech" or not _words_of(turn) or found.confident(self.below):
            return found
        asked = await self.then.understand(turn, expecting=expecting, today=today)
        merged, added = _merged(found, asked)
        return replace(merged, source=f"{found.source}+{asked.source}") if added else found


def _merged(found: Understanding, asked: Understanding) -> tuple[Understanding, bool]:
    """Part by part, the surer of two readings of one turn (ties: ``found``), and
    whether ``asked`` gave anything."""
    more: dict[str, Any] = {}
    if asked.intent is not None and asked.intent_confidence > found.intent_confidence:
        more |= {"intent": asked.intent, "intent_confidence": asked.intent_confidence}
    if asked.answer is not None and asked.answer_confidence > found.answer_confidence:
        more |= {"answer": asked.answer, "answer_confidence": asked.answer_confidence}
    slots = dict(found.slots)
    for name, slot in asked.slots.items():
        if name not in slots or slot.confidence > slots[name].confidence:
            slots[name] = slot
    if slots != dict(found.slots):
        more["slots"] = slots
    if asked.correction and not found.correction:
        more["correction"] = True
    return (replace(found, **more), True) if more else (found, False)
