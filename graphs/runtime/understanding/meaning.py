"""What a turn means and what a flow can understand: the understanding step's types.

The results an understander gives (:class:`Understanding`, its :class:`Slot`
values), the declaration a flow writes once (:class:`Meaning`, its
:class:`IntentSpec` and :class:`SlotSpec`), the confidences the rules give
(:data:`EXACT`, :data:`INFERRED`, :data:`FUZZY`), and the two protocols: an
:class:`Understander` (the step) and a :class:`RuleFunction` (a flow's offline
reading). Plain frozen dataclasses of strings and numbers, no I/O; every other
module of the package builds on these, and this one imports none of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from graphs.runtime.contract import CallerTurn

__all__ = [
    "ALTERNATIVE_WEIGHT",
    "EXACT",
    "FUZZY",
    "INFERRED",
    "Answer",
    "IntentSpec",
    "Meaning",
    "RuleFunction",
    "Slot",
    "SlotKind",
    "SlotSpec",
    "Understander",
    "Understanding",
]

Answer = Literal["yes", "no"]
SlotKind = Literal["date", "time", "choice", "name", "digits", "number", "text"]

EXACT = 1.0
"""A value read from a phrase as the rules know it ("book", "three pm", "okafor")."""
INFERRED = 0.8
"""A value read from what the step asked: a bare "three" as a time when a time
was asked, a bare "maria lopez" as a name, a ZIP code alone as an outage."""
FUZZY = 0.75
"""A value read from words bent to the known ones by spelling or sound
("okafore" as Okafor, "doctor fan" as Dr. Phan, "outtage" as outage)."""
ALTERNATIVE_WEIGHT = 0.9
"""Each rank down the recogniser's other readings trusts a value this much less
(the first alternative 0.9, the second 0.81...)."""


# -- what was understood ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Slot:
    """One slot value of a turn.

    Attributes:
        value: The value: a string (an ISO date ``"2026-12-08"``, a time
            ``"15:00"``, a choice as the flow spells it, digits) or an integer.
        confidence: How sure the understander is, in [0, 1].
        heard: The caller's words it came from (``"next tuesday"``).
    """

    value: str | int
    confidence: float = EXACT
    heard: str = ""


@dataclass(frozen=True, slots=True)
class Understanding:
    """One caller turn, understood.

    Attributes:
        intent: What the caller asks for (a name from the flow's
            :class:`Meaning`), or ``None``.
        intent_confidence: How sure, in [0, 1] (0 without an intent).
        answer: ``"yes"`` or ``"no"`` when the turn answers a yes/no question.
        answer_confidence: How sure of the answer (a confirmation before a
            side effect wants a sure yes, so it has its own figure).
        slots: Slot name -> :class:`Slot`, only the slots the turn gave.
        correction: The turn corrects something said before ("no, wednesday").
        source: Which understander produced it: ``"rules"``, ``"model"``,
            ``"rules+model"`` (:class:`Mixed`, when the model added something).
        text: The words that were read.
    """

    intent: str | None = None
    intent_confidence: float = 0.0
    answer: Answer | None = None
    answer_confidence: float = 0.0
    slots: Mapping[str, Slot] = field(default_factory=dict)
    correction: bool = False
    source: str = "rules"
    text: str = ""

    @property
    def understood(self) -> bool:
        """Whether anything was found: an intent, an answer or a slot."""
        return bool(self.intent or self.answer or self.slots)

    def slot(self, name: str) -> Slot | None:
        """The slot ``name``, or ``None`` when the turn did not give it."""
        return self.slots.get(name)

    def value(self, name: str, default: Any = None) -> Any:
        """The value of slot ``name``, or ``default``."""
        found = self.slots.get(name)
        return default if found is None else found.value

    def unsure(self, threshold: float) -> tuple[str, ...]:
        """The parts found with a confidence below ``threshold``: ``"intent"``,
        ``"answer"`` and slot names (what a careful flow confirms or asks again)."""
        parts = [("intent", self.intent_confidence)] if self.intent else []
        parts += [("answer", self.answer_confidence)] if self.answer else []
        parts += [(name, s.confidence) for name, s in self.slots.items()]
        return tuple(name for name, confidence in parts if confidence < threshold)

    def confident(self, threshold: float) -> bool:
        """Whether something was understood and every part of it is at least
        ``threshold`` sure."""
        return self.understood and not self.unsure(threshold)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (only strings, numbers, booleans and ``None``): keep this in state."""
        return {
            "intent": self.intent,
            "intent_confidence": self.intent_confidence,
            "answer": self.answer,
            "answer_confidence": self.answer_confidence,
            "slots": {
                name: {"value": s.value, "confidence": s.confidence, "heard": s.heard}
                for name, s in self.slots.items()
            },
            "correction": self.correction,
            "source": self.source,
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Understanding:
        """The understanding :meth:`as_dict` gave."""
        slots = {name: Slot(**dict(s)) for name, s in (data.get("slots") or {}).items()}
        known = {k: v for k, v in data.items() if k in cls.__slots__ and k != "slots"}
        return cls(**known, slots=slots)


# -- what a flow can understand -----------------------------------------------------
@dataclass(frozen=True, slots=True)
class IntentSpec:
    """One intent a flow understands.

    Attributes:
        description: One line: what the caller wants.
        examples: A few things callers say for it, as the recogniser writes
            them (lower case, numbers as words).
    """

    description: str
    examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SlotSpec:
    """One slot a flow understands; build it with the constructors of its kind.

    Attributes:
        description: One line: what the value is.
        kind: ``date``, ``time``, ``choice``, ``name``, ``digits``, ``number`` or ``text``.
        choices: The values a ``choice`` takes, as the flow spells them.
        length: How many digits a ``digits`` value has (0: any).
    """

    description: str
    kind: SlotKind = "text"
    choices: tuple[str, ...] = ()
    length: int = 0

    @classmethod
    def date(cls, description: str) -> SlotSpec:
        """A day (its value an ISO date, ``"2026-12-08"``)."""
        return cls(description, "date")

    @classmethod
    def time(cls, description: str) -> SlotSpec:
        """A time of day (``"15:00"``, 24 h)."""
        return cls(description, "time")

    @classmethod
    def choice(cls, description: str, choices: Iterable[str]) -> SlotSpec:
        """One of ``choices`` (a doctor's name, a kind of appointment)."""
        return cls(description, "choice", tuple(choices))

    @classmethod
    def name(cls, description: str) -> SlotSpec:
        """A person's name, title-cased."""
        return cls(description, "name")

    @classmethod
    def digits(cls, description: str, length: int = 0) -> SlotSpec:
        """A run of ``length`` digits (a ZIP code, a ticket number), as a string."""
        return cls(description, "digits", length=length)

    @classmethod
    def number(cls, description: str) -> SlotSpec:
        """An integer."""
        return cls(description, "number")

    @classmethod
    def text(cls, description: str) -> SlotSpec:
        """The caller's own words (a fault described)."""
        return cls(description, "text")


@dataclass(frozen=True, slots=True)
class Meaning:
    """What a flow can understand: its intents and slots, declared once.

    The declaration feeds the model's prompt and schema
    (:class:`ChatModelUnderstander`) and the recogniser's hints (:meth:`hints`).

    Attributes:
        intents: Intent name -> :class:`IntentSpec`.
        slots: Slot name -> :class:`SlotSpec`.
    """

    intents: Mapping[str, IntentSpec]
    slots: Mapping[str, SlotSpec] = field(default_factory=dict)

    def hints(self) -> tuple[str, ...]:
        """Phrases a recogniser should favour: every example and every choice, once."""
        phrases = [e for spec in self.intents.values() for e in spec.examples]
        phrases += [c.lower() for spec in self.slots.values() for c in spec.choices]
        return tuple(dict.fromkeys(phrases))


# -- the step -----------------------------------------------------------------------
class Understander(Protocol):
    """Turns one caller turn into an :class:`Understanding`."""

    async def understand(
        self,
        turn: CallerTurn,
        *,
        expecting: Mapping[str, Any] | None = None,
        today: dt.date | None = None,
    ) -> Understanding:
        """Understand ``turn``.

        Args:
            turn: The caller's turn (words, confidence, other readings; or keys).
            expecting: What the step asked for (an ``Expect`` mapping), so a
                bare "three" counts as a time when a time was asked.
            today: The day "tomorrow" counts from (the flow's date by default).
        """
        ...


class RuleFunction(Protocol):
    """A flow's offline understanding: pure and sync, same turn, same result.

    Confidences say how each value was found (:data:`EXACT`, :data:`INFERRED`,
    :data:`FUZZY`); :class:`RuleUnderstander` scales them by the recogniser's.
    """

    def __call__(
        self, turn: CallerTurn, *, expecting: Mapping[str, Any] | None, today: dt.date
    ) -> Understanding: ...


def _words_of(turn: CallerTurn) -> str:
    """The words or keys of a turn (none for silence, call start and events): what
    every understander of this package reads."""
    if turn["source"] == "dtmf":
        return str(turn.get("digits") or turn.get("text") or "")
    return str(turn.get("text") or "") if turn["source"] == "speech" else ""
