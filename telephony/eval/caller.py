"""The scripted caller: answers what the agent just said by the scenario's rules.

Pure: given the words of the agent's last reply (exact in text mode; what an
independent recogniser heard in audio mode), :meth:`ScriptedCaller.answer`
returns the caller's next :class:`~telephony.eval.scenario.Action`. Rules are
tried in order and each fires at most ``times`` times; when none matches, the
``otherwise`` actions are used in turn, and when those are used up too the
caller hangs up (a caller who cannot get anywhere gives up; the judges then
say the goal was not met).

Phrases match as folded words (:func:`spoken.words.fold`: lower case, no
punctuation, "3pm" as "3 pm"), and a phrase is found in a reply when some run
of the reply's words is close enough to it (:func:`contains`): a recogniser
hearing the agent writes "shall i book it" for "Shall I book it?" and, now and
then, "shell i book it".
"""

from __future__ import annotations

from difflib import SequenceMatcher

from spoken.words import fold
from telephony.eval.scenario import Action, Rule, Scenario

__all__ = ["EXACT", "GAVE_UP", "HEARD", "MODEL_FAILED", "ScriptedCaller", "contains"]

EXACT = 1.0  # text mode: the reply's words are exact
HEARD = 0.8  # audio mode: a phrase's characters may differ by a fifth (misrecognitions)
_GIVE_UP = Action(kind="hangup")
GAVE_UP = "no rule matched and no fallback left: the caller gives up"
"""What :attr:`ScriptedCaller.matched` says when the caller gives up (the judges tell it apart)."""
MODEL_FAILED = "the caller's model failed"
"""How :attr:`ScriptedCaller.matched` starts when a model playing the caller could not answer."""


def contains(reply: str, phrase: str, *, similarity: float = EXACT) -> bool:
    """Whether ``phrase`` occurs in ``reply``, as folded words, at least ``similarity`` alike.

    >>> contains("Shall I book it for you?", "shall i book")
    True
    >>> contains("shell i book it", "shall i book", similarity=0.8)
    True
    """
    words, wanted = fold(reply).split(), fold(phrase)
    if not wanted:
        return False
    if similarity >= EXACT:
        return f" {wanted} " in f" {' '.join(words)} "
    size = len(wanted.split())
    for width in {max(1, size - 1), size, size + 1}:
        for start in range(max(1, len(words) - width + 1)):
            window = " ".join(words[start : start + width])
            if SequenceMatcher(None, window, wanted).ratio() >= similarity:
                return True
    return False


class ScriptedCaller:
    """One call's caller, playing a scenario's rules.

    Args:
        scenario: The scenario.
        similarity: How alike a phrase must be to the reply's words
            (:data:`EXACT` for text, :data:`HEARD` for recognised audio).
    """

    def __init__(self, scenario: Scenario, *, similarity: float = EXACT) -> None:
        self.scenario = scenario
        self.similarity = similarity
        self._fired: dict[int, int] = {}
        self._fallbacks = 0
        self.matched: list[str] = []
        """Per answer: the rule (``rules[2]: 'shall i book'``) or fallback that chose it."""

    def _matches(self, rule: Rule, reply: str) -> str | None:
        for phrase in rule.when:
            if contains(reply, phrase, similarity=self.similarity):
                return phrase
        return None

    def barge_in_ms(self) -> int | None:
        """How far into the agent's next reply to listen for a barge-in, if a rule may talk over it.

        The smallest ``barge_in_ms`` of the rules that may still fire;
        ``None`` when no rule talks over the agent (audio mode then waits for
        each reply to end).
        """
        delays = [
            rule.action.barge_in_ms
            for index, rule in enumerate(self.scenario.rules)
            if rule.action.barge_in_ms is not None and self._fired.get(index, 0) < rule.times
        ]
        return min(delays) if delays else None

    def interrupt(self, heard_so_far: str) -> Action | None:
        """A barge-in rule matching the start of a reply the agent is still saying, if any."""
        return self._first_match(heard_so_far, barge_in_only=True)

    def answer(self, reply: str) -> Action:
        """The caller's next action after the agent said ``reply``.

        Barge-in rules answer a whole reply too: in text mode, and in audio
        mode when their phrase came too late in the reply to interrupt it.
        """
        if (action := self._first_match(reply, barge_in_only=False)) is not None:
            return action
        if self._fallbacks < len(self.scenario.otherwise):
            action = self.scenario.otherwise[self._fallbacks]
            self.matched.append(f"otherwise[{self._fallbacks}]")
            self._fallbacks += 1
            return action
        self.matched.append(GAVE_UP)
        return _GIVE_UP

    async def respond(self, reply: str) -> Action:
        """:meth:`answer`, awaitable: how a call asks any caller (a model's answer takes time)."""
        return self.answer(reply)

    def _first_match(self, reply: str, *, barge_in_only: bool) -> Action | None:
        for index, rule in enumerate(self.scenario.rules):
            if self._fired.get(index, 0) >= rule.times:
                continue
            if barge_in_only and rule.action.barge_in_ms is None:
                continue
            if (phrase := self._matches(rule, reply)) is not None:
                self._fired[index] = self._fired.get(index, 0) + 1
                self.matched.append(f"rules[{index}]: {phrase!r}")
                return rule.action
        return None
