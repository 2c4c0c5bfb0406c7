"""The agent's side of the line: audio waiting to be sent, and what was heard.

How it works: every reply is cut into phrases. Each phrase's mu-law audio is
appended here as the synthesiser produces it; the session's paced writer
takes 20 ms frames with :meth:`PlayoutBuffer.pop` and, after a phrase's last
frame, a mark named ``turn-T:N``. Twilio echoes a mark once the caller has
heard everything before it, so an echoed mark proves a whole phrase was heard.

For the phrase that is cut short (``clear``), the buffer estimates how much
was heard from time: the phrase started playing when the previous phrase's
mark came back (or when its first frame was sent, if later), and Twilio plays
in real time. The estimate is clamped to what was actually sent. The heard
text is the prefix of words whose end falls inside the heard fraction.

Pure bookkeeping: no I/O, time is passed in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from telephony.wire.codec import FRAME_BYTES, FRAME_MS, ULAW_SILENCE

__all__ = ["HeardPhrase", "Phrase", "PlayoutBuffer", "cut_to_heard"]

_FRAME_S = FRAME_MS / 1000
_BYTES_PER_MS = FRAME_BYTES / FRAME_MS  # 8 mu-law bytes per millisecond at 8 kHz


@dataclass(slots=True, eq=False)
class Phrase:
    """One speakable piece of a reply and the state of its audio."""

    turn: int
    index: int
    text: str
    pending: bytearray = field(default_factory=bytearray)
    total_bytes: int = 0
    sent_bytes: int = 0
    complete: bool = False
    mark_sent: bool = False
    heard: bool = False
    first_sent_at: float | None = None
    play_start: float | None = None

    @property
    def mark(self) -> str:
        """The mark name sent after this phrase."""
        return f"turn-{self.turn}:{self.index}"

    @property
    def sent_ms(self) -> float:
        return self.sent_bytes / _BYTES_PER_MS

    @property
    def total_ms(self) -> float:
        return self.total_bytes / _BYTES_PER_MS


@dataclass(frozen=True, slots=True)
class HeardPhrase:
    """How much of one phrase the caller heard, as found at a ``clear``."""

    turn: int
    index: int
    text: str
    heard_text: str
    heard_ms: float
    total_ms: float


def cut_to_heard(text: str, fraction: float) -> str:
    """The words of ``text`` that were fully spoken by ``fraction`` of its audio."""
    if fraction >= 1.0:
        return text
    if fraction <= 0.0:
        return ""
    limit = fraction * len(text)
    words = []
    position = 0
    for word in text.split():
        start = text.index(word, position)
        position = start + len(word)
        if position > limit:
            break
        words.append(word)
    return " ".join(words)


class PlayoutBuffer:
    """Queued agent audio, the frames-and-marks order, and the heard ledger."""

    def __init__(self) -> None:
        self._queue: deque[Phrase] = deque()
        self._in_flight: deque[Phrase] = deque()  # fully sent, mark not yet echoed
        self._cleared_marks: set[str] = set()
        self._last_mark_at: float | None = None
        self.heard: list[Phrase] = []

    # -- filling ----------------------------------------------------------
    def open_phrase(self, turn: int, index: int, text: str) -> Phrase:
        """Start a phrase; its audio follows with :meth:`append`."""
        phrase = Phrase(turn=turn, index=index, text=text)
        self._queue.append(phrase)
        return phrase

    def append(self, phrase: Phrase, ulaw: bytes) -> None:
        """Add synthesised audio to ``phrase`` (ignored if it was cleared)."""
        if phrase.complete:
            raise ValueError(f"phrase {phrase.mark} is already complete")
        phrase.pending += ulaw
        phrase.total_bytes += len(ulaw)

    def close_phrase(self, phrase: Phrase) -> None:
        """No more audio will come for ``phrase``; pad it to whole frames."""
        remainder = len(phrase.pending) % FRAME_BYTES
        if remainder:
            pad = FRAME_BYTES - remainder
            phrase.pending += bytes([ULAW_SILENCE]) * pad
            phrase.total_bytes += pad
        phrase.complete = True

    # -- draining -----------------------------------------------------------
    def pop(self, now: float) -> bytes | str | None:
        """The next thing to send: a 20 ms frame, a mark name, or ``None`` (wait).

        ``None`` means the head phrase is still being synthesised (or nothing
        is queued).
        """
        while self._queue:
            phrase = self._queue[0]
            if len(phrase.pending) >= FRAME_BYTES:
                frame = bytes(phrase.pending[:FRAME_BYTES])
                del phrase.pending[:FRAME_BYTES]
                if phrase.first_sent_at is None:
                    phrase.first_sent_at = now
                    previous_end = self._last_mark_at if not self._in_flight else None
                    phrase.play_start = max(now, previous_end) if previous_end else now
                phrase.sent_bytes += FRAME_BYTES
                return frame
            if not phrase.complete:
                return None
            self._queue.popleft()
            if phrase.sent_bytes == 0:
                continue  # an empty phrase (no audio): nothing to mark
            phrase.mark_sent = True
            self._in_flight.append(phrase)
            return phrase.mark
        return None

    @property
    def has_audio(self) -> bool:
        """Whether anything (audio or a mark) is waiting to be sent."""
        return bool(self._queue)

    @property
    def speaking(self) -> bool:
        """Whether the caller may still be hearing agent audio."""
        return bool(self._queue) or bool(self._in_flight)

    def pending_marks(self) -> int:
        return len(self._in_flight)

    def delay_playback(self, seconds: float) -> None:
        """The phrase being sent went silent for ``seconds`` (a pause), so it
        reaches any point of its audio that much later."""
        if seconds > 0 and self._queue and self._queue[0].play_start is not None:
            self._queue[0].play_start += seconds

    # -- feedback from Twilio --------------------------------------------------
    def on_mark(self, name: str, now: float) -> Phrase | None:
        """Twilio played everything up to mark ``name``; returns that phrase.

        Echoes of marks discarded by a ``clear`` and unknown names return
        ``None``.
        """
        if name in self._cleared_marks:
            self._cleared_marks.discard(name)
            return None
        position = next((i for i, p in enumerate(self._in_flight) if p.mark == name), None)
        if position is None:
            return None
        phrase = self._in_flight[position]
        # Marks come back in order; anything before this one was heard too.
        for _ in range(position + 1):
            done = self._in_flight.popleft()
            done.heard = True
            self.heard.append(done)
        self._last_mark_at = now
        if self._queue and self._queue[0].first_sent_at is not None and not self._in_flight:
            head = self._queue[0]
            head.play_start = max(head.first_sent_at or now, now)
        return phrase

    def clear(self, now: float) -> list[HeardPhrase]:
        """Drop everything not yet heard (the session sends Twilio ``clear``).

        Returns, for each phrase the caller may have heard part of, how much
        they heard. Fully heard phrases are not included (see :attr:`heard`).
        Later echoes of the dropped marks are ignored.
        """
        results: list[HeardPhrase] = []
        clock = self._last_mark_at
        for phrase in [*self._in_flight, *self._queue]:
            if phrase.mark_sent:
                self._cleared_marks.add(phrase.mark)
            if phrase.sent_bytes == 0:
                continue
            start = phrase.play_start if phrase.play_start is not None else now
            if clock is not None:
                start = max(start, clock)
            heard_ms = min(max(0.0, (now - start) * 1000), phrase.sent_ms)
            clock = start + phrase.sent_ms / 1000
            total = phrase.total_ms if phrase.complete else max(phrase.total_ms, 1.0)
            fraction = heard_ms / total if total else 0.0
            results.append(
                HeardPhrase(
                    turn=phrase.turn,
                    index=phrase.index,
                    text=phrase.text,
                    heard_text=cut_to_heard(phrase.text, fraction),
                    heard_ms=heard_ms,
                    total_ms=phrase.total_ms,
                )
            )
        self._in_flight.clear()
        self._queue.clear()
        return results

    def heard_text(self, turn: int, cut: list[HeardPhrase] | None = None) -> str:
        """Everything the caller heard of ``turn``: whole phrases plus a cut one."""
        parts = [p.text for p in self.heard if p.turn == turn]
        for item in cut or ():
            if item.turn == turn and item.heard_text:
                parts.append(item.heard_text)
        return " ".join(parts)
