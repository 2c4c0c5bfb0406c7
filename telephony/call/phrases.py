"""Cut a stream of reply tokens into speakable phrases.

The first audio of a reply must not wait for the whole reply, and Piper
synthesises one sentence at a time, so a long first sentence means slow first
audio. The splitter therefore emits a phrase at every sentence end, and for
the first phrase of a reply also at a clause break (comma, semicolon, colon,
dash) once it is long enough to sound natural on its own.

The fixed phrases below are what the session says by itself, when the agent
cannot answer (its run failed) or must not (the call is ending).
"""

from __future__ import annotations

from telephony.call.agent import TRANSFER_FAILED

__all__ = [
    "APOLOGY",
    "NOT_PUT_THROUGH",
    "SHUTDOWN_GOODBYE",
    "SILENT_GOODBYE",
    "PhraseSplitter",
    "fallback_phrase",
]

APOLOGY = "Sorry, I had a problem there. Could you say that again?"
NOT_PUT_THROUGH = (
    "I'm sorry, I couldn't put you through just now. Is there anything else I can help you with?"
)
SHUTDOWN_GOODBYE = (
    "I'm sorry, I have to end our call now for maintenance. "
    "Please call us back in a few minutes. Goodbye."
)
SILENT_GOODBYE = "I haven't heard anything for a while, so I'll end the call now. Goodbye."
_EVENT_FALLBACKS = {TRANSFER_FAILED: NOT_PUT_THROUGH}

_SENTENCE_END = ".!?"
_CLAUSE_BREAK = ",;:"
FIRST_PHRASE_MIN_CHARS = 18  # shorter clauses sound clipped when spoken alone
MAX_PHRASE_CHARS = 220  # force a cut in run-on text so audio keeps flowing


class PhraseSplitter:
    """Feed tokens, get back complete phrases; ``flush`` at the end of a reply."""

    def __init__(self, *, first_min_chars: int = FIRST_PHRASE_MIN_CHARS) -> None:
        self._buffer = ""
        self._emitted = 0
        self._first_min = first_min_chars

    @property
    def emitted(self) -> int:
        """How many phrases this reply has produced so far."""
        return self._emitted

    def feed(self, token: str) -> list[str]:
        """Add reply text; return the phrases it completed."""
        self._buffer += token
        phrases: list[str] = []
        while True:
            cut = self._find_cut()
            if cut is None:
                break
            phrase, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:]
            if phrase:
                phrases.append(phrase)
                self._emitted += 1
        return phrases

    def flush(self) -> list[str]:
        """Return whatever text remains as a last phrase."""
        phrase, self._buffer = self._buffer.strip(), ""
        if not phrase:
            return []
        self._emitted += 1
        return [phrase]

    def _find_cut(self) -> int | None:
        text = self._buffer
        # A break only counts once the next character shows it is not inside
        # a number ("3.30", "1,000") or an abbreviation run ("...").
        for i, ch in enumerate(text[:-1]):
            nxt = text[i + 1]
            if not nxt.isspace():
                continue
            if ch in _SENTENCE_END and not _is_abbreviation(text, i):
                return i + 1
            if ch in _CLAUSE_BREAK and self._emitted == 0 and i >= self._first_min:
                return i + 1
        if len(text) > MAX_PHRASE_CHARS:
            space = text.rfind(" ", 0, MAX_PHRASE_CHARS)
            return space if space > 0 else MAX_PHRASE_CHARS
        return None


def fallback_phrase(source: str, text: str = "") -> str:
    """What to say when the agent gave no reply to input ``text`` from ``source``.

    An ``event`` the agent could not answer gets the phrase for that event
    (``transfer_failed``: the caller was not put through), anything else the
    general apology.
    """
    if source == "event":
        return _EVENT_FALLBACKS.get(text, APOLOGY)
    return APOLOGY


_ABBREVIATIONS = {"dr", "mr", "mrs", "ms", "st", "no", "approx", "e.g", "i.e", "vs", "a.m", "p.m"}


def _is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    start = dot
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    return text[start:dot].lower() in _ABBREVIATIONS
