"""The paced writer: agent audio to Twilio at real time plus a small lead.

Twilio plays whatever it has buffered and can only discard it (``clear``),
never pause it. So the writer sends frames only ``lead`` ahead of the
moment Twilio will play them, and the rest of the reply stays in the local
:class:`~telephony.call.playout.PlayoutBuffer`, where it can be paused, resumed
or dropped. A mark follows each phrase. All sends go through one lock, so a
``clear`` queued by the session is never interleaved inside a frame burst.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from telephony.call.playout import PlayoutBuffer
from telephony.call.transport import MediaTransport
from telephony.clock import Clock
from telephony.wire.codec import FRAME_MS
from telephony.wire.protocol import MediaStreamProtocol, StreamState

__all__ = ["PACING_SLACK_S", "PacedWriter"]

PACING_SLACK_S = 0.002  # sleeping less than this is pointless (and a float trap)
_FRAME_S = FRAME_MS / 1000


class PacedWriter:
    """Drains a playout buffer to the socket at real time.

    Args:
        buffer: The call's playout buffer.
        protocol: The stream's protocol (queues the outbound frames).
        transport: The socket.
        clock: The session's clock.
        lead_ms: How far ahead of real time audio is sent.
        on_frame: Called with each media frame sent and the clock time its
            last sample plays (first-audio timing, echo reference).
    """

    def __init__(
        self,
        *,
        buffer: PlayoutBuffer,
        protocol: MediaStreamProtocol,
        transport: MediaTransport,
        clock: Clock,
        lead_ms: int,
        on_frame: Callable[[bytes, float], None],
    ) -> None:
        self._buffer = buffer
        self._protocol = protocol
        self._transport = transport
        self._clock = clock
        self._lead = lead_ms / 1000
        self._on_frame = on_frame
        self._wake = asyncio.Event()  # audio arrived or playback resumed
        self._send_lock = asyncio.Lock()
        self.paused = False
        self._paused_at: float | None = None

    def wake(self) -> None:
        """New audio is in the buffer."""
        self._wake.set()

    def pause(self) -> None:
        """Stop sending (Twilio plays out the ``lead`` it already has)."""
        if not self.paused:
            self.paused, self._paused_at = True, self._clock.now()

    def resume(self) -> None:
        """Continue from where :meth:`pause` stopped."""
        if self.paused and self._paused_at is not None:
            # The caller heard the lead, then silence: the rest plays that much later.
            silent = self._clock.now() - self._paused_at - self._lead
            self._buffer.delay_playback(silent)
        self.paused, self._paused_at = False, None
        self._wake.set()

    async def flush(self) -> None:
        """Send everything the protocol has queued (frames, marks, ``clear``)."""
        async with self._send_lock:
            for text in self._protocol.data_to_send():
                await self._transport.send(text)

    async def _idle(self) -> None:
        self._wake.clear()
        await self._wake.wait()

    async def run(self, ended: asyncio.Event) -> None:
        """Send until the call ends."""
        play_end = self._clock.now()  # when Twilio will have played all we sent
        while True:
            if self.paused or not self._buffer.has_audio:
                await self._idle()
                continue
            now = self._clock.now()
            wait = play_end - now - self._lead
            if wait > PACING_SLACK_S:
                await self._clock.sleep(wait)
                continue
            if ended.is_set() or self._protocol.state is not StreamState.STREAMING:
                return  # the call is over: nothing more may be sent
            item = self._buffer.pop(now)
            if item is None:  # synthesis has not caught up yet
                await self._idle()
                continue
            if isinstance(item, str):
                self._protocol.send_mark(item)
            else:
                self._protocol.send_media(item)
                play_end = max(play_end, now) + _FRAME_S
                self._on_frame(item, play_end)
            await self.flush()
