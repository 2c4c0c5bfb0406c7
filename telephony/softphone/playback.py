"""Twilio's playback of the agent's audio, as the softphone imitates it.

How it works: Twilio queues every outbound ``media`` payload and plays the
queue in real time; a ``mark`` is queued at the point it arrived and echoed
once everything before it has finished playing; ``clear`` drops the queue and
echoes every pending mark at once. :class:`PlaybackBuffer` is that queue. The
softphone calls :meth:`PlaybackBuffer.play_frame` once per 20 ms tick; time
never enters this class, so tests drive it tick by tick.

Pure bookkeeping: no I/O, no clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from telephony.wire.codec import FRAME_BYTES

__all__ = ["PlaybackBuffer", "PlayedFrame"]


@dataclass(frozen=True, slots=True)
class PlayedFrame:
    """What one tick of playback produced.

    Attributes:
        audio: The mu-law bytes played in this tick (``b""`` if the buffer was
            empty; shorter than a frame when the buffer ran out mid-frame).
        marks: Marks whose audio had finished playing by the start of this
            tick, in the order they were sent: echo them now.
    """

    audio: bytes
    marks: tuple[str, ...]


class PlaybackBuffer:
    """Agent audio waiting to be played, with the marks placed in it.

    Args:
        frame_bytes: Bytes played per tick (160 = 20 ms at 8 kHz).
    """

    def __init__(self, frame_bytes: int = FRAME_BYTES) -> None:
        self.frame_bytes = frame_bytes
        self._audio = bytearray()
        self._marks: deque[tuple[int, str]] = deque()  # (stream position, name)
        self._fed = 0  # stream position: bytes ever queued (cleared bytes included)
        self._played_to = 0  # stream position up to which audio has finished playing
        self.played_bytes = 0
        self.dropped_bytes = 0

    @property
    def buffered_bytes(self) -> int:
        """Audio queued and not yet played."""
        return len(self._audio)

    @property
    def pending_marks(self) -> list[str]:
        """Marks not yet echoed, in order."""
        return [name for _, name in self._marks]

    @property
    def queued_to(self) -> int:
        """Stream position (bytes ever fed, cleared ones included) of the queue's end."""
        return self._fed

    @property
    def played_to(self) -> int:
        """Stream position up to which audio has started playing or been dropped."""
        return self._played_to

    @property
    def idle(self) -> bool:
        """Nothing to play and no mark waiting."""
        return not self._audio and not self._marks

    def feed(self, ulaw: bytes) -> None:
        """Queue agent audio (any length) behind what is already queued."""
        self._audio += ulaw
        self._fed += len(ulaw)

    def add_mark(self, name: str) -> None:
        """Queue a mark after the audio fed so far.

        It is returned by the first :meth:`play_frame` at which all of that
        audio has finished playing (the next one, if nothing is queued).
        """
        self._marks.append((self._fed, name))

    def play_frame(self) -> PlayedFrame:
        """Advance playback by one tick.

        Audio played by the previous tick has now finished, so marks up to
        that point are released first; then up to ``frame_bytes`` of audio
        start playing.
        """
        marks = self._release(self._played_to)
        frame = bytes(self._audio[: self.frame_bytes])
        del self._audio[: len(frame)]
        self._played_to += len(frame)
        self.played_bytes += len(frame)
        return PlayedFrame(frame, marks)

    def clear(self) -> tuple[str, ...]:
        """Drop all queued audio; return every pending mark (echo them at once)."""
        self.dropped_bytes += len(self._audio)
        self._played_to = self._fed
        self._audio.clear()
        return self._release(self._fed)

    def _release(self, position: int) -> tuple[str, ...]:
        released = []
        while self._marks and self._marks[0][0] <= position:
            released.append(self._marks.popleft()[1])
        return tuple(released)
