"""Known names in a turn, by spelling and by sound: an offline helper for a flow's rules.

:func:`match_choice` compares every run of words in every reading of a turn
with the names a flow knows, spelled alike (difflib) and sounding alike (a
small Metaphone-like code of consonant sounds, with the ways a name's first
letters are said), and gives the best one with a confidence.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import product

from graphs.runtime.contract import CallerTurn
from graphs.runtime.understanding.meaning import ALTERNATIVE_WEIGHT, EXACT
from spoken.words import fold

__all__ = ["match_choice"]

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
    """A word's spellings as said at its start: "knee" is "nee"; a Vietnamese "ng" is
    "n" ("new yen"), and "nguy" before a vowel also "w" ("win")."""
    if word.startswith(("kn", "gn", "pn", "wr", "ps")):
        return (word[1:],)
    if word.startswith("wh"):
        return ("w" + word[2:],)
    if word.startswith("x"):
        return ("s" + word[1:],)
    if word.startswith("ng"):  # Vietnamese names, as many say them
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
            bare = [w for w in words if w not in _TITLE_WORDS]  # "Dr. Okafor" said as "okafor"
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
    other readings is compared with every choice, spelled alike ("doctor
    okafore" is Dr. Okafor) and sounding alike ("doctor right" is Dr. Wright,
    "doctor fan" is Dr. Phan). Titles are folded ("doctor" is "dr") and
    optional ("okafor" alone names Dr. Okafor). A reading further down the
    list counts :data:`~.meaning.ALTERNATIVE_WEIGHT` less per rank; two
    choices about as likely make the better one less sure.

    Args:
        turn: The caller's turn (or its text).
        choices: The known values as the flow spells them, or value -> other
            ways callers say it (``{"Dr. Robert Wright": ["doctor bob"]}``).
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
