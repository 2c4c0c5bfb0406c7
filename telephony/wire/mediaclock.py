"""The caller-audio clock: Twilio's media timestamps as the time of the caller's audio.

How it works. Twilio stamps every inbound ``media`` message with
``timestamp`` (milliseconds of audio since the stream started) and streams
continuously, speech or silence, 50 frames a second. When this process stalls
(a GC pause, a noisy neighbour, SIGSTOP) the frames wait in the socket and
arrive together afterwards. Judged by read time that backlog looks like a
flood, and turn-taking fed read time sees seconds of audio in an instant (one
long utterance). Judged by the timestamps it is what it is: the caller's audio,
late. Three pure parts, no I/O, time passed in:

- :class:`JitterBuffer` puts frames in timestamp order within a small window,
  drops duplicates and frames too late to place, and fills a gap Twilio never
  filled with silence (comfort frames), so the recogniser and VAD hear
  continuous audio.
- :class:`CallerClock` is the time turn-taking runs on: the session clock's
  seconds, held still while the process stood still (a gap between the
  session's ticks longer than ``stall_s``) and moved on again by the frames as
  they are caught up, each to the moment its audio was spoken. A late burst is
  thus heard as the seconds of audio it holds, never as instant audio. It
  never runs ahead of the session clock.
- :class:`InboundRate` judges a flood on the stream's own time: media messages
  per window of Twilio audio time (timestamps that do not advance, or far more
  messages than audio, are a flood; a backlog that spans real time is not),
  audio that runs ahead of real time since ``start`` by more than
  ``max_lead_s``, and other messages (marks, keys, unknown or empty frames)
  per window of the caller clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from telephony.wire.codec import FRAME_MS, ULAW_SILENCE

__all__ = [
    "BYTES_PER_MS",
    "CallerClock",
    "ClockedFrame",
    "InboundRate",
    "JitterBuffer",
]

BYTES_PER_MS = 8  # 8 kHz mu-law: one byte per sample
REORDER_WINDOW_MS = 100  # hold out-of-order audio this long for a missing frame (5 frames)
MAX_FILL_MS = 2000  # a larger hole in the timestamps is a jump, not lost audio to fill
SLOP_MS = 1.0  # Twilio's timestamps are whole milliseconds
STALL_S = 0.5  # the session ticks every 0.1 s: a gap five times that is a stalled process
RATE_WINDOW_S = 2.0  # inbound rate is judged over this much stream time
MAX_LEAD_S = 2.0  # Twilio cannot send audio faster than it is spoken; allow start-up bunching
_RECENT = 32  # released timestamps remembered to tell a duplicate from a late frame


def duration_ms(payload: bytes) -> float:
    """How much audio a mu-law payload holds."""
    return len(payload) / BYTES_PER_MS


@dataclass(frozen=True, slots=True)
class ClockedFrame:
    """One block of caller audio in stream order.

    Attributes:
        timestamp_ms: Twilio's stream time of its first sample.
        payload: 8 kHz mu-law.
        filled: A comfort frame (silence) standing in for audio that never came.
    """

    timestamp_ms: float
    payload: bytes
    filled: bool = False

    @property
    def end_ms(self) -> float:
        return self.timestamp_ms + duration_ms(self.payload)


class JitterBuffer:
    """Frames in timestamp order: reordered, de-duplicated, gaps filled with silence.

    In-order frames (the normal case) leave at once. A frame after a hole is
    held until the hole is filled by the late frame or the held audio spans
    ``window_ms``; then the hole is filled with silence (up to ``max_fill_ms``;
    a larger jump is followed without filling, counted in ``jumps``).

    Attributes:
        duplicates: Frames dropped because that timestamp was already heard.
        late: Frames dropped because their place was already filled or passed.
        reordered: Frames that arrived before an earlier one and were put back in order.
        filled_ms: Milliseconds of silence put in for audio that never came.
        jumps: Holes too large to fill.
    """

    def __init__(
        self, *, window_ms: float = REORDER_WINDOW_MS, max_fill_ms: float = MAX_FILL_MS
    ) -> None:
        self.window_ms = window_ms
        self.max_fill_ms = max_fill_ms
        self.duplicates = 0
        self.late = 0
        self.reordered = 0
        self.filled_ms = 0.0
        self.jumps = 0
        self._next: float | None = None  # stream time the next frame should start at
        self._held: dict[float, bytes] = {}
        self._recent: deque[float] = deque(maxlen=_RECENT)

    @property
    def next_ms(self) -> float | None:
        """Where the audio released so far ends (``None`` before the first frame)."""
        return self._next

    def push(self, timestamp_ms: float, payload: bytes) -> list[ClockedFrame]:
        """Take one frame; return the frames now due, in order (possibly none)."""
        if self._next is None:
            self._next = timestamp_ms
        if timestamp_ms in self._held or timestamp_ms in self._recent:
            self.duplicates += 1
            return []
        if timestamp_ms < self._next - SLOP_MS:
            self.late += 1
            return []
        if self._held and timestamp_ms < min(self._held):
            self.reordered += 1
        self._held[timestamp_ms] = payload
        return self._release(flush=False)

    def flush(self) -> list[ClockedFrame]:
        """The end of the stream: release everything held, holes filled."""
        return self._release(flush=True)

    def _release(self, *, flush: bool) -> list[ClockedFrame]:
        out: list[ClockedFrame] = []
        while self._held:
            first = min(self._held)
            expected = self._next if self._next is not None else first
            gap = first - expected
            if gap > SLOP_MS:
                held_end = max(ts + duration_ms(p) for ts, p in self._held.items())
                if not flush and held_end - expected < self.window_ms:
                    break  # the missing frame may still come
                if gap <= self.max_fill_ms:
                    out.extend(_silence(expected, gap))
                    self.filled_ms += gap
                else:
                    self.jumps += 1
            payload = self._held.pop(first)
            frame = ClockedFrame(first, payload)
            self._recent.append(first)
            self._next = max(expected, frame.end_ms)
            out.append(frame)
        return out


def _silence(start_ms: float, length_ms: float) -> list[ClockedFrame]:
    """Comfort frames covering ``length_ms`` from ``start_ms``, 20 ms at a time."""
    frames: list[ClockedFrame] = []
    at, end = start_ms, start_ms + length_ms
    while end - at > SLOP_MS:
        ms = min(FRAME_MS, end - at)
        frames.append(ClockedFrame(at, bytes([ULAW_SILENCE]) * round(ms * BYTES_PER_MS), True))
        at += ms
    return frames


class CallerClock:
    """Session time as far as the caller has been heard.

    ``tick(wall)`` is called regularly (the session's timer loop); a gap
    between two observations longer than ``stall_s`` means the process stood
    still, and the clock holds for that long: nobody heard the caller then.
    ``on_audio`` moves it on to the moment a caught-up frame was spoken
    (``anchor + timestamp``, the anchor set by the first frame and lowered
    whenever a frame comes earlier than it predicts, so audio is never placed
    after it arrived). The clock never goes back and never passes ``wall``.

    Attributes:
        stalls: How many stalls were seen.
        stalled_s: Their total length in seconds.
    """

    def __init__(self, *, stall_s: float = STALL_S) -> None:
        self.stall_s = stall_s
        self.stalls = 0
        self.stalled_s = 0.0
        self._lag = 0.0  # how far the caller's audio trails the session clock
        self._seen: float | None = None  # last observation, once ticking
        self._last = float("-inf")  # last time handed out (monotonic)
        self._anchor: float | None = None  # session time of stream time 0

    @property
    def lag(self) -> float:
        """Seconds the audio heard so far trails the session clock."""
        return self._lag

    def tick(self, wall: float) -> float:
        """Observe ``wall`` (and start watching for stalls); return the caller time."""
        if self._seen is None:
            self._seen = wall
        return self.now(wall)

    def now(self, wall: float) -> float:
        """The caller time at session time ``wall``."""
        if self._seen is not None:
            gap = wall - self._seen
            if gap > self.stall_s:
                self._lag += gap
                self.stalls += 1
                self.stalled_s += gap
            self._seen = max(self._seen, wall)
        self._last = max(self._last, wall - self._lag)
        return self._last

    def on_audio(self, end_ms: float, wall: float) -> float:
        """A frame ending at stream time ``end_ms`` was heard at ``wall``: its caller time."""
        now = self.now(wall)
        at = self._place(end_ms, now, wall)
        if at > now:
            self._lag = wall - at
            self._last = at
        return self._last

    def _place(self, end_ms: float, now: float, wall: float) -> float:
        if self._anchor is None:
            self._anchor = now - end_ms / 1000
        at = self._anchor + end_ms / 1000
        if at > wall:  # earlier than the anchor predicts: the anchor was late
            self._anchor -= at - wall
            at = wall
        return at


class InboundRate:
    """Is the peer flooding? Judged on the stream's own time, not on read time.

    Args:
        max_rate: Messages per second of stream time (``DIALGRAPH_MAX_INBOUND_RATE``).
        window_s: The window the rate is counted over.
        max_lead_s: How far Twilio's audio may run ahead of real time since ``start``.
    """

    def __init__(
        self,
        max_rate: float,
        *,
        window_s: float = RATE_WINDOW_S,
        max_lead_s: float = MAX_LEAD_S,
    ) -> None:
        self.max_rate = max_rate
        self.window_s = window_s
        self.max_lead_s = max_lead_s
        self._limit = max_rate * window_s
        self._started: float | None = None  # session time of ``start``
        self._media_head = float("-inf")  # furthest stream time heard, ms
        self._media_window = float("-inf")
        self._media_count = 0
        self._other_window = float("-inf")
        self._other_count = 0

    def started(self, wall: float) -> None:
        """``start`` arrived at ``wall``: Twilio's timestamps count from about now."""
        self._started = wall

    def media(self, timestamp_ms: float, payload_bytes: int, wall: float) -> str | None:
        """Count one media message; the reason it makes a flood, else ``None``."""
        end = timestamp_ms + payload_bytes / BYTES_PER_MS
        self._media_head = max(self._media_head, end)
        if self._media_head - self._media_window >= self.window_s * 1000:
            self._media_window, self._media_count = self._media_head, 0
        self._media_count += 1
        if self._media_count > self._limit:
            return (
                f"message flood: more than {self._limit:.0f} media messages "
                f"in {self.window_s:.0f} s of audio"
            )
        if self._started is not None:
            lead = self._media_head / 1000 - (wall - self._started)
            if lead > self.max_lead_s:
                return f"message flood: audio {lead:.1f} s ahead of real time"
        return None

    def other(self, caller_now: float) -> str | None:
        """Count one message that is not audio, at caller time ``caller_now``."""
        if caller_now - self._other_window >= self.window_s:
            self._other_window, self._other_count = caller_now, 0
        self._other_count += 1
        if self._other_count > self._limit:
            return f"message flood (more than {self.max_rate:.0f}/s)"
        return None
