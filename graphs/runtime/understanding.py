"""Understanding a caller turn: one pluggable step from words to an intent and slots.

How it works. A flow declares what it can understand once, as a
:class:`Meaning` (its intents with a line and a few example sentences, its
slots with a kind: a date, a time, a choice among names, N digits...). An
:class:`Understander` turns one :class:`~graphs.runtime.contract.CallerTurn`
(its words, the recogniser's confidence and other readings) into an
:class:`Understanding`: an intent, a yes or a no, and slot values, each with a
confidence in [0, 1] and the words it came from. Three understanders:

- :class:`RuleUnderstander` wraps a flow's own offline function (pure, sync,
  no key). Its confidences say how a value was found (:data:`EXACT` phrase,
  :data:`INFERRED` from what the step asked, :data:`FUZZY` spelling or sound)
  and are scaled by the recogniser's confidence; the recogniser's other
  readings are read too, a little less trusted, for what the best one lacked.
  :func:`match_choice` (known names against every reading, by spelling and by
  sound) and :func:`yes_no` (a yes or a no in its many spoken forms) are the
  offline helpers any flow can use in such a function.
- :class:`ChatModelUnderstander` asks any LangChain chat model, through a
  function call whose schema is built from the :class:`Meaning`. A failing
  model (network, timeout, an answer that does not parse) understands
  nothing and says so in one log line: it never raises into the graph.
- :class:`Mixed` reads with the rules first and asks the model only when the
  rules are unsure, so a flow stays fast and keyless where rules suffice.

Everything here is flow-agnostic: it names no flow, and a graph calls it from
a node (``await understander.understand(turn, expecting=spec)``). The results
are plain frozen dataclasses of strings and numbers; :meth:`Understanding.as_dict`
gives the JSON form to keep in a graph's state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
import functools
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from graphs.runtime.contract import CallerTurn, call_facts
from spoken.words import fold

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = [
    "EXACT",
    "FUZZY",
    "INFERRED",
    "Answer",
    "ChatModelUnderstander",
    "IntentSpec",
    "Meaning",
    "Mixed",
    "RuleFunction",
    "RuleUnderstander",
    "Slot",
    "SlotKind",
    "SlotSpec",
    "Understander",
    "Understanding",
    "match_choice",
    "understanding_schema",
    "yes_no",
]

log = logging.getLogger(__name__)

Answer = Literal["yes", "no"]
SlotKind = Literal["date", "time", "choice", "name", "digits", "number", "text"]

EXACT = 1.0
"""A value read from a phrase as the rules know it ("book", "three pm", "patel")."""
INFERRED = 0.8
"""A value read from what the step asked: a bare "three" as a time when a time
was asked, a bare "maria lopez" as a name, a ZIP code alone as an outage."""
FUZZY = 0.75
"""A value read from words bent to the known ones by spelling or sound
("pattel" as Patel, "new yen" as Nguyen, "outtage" as outage)."""
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
    """The words or keys of a turn (none for silence, call start and events)."""
    if turn["source"] == "dtmf":
        return str(turn.get("digits") or turn.get("text") or "")
    return str(turn.get("text") or "") if turn["source"] == "speech" else ""


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


# -- offline helpers: yes or no -----------------------------------------------------
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


# -- offline helpers: known names, by spelling and by sound -------------------------
_TITLES = {"doctor": "dr", "doc": "dr", "mister": "mr", "missus": "mrs"}
_TITLE_WORDS = frozenset({"dr", "mr", "mrs", "ms", "miss", "the"})
_VOWELS = frozenset("aeiou")
_FRONT = frozenset("eiy")  # c and g before these are soft ("cell", "gem")
_SH_BEFORE = frozenset("oa")  # "si" and "ti" before these say "sh" ("mansion", "nation")
FULL_SOUND_KEY = 4
"""Sounds a key needs to count fully: "win" (W N) also sounds like "when", so a
two-sound likeness alone is half the evidence; "dr win" (T R W N) is all of it."""
SOUNDS_ALIKE = 0.9  # sounding alike is a little weaker than being spelled alike
AMBIGUOUS_MARGIN = 0.05  # two choices this close: the better one is less sure
AMBIGUOUS_WEIGHT = 0.8
DEFAULT_CUTOFF = 0.7


def _initial_forms(word: str) -> tuple[str, ...]:
    """A word's spellings as said at its start ("knee" is "nee"; "Nguyen" is "nuyen" or "win")."""
    if word.startswith(("kn", "gn", "pn", "wr", "ps")):
        return (word[1:],)
    if word.startswith("wh"):
        return ("w" + word[2:],)
    if word.startswith("x"):
        return ("s" + word[1:],)
    if word.startswith("ng"):  # Vietnamese names: "new yen", or "win" as many say Nguyen
        glide = re.sub(r"^nguy?(?=[aeiou])", "w", word)
        dropped = "n" + word[2:]
        return tuple(dict.fromkeys((dropped, glide if glide != word else dropped)))
    return (word,)


@functools.lru_cache(maxsize=4096)  # callers' words repeat; a code is a pure function
def _code(word: str) -> str:
    """A small Metaphone-like code of one spelling: consonant sounds, a leading vowel as A."""
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        c, nxt = word[i], word[i + 1] if i + 1 < n else ""
        after = word[i + 2] if i + 2 < n else ""
        step = 1
        if c in _VOWELS:
            code = "A" if i == 0 else ""
        elif c == "c":
            code, step = ("X", 2) if nxt == "h" else ("S" if nxt in _FRONT else "K", 1)
            if nxt == "k":
                step = 2
        elif c == "g":
            if nxt == "h":
                code, step = ("K", 2) if i == 0 else ("", 2)  # "ghost"; "night" is silent
            else:
                code = "J" if nxt in _FRONT else "K"
        elif c == "p":
            code, step = ("F", 2) if nxt == "h" else ("P", 1)
        elif c == "s" and nxt == "c" and after == "h":
            code, step = "SK", 3  # "schmidt"
        elif c == "s":
            code, step = (
                ("X", 2) if nxt == "h" else ("X" if nxt == "i" and after in _SH_BEFORE else "S", 1)
            )
        elif c == "t":
            code, step = (
                ("0", 2) if nxt == "h" else ("X" if nxt == "i" and after in _SH_BEFORE else "T", 1)
            )
        elif c == "h":
            code = "H" if nxt in _VOWELS and (i == 0 or word[i - 1] not in "csptg") else ""
        elif c in "wy":
            code = c.upper() if nxt in _VOWELS else ""
        elif c == "b":
            code = "" if i == n - 1 and word[i - 1 : i] == "m" else "B"  # "plumb"
        else:
            code = {"d": "T", "q": "K", "v": "F", "x": "KS", "z": "S"}.get(c, c.upper())
        out.append(code)
        i += step
    return "".join(out)


def _collapsed(code: str) -> str:
    return "".join(c for i, c in enumerate(code) if i == 0 or c != code[i - 1])


def _sound_keys(words: Sequence[str]) -> set[str]:
    """The sound codes of a run of words, one per way of saying its first letters."""
    per_word = [[_code(form) for form in _initial_forms(w)] for w in words]
    return {_collapsed("".join(parts)) for parts in product(*per_word)}


def _words(text: str) -> list[str]:
    return [_TITLES.get(w, w) for w in fold(text).split() if w.isalpha()]


def _most_alike(a: str, b: str) -> float:
    """The most that difflib's ratio of two strings of these lengths can be (no work)."""
    return 2.0 * min(len(a), len(b)) / (len(a) + len(b)) if a or b else 0.0


class _Form:
    """One way a choice is said (its words, titles folded), with difflib matchers that
    keep the form's side analysed across the runs of words compared with it."""

    def __init__(self, choice: str, words: Sequence[str]) -> None:
        self.choice = choice
        self.words = tuple(words)
        self.letters = "".join(words)
        self._spelled = difflib.SequenceMatcher(None, b=self.letters, autojunk=False)
        self._sounds = [
            (
                key,
                SOUNDS_ALIKE * min(1.0, len(key) / FULL_SOUND_KEY),
                difflib.SequenceMatcher(None, b=key, autojunk=False),
            )
            for key in sorted(_sound_keys(words))
        ]

    def likeness(self, letters: str, sounds: Iterable[str], floor: float) -> float:
        """How alike a run of words (its letters and sound codes) is to this form;
        ``0.0`` when it cannot reach ``floor`` (cheap upper bounds first)."""
        if letters == self.letters:
            return EXACT
        best = 0.0
        if _most_alike(letters, self.letters) >= floor:
            self._spelled.set_seq1(letters)
            if self._spelled.quick_ratio() >= floor:
                best = self._spelled.ratio()
        for known, weight, matcher in self._sounds:
            for heard in sounds:
                need = max(best, floor)
                if weight * _most_alike(heard, known) <= need:
                    continue
                matcher.set_seq1(heard)
                if weight * matcher.quick_ratio() > need:
                    best = max(best, weight * matcher.ratio())
        return best


def _forms(choices: Iterable[str] | Mapping[str, Iterable[str]]) -> list[_Form]:
    said = choices if isinstance(choices, Mapping) else {c: () for c in choices}
    forms = []
    for choice, aliases in said.items():
        for phrase in (choice, *aliases):
            words = _words(phrase)
            bare = [w for w in words if w not in _TITLE_WORDS]  # "Dr. Patel" said as "patel"
            for variant in dict.fromkeys((tuple(words), tuple(bare))):
                if variant:
                    forms.append(_Form(choice, variant))
    return forms


def match_choice(
    turn: CallerTurn | str,
    choices: Iterable[str] | Mapping[str, Iterable[str]],
    *,
    cutoff: float = DEFAULT_CUTOFF,
) -> tuple[str | None, float]:
    """The known entity a turn names, by spelling and by sound, with a confidence.

    Every run of words in the turn's text and in each of the recogniser's
    other readings is compared with every choice, spelled alike
    ("doctor pattel" is Dr. Patel) and sounding alike ("doctor new yen", "doctor
    win" are Dr. Nguyen). Titles are folded ("doctor" is "dr") and optional
    ("patel" alone names Dr. Patel). A reading further down the list counts
    :data:`ALTERNATIVE_WEIGHT` less per rank; two choices about as likely make
    the better one less sure.

    Args:
        turn: The caller's turn (or its text).
        choices: The known values as the flow spells them, or value -> other
            ways callers say it (``{"Dr. Nguyen": ["win"]}``).
        cutoff: The least likeness that counts as naming a choice.

    Returns:
        ``(choice, confidence)``, or ``(None, 0.0)`` when nothing comes near.
    """
    if isinstance(turn, str):
        turn = CallerTurn(text=turn, source="speech")
    readings = [turn.get("text", ""), *(turn.get("alternatives") or ())]
    forms = _forms(choices)
    if not forms:
        return None, 0.0
    longest = max(len(f.words) for f in forms) + 1  # "new yen" is two words for one
    scores: dict[str, float] = {}
    for rank, reading in enumerate(readings):
        words = _words(reading)
        weight = ALTERNATIVE_WEIGHT**rank
        for start in range(len(words)):
            for end in range(start + 1, min(len(words), start + longest) + 1):
                span = words[start:end]
                letters, sounds = "".join(span), _sound_keys(span)
                for form in forms:
                    # only a score that could count (or make the best one ambiguous) matters
                    floor = max(cutoff - AMBIGUOUS_MARGIN, scores.get(form.choice, 0.0)) / weight
                    score = form.likeness(letters, sounds, floor) * weight
                    if score > scores.get(form.choice, 0.0):
                        scores[form.choice] = score
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if not ranked or ranked[0][1] < cutoff:
        return None, 0.0
    choice, confidence = ranked[0]
    if len(ranked) > 1 and ranked[1][1] >= confidence - AMBIGUOUS_MARGIN:
        confidence *= AMBIGUOUS_WEIGHT
    return choice, round(min(EXACT, confidence), 3)


# -- a chat model -------------------------------------------------------------------
TOOL_NAME = "Understanding"
DEFAULT_MODEL_TIMEOUT_S = 5.0  # a caller waits on the line: longer is dead air, not help
_PROMPT = """\
{instructions}You read one turn of a caller on a phone line and say what it means by \
calling {tool}. The words come from a speech recogniser: lower case, numbers as words, \
often misheard (a name heard as words that sound like it). Read the best reading together \
with the other readings and choose what the caller most likely meant.

Intents: the one the turn asks for, or null when it asks for none of them (a word \
mentioned is not a request: "a person at my door" does not ask for a person).
{intents}

Slots: fill only those the turn gives, and leave the rest out.
{slots}

answer: "yes" or "no" when the turn answers a yes/no question, else null. correction: true \
when the caller corrects something said before ("no, wednesday"). Every confidence is in \
[0, 1]: how sure you are, given the readings and the recogniser's confidence. heard: the \
caller's words the value came from."""
_KIND_WORDS: dict[str, str] = {
    "date": "a date, YYYY-MM-DD",
    "time": "a time of day, HH:MM, 24-hour",
    "name": "a person's name",
    "number": "a whole number",
    "text": "the caller's own words",
}
_EXPECTED: dict[str, str] = {
    "yes_no": "a yes or a no",
    "date": "a day",
    "time": "a time of day",
    "number": "a number",
    "name": "a person's name",
    "text": "anything",
}
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _kind_words(spec: SlotSpec) -> str:
    if spec.kind == "choice":
        return "one of: " + ", ".join(spec.choices)
    if spec.kind == "digits":
        return f"{spec.length} digits" if spec.length else "digits"
    return _KIND_WORDS[spec.kind]


def _value_schema(spec: SlotSpec) -> dict[str, Any]:
    if spec.kind == "choice":
        return {"type": "string", "enum": list(spec.choices)}
    if spec.kind == "number":
        return {"type": "integer"}
    schema: dict[str, Any] = {"type": "string", "description": _kind_words(spec)}
    if spec.kind == "digits" and spec.length:
        schema["pattern"] = f"^[0-9]{{{spec.length}}}$"
    return schema


def _confidence_schema(of: str) -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "maximum": 1, "description": f"how sure of {of}"}


def understanding_schema(meaning: Meaning) -> dict[str, Any]:
    """The function schema a model fills for one turn: the meaning's intents as an
    enum, each slot as an object of its value, confidence and the words heard."""
    slots = {
        name: {
            "type": "object",
            "description": spec.description,
            "properties": {
                "value": _value_schema(spec),
                "confidence": _confidence_schema("the value"),
                "heard": {"type": "string", "description": "the caller's words it came from"},
            },
            "required": ["value", "confidence", "heard"],
        }
        for name, spec in meaning.slots.items()
    }
    return {
        "title": TOOL_NAME,
        "description": "What the caller's turn means.",
        "type": "object",
        "properties": {
            "intent": {
                "type": ["string", "null"],
                "enum": [*meaning.intents, None],
                "description": "what the caller asks for, or null",
            },
            "intent_confidence": _confidence_schema("the intent"),
            "answer": {"type": ["string", "null"], "enum": ["yes", "no", None]},
            "answer_confidence": _confidence_schema("the answer"),
            "correction": {"type": "boolean"},
            "slots": {"type": "object", "properties": slots, "additionalProperties": False},
        },
        "required": ["intent", "intent_confidence", "answer", "answer_confidence", "slots"],
    }


def _system_prompt(meaning: Meaning, instructions: str) -> str:
    intents = "\n".join(
        f"- {name}: {spec.description}"
        + (
            " For example: " + "; ".join(json.dumps(e) for e in spec.examples)
            if spec.examples
            else ""
        )
        for name, spec in meaning.intents.items()
    )
    slots = "\n".join(
        f"- {name} ({_kind_words(spec)}): {spec.description}"
        for name, spec in meaning.slots.items()
    )
    lead = instructions.strip() + "\n\n" if instructions.strip() else ""
    return _PROMPT.format(
        instructions=lead, tool=TOOL_NAME, intents=intents, slots=slots or "(none)"
    )


def _expected(expecting: Mapping[str, Any] | None) -> str:
    spec = expecting or {}
    kind = str(spec.get("kind") or "")
    if kind == "choice":
        return "one of: " + ", ".join(str(c) for c in spec.get("choices") or ())
    if kind == "digits":
        size = int(spec.get("max_digits") or 0)
        return f"{size} digits" if size else "digits"
    return _EXPECTED.get(kind, "nothing in particular")


def _turn_prompt(turn: CallerTurn, expecting: Mapping[str, Any] | None, today: dt.date) -> str:
    from spoken.names import weekday_name

    lines = [
        f"Today: {weekday_name(today).title()} {today.isoformat()}",
        f"The question just asked expects: {_expected(expecting)}",
    ]
    if turn["source"] == "dtmf":
        return "\n".join([*lines, f"Keys pressed: {turn.get('digits') or turn['text']}"])
    confidence = turn.get("confidence")
    lines.append(
        "Recogniser confidence: "
        + ("not given" if confidence is None else f"{float(confidence):.2f}")
    )
    lines.append(f"Best reading: {json.dumps(turn['text'])}")
    if others := turn.get("alternatives"):
        lines.append("Other readings: " + " | ".join(json.dumps(t) for t in others))
    return "\n".join(lines)


def _unit(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return min(1.0, max(0.0, float(value)))


def _slot_value(spec: SlotSpec, value: Any) -> str | int | None:
    """A model's value in the form the rules give, or ``None`` when it does not fit."""
    if spec.kind == "number":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    text = " ".join(str(value).split()) if isinstance(value, (str, int)) else ""
    if not text:
        return None
    if spec.kind == "date":
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    if spec.kind == "time":
        m = _TIME.match(text)
        return f"{int(m.group(1)):02d}:{m.group(2)}" if m else None
    if spec.kind == "choice":
        by_words = {fold(c): c for c in spec.choices}
        return by_words.get(fold(text))
    if spec.kind == "digits":
        digits = "".join(ch for ch in text if ch.isdigit())
        return digits if digits and (not spec.length or len(digits) == spec.length) else None
    return text.title() if spec.kind == "name" else text


class ChatModelUnderstander:
    """Any LangChain chat model as an :class:`Understander`, through structured output.

    The model gets the meaning's intents (with examples) and slots, the turn's
    best reading and other readings, the recogniser's confidence, what the
    step expects and today's date, and answers by calling one function whose
    schema is :func:`understanding_schema`. Its answer is checked against the
    meaning: an intent it does not declare, or a value that does not fit its
    slot (a date that is not a date, a choice not on the list), is left out.
    The call is tagged ``nostream``: nothing of it is spoken.

    A model that fails (network, timeout, no function call, an answer that
    does not parse) understands nothing: an :class:`Understanding` with
    intent ``None`` and confidence 0, and one warning line in the log.

    Args:
        model: The chat model (``init_chat_model("openai:gpt-4.1-mini")``).
        meaning: What the flow understands.
        instructions: A few words about the flow, put first in the prompt
            ("You answer the phone for a family practice.").
        timeout_s: How long a caller may wait for the model (``None``: no limit).
    """

    def __init__(
        self,
        model: BaseChatModel,
        meaning: Meaning,
        *,
        instructions: str = "",
        timeout_s: float | None = DEFAULT_MODEL_TIMEOUT_S,
    ) -> None:
        self.meaning = meaning
        self.schema = understanding_schema(meaning)
        self.system_prompt = _system_prompt(meaning, instructions)
        self.timeout_s = timeout_s
        try:
            structured = model.with_structured_output(self.schema, method="function_calling")
        except (TypeError, ValueError, NotImplementedError):  # a model without that method
            structured = model.with_structured_output(self.schema)
        self._model = structured.with_config(tags=["nostream"], run_name="understand")

    async def understand(
        self,
        turn: CallerTurn,
        *,
        expecting: Mapping[str, Any] | None = None,
        today: dt.date | None = None,
    ) -> Understanding:
        """Ask the model what ``turn`` means (nothing understood when it fails)."""
        from langchain_core.messages import HumanMessage, SystemMessage

        text = _words_of(turn)
        if not text:
            return Understanding(source="model", text=text)
        messages = [
            SystemMessage(self.system_prompt),
            HumanMessage(_turn_prompt(turn, expecting, today or call_facts().local_date())),
        ]
        try:
            async with asyncio.timeout(self.timeout_s):
                answer = await self._model.ainvoke(messages)
            return self._understanding(answer, text)
        except Exception as exc:  # any failure understands nothing; the call goes on
            problem = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
            log.warning("understanding: the model failed, nothing understood (%s)", problem)
            return Understanding(source="model", text=text)

    def _understanding(self, answer: Any, text: str) -> Understanding:
        if not isinstance(answer, Mapping):
            raise ValueError(f"no {TOOL_NAME} call in the model's answer")
        intent = answer.get("intent")
        known = isinstance(intent, str) and intent in self.meaning.intents
        said = answer.get("answer")
        slots: dict[str, Slot] = {}
        for name, got in (answer.get("slots") or {}).items():
            spec = self.meaning.slots.get(name)
            if spec is None or not isinstance(got, Mapping):
                continue
            value = _slot_value(spec, got.get("value"))
            if value is not None:
                heard = got.get("heard")
                slots[name] = Slot(
                    value, _unit(got.get("confidence")), heard if isinstance(heard, str) else ""
                )
        return Understanding(
            intent=cast(str, intent) if known else None,
            intent_confidence=_unit(answer.get("intent_confidence")) if known else 0.0,
            answer=cast(Answer, said) if said in ("yes", "no") else None,
            answer_confidence=_unit(answer.get("answer_confidence"))
            if said in ("yes", "no")
            else 0.0,
            slots=slots,
            correction=answer.get("correction") is True,
            source="model",
            text=text,
        )
