"""What the caller's next turn is expected to be, turned into what each recogniser can use.

The graph declares an ``Expect`` per step (``yes_no``, ``date``, ``time``,
``number``, ``digits``, ``choice``, ``name``, ``text``, each with ``hints``);
after every reply the session hands it to the recogniser as an
:class:`~telephony.speech.base.Expectation`. This module is the recognisers'
side of that, pure (no engine, no I/O):

- :func:`answers`: the sentences a caller gives to a kind of question ("yes
  please", "next tuesday", "half past ten", "five five one oh three"), and
  to a step's own hints ("doctor okafor", "with doctor okafor"). The offline
  recogniser builds one language model per kind at start-up from the
  flow's corpus plus these answers, weighted (:mod:`telephony.speech.domain_lm`),
  and one per set of hints the first time a step asks with them.
- :func:`searches_for`: which of those models to decode the next utterance
  with, best first (the step's hints, then its kind); none means the flow's
  own model. Every model still holds the whole flow corpus and general
  English, so "can I talk to a person" is heard while a yes or no is expected.
- :func:`key_terms`: the words the cloud recogniser is told to favour for
  the next turn (a step's hints; never a kind's common words, which the
  vendor warns make it over-correct).
- :class:`ExpectationBoard`: the current expectation of each call an engine
  serves (engines are shared by every call in the process).

Numbers, days and times are said with :mod:`spoken`, as the agent says them.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from spoken.names import MONTHS, WEEKDAYS
from spoken.numbers import UNITS, say_number, say_ordinal
from spoken.saying import say_time, speakable
from telephony.speech.base import Expectation

__all__ = [
    "HINTS_PREFIX",
    "KIND_SEARCHES",
    "ExpectationBoard",
    "Listening",
    "answers",
    "hint_phrase",
    "key_terms",
    "kind_answers",
    "searches_for",
]

KIND_SEARCHES: tuple[str, ...] = ("yes_no", "date", "time", "number", "digits", "choice", "name")
"""The kinds with a model of their own (built at start-up); ``text`` uses the flow's."""
HINTS_PREFIX = "hints-"  # a search built for one set of hints: "hints-" + a digest of its answers
_SEED = 20261203  # any fixed value: the answers, and so the models' cache keys, never change
_DIGIT_STRINGS = 160  # digit strings drawn for the digits kind (lengths 3-12)
_HINT_DIGIT_STRINGS = 24  # per carrier hint of a digits step ("my zip code is ...")
_PENDING_LIMIT = 256  # expectations kept for calls not (yet) transcribing

_YES = (
    "yes",
    "yeah",
    "yep",
    "yup",
    "sure",
    "correct",
    "right",
    "okay",
    "absolutely",
    "definitely",
    "of course",
    "yes please",
    "yes that's right",
    "yes that's correct",
    "yeah that's right",
    "that's right",
    "that's correct",
    "that's it",
    "that's fine",
    "that works",
    "sounds good",
    "perfect",
    "go ahead",
    "please do",
    "yes go ahead",
    "yes please do",
    "yes do it",
    "yes book it",
    "yes book it please",
    "yes cancel it",
    "yes cancel it please",
    "yes it is",
    "yes i do",
    "yes thank you",
    "yeah sure",
    "okay great",
)
_NO = (
    "no",
    "nope",
    "no thanks",
    "no thank you",
    "not really",
    "no that's wrong",
    "no that's not right",
    "that's wrong",
    "that's not right",
    "no it isn't",
    "no i don't",
    "no don't",
    "no please don't",
    "don't",
    "no leave it",
    "never mind",
    "not now",
    "no that's all",
    "no wait",
)
_CORE_YES_NO = ("yes", "no", "yeah", "yes please", "no thanks", "no thank you")  # said most: x3
_CHOICE = (
    "the first one",
    "the second one",
    "the third one",
    "the last one",
    "the first",
    "the second",
    "the earlier one",
    "the later one",
    "the other one",
    "that one",
    "either one",
    "either is fine",
    "neither",
    "none of them",
    "the morning one",
    "the afternoon one",
)
# A few common given names and surnames (US census order): the name kind's
# model without hints; a flow's own names come from its corpus and its hints.
_GIVEN = (
    "james mary john patricia robert jennifer michael linda david elizabeth william "
    "susan richard jessica joseph sarah thomas karen charles lisa maria anna"
).split()
_FAMILY = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez "
    "hernandez lopez wilson anderson thomas taylor moore jackson martin lee"
).split()
_NAME_CARRIERS = ("{}", "my name is {}", "it's {}", "this is {}", "the name is {}", "it's under {}")
_FIRST_HOUR, _LAST_HOUR = 7, 20  # the times a caller asks for: a working day and its edges


def _yes_no() -> list[str]:
    return [*_YES, *_NO, *(_CORE_YES_NO * 2)]


def _date() -> list[str]:
    days = list(WEEKDAYS)
    out = ["today", "tomorrow", "the day after tomorrow", "next week", "this week"]
    for day in days:
        out += [day, f"on {day}", f"next {day}", f"this {day}", f"{day} please"]
        out += [f"{day} morning", f"{day} afternoon", f"how about {day}"]
    for n in range(1, 32):
        ordinal = say_ordinal(n)
        out += [f"the {ordinal}", f"on the {ordinal}"]
        month = MONTHS[n % 12]
        out += [f"{month} {ordinal}", f"the {ordinal} of {month}"]
        out.append(f"{days[n % 7]} the {ordinal}")
    return out


def _time() -> list[str]:
    """Clock times of a working day, said as the agent says them, with and without a.m./p.m."""
    out = ["noon", "midday", "lunchtime", "in the morning", "in the afternoon", "any time"]
    for minutes in range(_FIRST_HOUR * 60, _LAST_HOUR * 60, 15):
        said = say_time(dt.time(minutes // 60, minutes % 60))
        bare = said.removesuffix(" a.m.").removesuffix(" p.m.")
        out += [said, f"at {said}"] if said == bare else [said, bare, f"at {bare}"]
        if minutes % 60 == 0 and said != "noon":
            out += [f"{bare} o'clock", f"around {bare}", f"how about {bare}"]
            out += [f"half past {bare}", f"quarter past {bare}", f"quarter to {bare}"]
    return out


def _number() -> list[str]:
    values = [*range(1, 32), *range(40, 101, 10)]
    out = []
    for n in values:
        said = say_number(n)
        out += [said, f"{said} please", f"about {said}", f"just {said}"]
    return out


def _digit_strings(count: int, lengths: Iterable[int], rng: random.Random) -> list[str]:
    """Numbers read digit by digit, with "oh" and "double" as callers say them."""
    sizes = list(lengths)
    out = []
    for _ in range(count):
        digits = [rng.randrange(10) for _ in range(rng.choice(sizes))]
        words: list[str] = []
        i = 0
        while i < len(digits):
            word = "oh" if digits[i] == 0 and rng.random() < 0.4 else UNITS[digits[i]]
            if i + 1 < len(digits) and digits[i + 1] == digits[i] and rng.random() < 0.3:
                words += ["double", word]
                i += 2
                continue
            words.append(word)
            i += 1
        out.append(" ".join(words))
    return out


def _digits(max_digits: int = 0) -> list[str]:
    rng = random.Random(_SEED)
    lengths = [max_digits] if max_digits else range(3, 13)
    strings = _digit_strings(_DIGIT_STRINGS, lengths, rng)
    carriers = ("it's {}", "my number is {}", "the number is {}", "{} please")
    return [*strings, *(carriers[i % len(carriers)].format(s) for i, s in enumerate(strings[:40]))]


def _name() -> list[str]:
    rng = random.Random(_SEED)
    out = []
    for i, given in enumerate(_GIVEN):
        full = f"{given} {_FAMILY[i % len(_FAMILY)]}"
        out += [carrier.format(full) for carrier in _NAME_CARRIERS]
        out.append(rng.choice(_NAME_CARRIERS).format(given))
    return out


_KIND_ANSWERS = {
    "yes_no": _yes_no,
    "date": _date,
    "time": _time,
    "number": _number,
    "digits": _digits,
    "choice": lambda: list(_CHOICE),
    "name": _name,
}


def kind_answers(kind: str) -> list[str]:
    """The answers to a kind of question, without hints (``[]`` for ``text``).

    Lower-case words spelt as the offline dictionary spells them ("o'clock",
    "a.m."), in a fixed order: the models built from them are cached under
    a digest of their input.
    """
    return list(_kind_answers(kind))


@functools.lru_cache(maxsize=len(_KIND_ANSWERS) + 1)
def _kind_answers(kind: str) -> tuple[str, ...]:
    make = _KIND_ANSWERS.get(kind)
    return tuple(make()) if make is not None else ()


def hint_phrase(hint: str) -> str:
    """A hint as the recogniser writes it: "Dr. Okafor" -> "doctor okafor", "9:30" in words."""
    said = speakable(_BARE_CLOCK.sub(_say_clock, hint)).lower()
    said = re.sub(r"\bdr\b\.?", "doctor", said)
    if said.endswith(".") and not re.search(r"\b[a-z]\.[a-z]\.$", said):
        said = said[:-1]  # the full stop speakable ends a sentence with, not "p.m."'s
    words = (w.strip(',;:!?"()') for w in said.replace("-", " ").split())
    return " ".join(w for w in words if w)


_BARE_CLOCK = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b(?!\s*[AaPp]\.?\s?[Mm]\b)")


def _say_clock(match: re.Match[str]) -> str:
    """ "9:30" -> "nine thirty", "14:00" -> "two p.m." (a 12-hour time has no marker)."""
    hour = int(match.group(1))
    said = say_time(dt.time(hour, int(match.group(2))))
    return said if hour > 12 else said.removesuffix(" a.m.").removesuffix(" p.m.")


def answers(expectation: Expectation) -> list[str]:
    """The answers to one step: its kind's, and its hints in the forms callers say them.

    A ``digits`` step's hints are carriers ("my zip code is"), said before a
    number of the step's length; other hints are answers themselves ("doctor
    patel", "with doctor patel", "doctor patel please").
    """
    hints = [p for p in dict.fromkeys(hint_phrase(h) for h in expectation.hints) if p]
    if expectation.kind == "digits":
        out = _digits(expectation.max_digits)
        rng = random.Random(_SEED)
        lengths = [expectation.max_digits] if expectation.max_digits else range(3, 13)
        for hint in hints:
            numbers = _digit_strings(_HINT_DIGIT_STRINGS, lengths, rng)
            out += [hint, *(f"{hint} {n}" for n in numbers)]
        return out
    out = kind_answers(expectation.kind)
    for hint in hints:
        out += [hint, hint]
        if expectation.kind != "text":  # free speech's hints are phrases, not answers to frame
            out += [f"{hint} please", f"with {hint}", f"it's {hint}", f"i'd like {hint}"]
    return out


def searches_for(expectation: Expectation | None) -> tuple[str, ...]:
    """The models to decode the next utterance with, best first; ``()``: the flow's own.

    A step with hints has a model of its own, named by a digest of its
    answers, so steps that ask the same thing share it; until it is built
    its kind's model serves. A digits step's length alone gets none: a
    trigram model cannot count to five, so it would only cost memory.

    >>> searches_for(Expectation("yes_no"))
    ('yes_no',)
    """
    return () if expectation is None else _searches_for(expectation)


@functools.lru_cache(maxsize=256)  # called per utterance; steps repeat call after call
def _searches_for(expectation: Expectation) -> tuple[str, ...]:
    kind = (expectation.kind,) if expectation.kind in KIND_SEARCHES else ()
    if not expectation.hints:
        return kind
    digest = hashlib.sha256("\n".join(answers(expectation)).encode()).hexdigest()[:12]
    return (HINTS_PREFIX + digest, *kind)


def key_terms(expectation: Expectation | None) -> tuple[str, ...]:
    """What the cloud recogniser should favour in the next turn: the step's hints.

    A kind alone adds nothing: "yes", days and digits are the common words
    the vendor's model knows best, and key terms of common words make it
    over-correct (AssemblyAI's keyterms guidance).
    """
    if expectation is None:
        return ()
    return expectation.hints


@dataclass(slots=True)
class Listening:
    """One call's current expectation in one engine.

    Attributes:
        expectation: The latest the session gave (``None``: free speech).
        version: Counts the changes, so a reader can tell a new one from the last it used.
    """

    expectation: Expectation | None = None
    version: int = 0

    def set(self, expectation: Expectation | None) -> None:
        if expectation != self.expectation:
            self.expectation = expectation
            self.version += 1


class ExpectationBoard:
    """The current expectation of each call an engine transcribes.

    An engine serves every call in the process, while the session speaks of
    one: ``transcribe`` opens the call's :class:`Listening` and closes it at
    the end; :meth:`expect` sets it. An expectation for a call not open yet
    (a fail-over about to start the next engine) waits for :meth:`open`; at
    most ``pending_limit`` wait, the oldest dropped first, so calls that
    never start here cannot pile up.
    """

    def __init__(self, pending_limit: int = _PENDING_LIMIT) -> None:
        self._open: dict[str, Listening] = {}
        self._pending: OrderedDict[str, Expectation | None] = OrderedDict()
        self._pending_limit = pending_limit

    def open(self, call_sid: str) -> Listening:
        """Start listening for a call, with what was expected before it started."""
        listening = Listening()
        if call_sid in self._pending:
            listening.set(self._pending.pop(call_sid))
        self._open[call_sid] = listening
        return listening

    def close(self, call_sid: str, listening: Listening) -> None:
        """The call's transcription ended (only its own ``listening`` is removed)."""
        if self._open.get(call_sid) is listening:
            del self._open[call_sid]

    def expect(self, call_sid: str, expectation: Expectation | None) -> Listening | None:
        """Set a call's expectation; returns its :class:`Listening` if it is open."""
        listening = self._open.get(call_sid)
        if listening is not None:
            listening.set(expectation)
            return listening
        self._pending[call_sid] = expectation
        self._pending.move_to_end(call_sid)
        while len(self._pending) > self._pending_limit:
            self._pending.popitem(last=False)
        return None

    def current(self, call_sid: str) -> Expectation | None:
        """A call's expectation (open or waiting), ``None`` if none."""
        listening = self._open.get(call_sid)
        return listening.expectation if listening is not None else self._pending.get(call_sid)
