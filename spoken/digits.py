"""Normalise speech-recogniser text so pattern recognisers can see PII.

A recogniser writes what was *said*: ``"four one one one, double one ..."``
and ``"priya dot sharma at example dot com"``. Card, phone, Aadhaar and e-mail
patterns only see digits and ``@``. :func:`normalise` rewrites spoken digit
runs and spoken e-mail addresses, and returns an :class:`OffsetMap` so a span
found in the normalised text can be mapped back to the *original* words (the
redactor must remove ``"four one one one"``, not only ``"4111"``).

Rules (kept conservative; everything else is copied unchanged):

- A digit run is a sequence of number words (``zero``/``oh``... ``nine``,
  teens, tens, ``hundred``, ``thousand``, ``double``/``triple`` X, a leading
  ``plus``) separated by spaces, commas or hyphens. Words separated by spaces
  are joined (``"five five five"`` -> ``"555"``); a comma or hyphen starts a
  new group (``"4111 1111"``). Runs with fewer than :data:`MIN_RUN_DIGITS`
  digits stay words, so "one moment" and "at three" are untouched.
- A spoken e-mail is ``local (dot|underscore|dash local)* at|at the rate
  domain (dot label)+`` whose last label is a known top-level domain.

:func:`normalise` is total: it returns for every string, and everything it
does not rewrite is copied unchanged. It runs on every transcript line and
log line, so an exception here would lose the rest of a call's transcript.
Two past crashes shaped the code: a lone "oh" (a neighbour looked up by
index past the end of the run) and "underscore" spelt with a long s (U+017F:
Unicode case-insensitive matching takes it for ``s``, but the word tables are
ASCII). So the
patterns match case-insensitively in ASCII only, exactly the words the tables
hold, and neighbours are looked at by slicing, which cannot run off the end.

The number words are :mod:`spoken.numbers`' tables, the same the clinic's
reader and the turn-taking use. Redaction (``memory.redaction``), the
helpdesk's digit answers and the runtime's keypad-or-speech answers use this
module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spoken.numbers import DIGIT_WORDS, REPEATS, SCALES, TENS, UNITS

__all__ = ["MIN_RUN_DIGITS", "OffsetMap", "normalise"]

MIN_RUN_DIGITS = 3  # shorter runs are times, counts and "one moment", not identifiers

# The number words come from spoken.numbers (one table for every reader), as the
# digits they stand for here: a unit is one digit, a teen two, a tens word its
# first digit (a unit may follow), a scale its zeros.
_UNITS = {word: str(n) for word, n in DIGIT_WORDS.items()}
_TEENS = {word: str(n) for n, word in enumerate(UNITS) if n >= 10}
_TENS = {word: str(n // 10) for word, n in TENS.items()}
_SCALES = {word: "0" * (len(str(n)) - 1) for word, n in SCALES.items()}
_REPEATS = REPEATS
_AMBIGUOUS_ZERO = frozenset({"oh", "o"})  # also an interjection / a letter

_NUMBER_WORD = "|".join(
    sorted([*_UNITS, *_TEENS, *_TENS, *_SCALES, *_REPEATS, "plus"], key=len, reverse=True)
)
# ASCII case folding only: with Unicode folding "\u017fix" matches "six", and the
# tables below (ASCII) would not know the word it matched.
_FLAGS = re.IGNORECASE | re.ASCII
# "o'clock" must not become a zero: forbid an apostrophe after the word.
_RUN = re.compile(
    rf"\b(?:{_NUMBER_WORD})\b(?!')(?:[ \t]*[,-]?[ \t]*\b(?:{_NUMBER_WORD})\b(?!'))*",
    _FLAGS,
)
_TOKEN = re.compile(rf"\b(?:{_NUMBER_WORD})\b|[,-]", _FLAGS)

_TLDS = frozenset(
    "com org net edu gov mil int info biz io co in uk us ca au de fr es it nl ie nz sg ae "
    "me ai app dev uk jp cn br ch se no dk fi pl be at".split()
)
_LABEL = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
_LOCAL_SEP = r"\s+(?:dot|underscore|dash|hyphen|period)\s+"
_SPOKEN_EMAIL = re.compile(
    rf"\b(?P<local>{_LABEL}(?:{_LOCAL_SEP}{_LABEL})*)"
    rf"\s+(?:at\s+the\s+rate(?:\s+of)?|at)\s+"
    rf"(?P<domain>{_LABEL}(?:\s+dot\s+{_LABEL})+)\b",
    _FLAGS,
)
_SEP_WORDS = {"dot": ".", "period": ".", "underscore": "_", "dash": "-", "hyphen": "-"}


@dataclass(frozen=True, slots=True)
class OffsetMap:
    """Maps character spans of the normalised text back to the original text.

    ``starts[i]``/``ends[i]`` give the original span that produced normalised
    character ``i``; a rewritten run maps every one of its characters to the
    whole original run, so any overlap removes all of it.
    """

    original: str
    normalised: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Return the original ``(start, end)`` covering normalised ``[start, end)``."""
        if not self.normalised or end <= start:
            return start, start
        start = min(max(start, 0), len(self.normalised) - 1)
        end = min(max(end, start + 1), len(self.normalised))
        return self.starts[start], self.ends[end - 1]


def _interjection(tokens: list[str], index: int) -> bool:
    """Whether the "oh" at ``index`` is an interjection, not a zero.

    It is when it stands at either end of the run with nothing beside it but
    a comma or hyphen: "oh, five five five", "oh well" (a run of one).
    Neighbours are sliced, never indexed: a run of one has none.
    """
    if index == 0:
        beside = tokens[1:2]
    elif index == len(tokens) - 1:
        beside = tokens[index - 1 : index]
    else:
        return False
    return not beside or beside[0] in (",", "-")


def _digits_for_run(run: str) -> str | None:
    """Spell a run of number words as digits (groups split by comma/hyphen).

    Returns ``None`` when the run is too short to be an identifier.
    """
    tokens = [t.lower() for t in _TOKEN.findall(run)]
    groups: list[str] = []
    current: list[str] = []
    repeat = 1
    pending_tens: str | None = None

    def flush_tens() -> None:
        nonlocal pending_tens
        if pending_tens is not None:
            current.append(pending_tens + "0")
            pending_tens = None

    for index, token in enumerate(tokens):
        if token in (",", "-"):
            flush_tens()
            if current:
                groups.append("".join(current))
                current = []
            continue
        if token == "plus":
            if groups or current or pending_tens:
                return None  # "plus" inside a run is arithmetic, not a country code
            current.append("+")
        elif token in _REPEATS:
            flush_tens()
            repeat = _REPEATS[token]
        elif token in _UNITS:
            if token in _AMBIGUOUS_ZERO and _interjection(tokens, index):
                return None
            digit = _UNITS[token]
            if pending_tens is not None and digit != "0" and repeat == 1:
                current.append(pending_tens + digit)
                pending_tens = None
            else:
                flush_tens()
                current.append(digit * repeat)
            repeat = 1
        elif token in _TEENS:
            flush_tens()
            current.append(_TEENS[token])
        elif token in _TENS:
            flush_tens()
            pending_tens = _TENS[token]
        elif token in _SCALES:
            flush_tens()
            if not current:
                return None
            current.append(_SCALES[token])
    flush_tens()
    if current:
        groups.append("".join(current))
    if sum(c.isdigit() for g in groups for c in g) < MIN_RUN_DIGITS:
        return None
    return " ".join(groups)


def _spoken_email(match: re.Match[str]) -> str | None:
    domain_labels = re.split(r"\s+dot\s+", match.group("domain"), flags=_FLAGS)
    if domain_labels[-1].lower() not in _TLDS:
        return None
    local = re.sub(
        _LOCAL_SEP,
        lambda m: _SEP_WORDS[m.group(0).strip().lower()],
        match.group("local"),
        flags=_FLAGS,
    )
    return f"{local}@{'.'.join(domain_labels)}".lower()


def normalise(text: str) -> OffsetMap:
    """Rewrite spoken e-mails and digit runs; return the text with its offset map.

    Args:
        text: One utterance or log line, as written or as recognised.

    Returns:
        An :class:`OffsetMap` holding both texts and the character mapping.
    """
    edits: list[tuple[int, int, str]] = []
    for match in _SPOKEN_EMAIL.finditer(text):
        replacement = _spoken_email(match)
        if replacement is not None:
            edits.append((match.start(), match.end(), replacement))
    for match in _RUN.finditer(text):
        if any(s < match.end() and match.start() < e for s, e, _ in edits):
            continue
        replacement = _digits_for_run(match.group(0))
        if replacement is not None:
            edits.append((match.start(), match.end(), replacement))
    edits.sort()

    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    cursor = 0
    for start, end, replacement in edits:
        pieces.append(text[cursor:start])
        starts.extend(range(cursor, start))
        ends.extend(range(cursor + 1, start + 1))
        pieces.append(replacement)
        starts.extend([start] * len(replacement))
        ends.extend([end] * len(replacement))
        cursor = end
    pieces.append(text[cursor:])
    starts.extend(range(cursor, len(text)))
    ends.extend(range(cursor + 1, len(text) + 1))
    return OffsetMap(text, "".join(pieces), tuple(starts), tuple(ends))
