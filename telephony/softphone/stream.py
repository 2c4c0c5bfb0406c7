"""The live part of a softphone call: one media stream, played like Twilio.

How it works: three tasks share one stream.

- The *ticker* is Twilio's clock. Every 20 ms, scheduled against the
  stream's start time (so it never drifts), it sends one caller frame
  (scripted speech or silence: Twilio streams continuously), plays one frame
  of the agent's audio from the :class:`PlaybackBuffer`, echoes the marks
  that playback has reached, and records both frames side by side.
- The *reader* takes the app's messages: ``media`` goes into the playback
  buffer, ``mark`` is queued in it, ``clear`` empties it and echoes every
  pending mark at once.
- The *script runner* walks the steps. Speaking queues frames for the ticker
  and waits until they are sent; waiting steps re-check their condition on
  every tick.

Stream time (milliseconds since the first frame) is the tick index times
20 ms for everything sent and played, and the clock for everything received.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Protocol

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from telephony.clock import Clock
from telephony.speech.base import TextToSpeech
from telephony.wire.codec import FRAME_BYTES, FRAME_MS, ulaw_silence

from . import twilio_side
from .audio import Utterance, synthesize
from .playback import PlaybackBuffer
from .result import CallResult, TurnTiming
from .script import Dtmf, Hangup, Pause, Play, Say, ScriptError, Step, WaitForAgent

__all__ = ["CallerLine", "Conversation", "MediaStream"]


class CallerLine(Protocol):
    """What the caller's audio goes through before it reaches the server (noise, loss).

    ``dialgraph eval``'s :class:`~telephony.eval.line.PhoneLine` is one. Without
    a line the caller's frames are sent as synthesised, with digital silence
    between utterances.
    """

    def degrade(self, audio: bytes) -> list[bytes]:
        """One utterance (8 kHz mu-law) as 160-byte frames, one per input frame."""
        ...

    def silence(self, n_frames: int) -> list[bytes]:
        """What the line carries while the caller says nothing."""
        ...

    def send_delays(self, n_frames: int) -> list[float]:
        """How late (ms) to send each of the next frames after its 20 ms slot (in order)."""
        ...


Conversation = Callable[["MediaStream"], AsyncGenerator[Step, None]]
"""A caller that decides as the call goes: given the stream, it yields one step at
a time, and the stream runs each step before asking for the next, so the caller
can look at what the agent just said (:meth:`MediaStream.agent_audio`)
before choosing what to do. ``dialgraph eval``'s simulated callers are these."""

logger = logging.getLogger(__name__)

_FRAME_S = FRAME_MS / 1000
_BYTES_PER_MS = FRAME_BYTES / FRAME_MS
LATE_FRAME_MS = 20.0  # a frame sent a whole frame after its slot: the sender stalled
TALK_GAP_MS = 400  # agent silence that separates two replies (pauses inside one are shorter)
_MAX_WARNINGS = 20  # keep a misbehaving app from filling the report
_SILENCE = ulaw_silence(FRAME_MS)


class MediaStream:
    """Runs one connected media stream to its end and fills a :class:`CallResult`.

    Args:
        ws: The open WebSocket to the app.
        result: Filled in as the call goes.
        clock: Time source (the ticker's schedule and receive times).
        utterances: Prepared caller audio per step number.
        parameters: The TwiML ``<Parameter>`` values for ``start``.
        account_sid: The fake account's SID.
        progress: Called with one line per notable event.
        line: What the caller's audio goes through (default: nothing).
    """

    def __init__(
        self,
        ws: ClientConnection,
        result: CallResult,
        *,
        clock: Clock,
        utterances: Mapping[int, Utterance],
        parameters: Mapping[str, str],
        account_sid: str,
        progress: Callable[[str], None],
        line: CallerLine | None = None,
        voice: TextToSpeech | None = None,
    ) -> None:
        self.ws = ws
        self._line = line
        # With a line, media frames leave through this queue at their slot plus the
        # line's jitter (order kept); without one they are sent as they are made.
        self._outbox: asyncio.Queue[tuple[float, Callable[[int], str]]] | None = (
            None if line is None else asyncio.Queue()
        )
        self.result = result
        self.clock = clock
        self.playback = PlaybackBuffer()
        self._utterances = dict(utterances)
        self._voice = voice  # synthesises a conversation's words the script did not hold
        self._parameters = dict(parameters)
        self._account_sid = account_sid
        self._progress = progress
        self._debug = logger.isEnabledFor(logging.DEBUG)
        self._send_lock = asyncio.Lock()  # sequence numbers reach the wire in order
        self._seq = 0
        self._t0 = 0.0
        self.tick = 0  # index of the next caller frame
        self._tick_event = asyncio.Event()
        self._hanging_up = False
        self._caller = bytearray()
        self._agent = bytearray()
        # Caller speech in flight: frames left, the turn, frames sent, done future.
        self._speech: deque[bytes] = deque()
        self._speech_turn: TurnTiming | None = None
        self._speech_last_voiced = 0
        self._speech_sent = 0
        self._speech_done: asyncio.Future[None] | None = None
        # Agent activity, for waits, turn timing and progress lines.
        self._last_input_end_tick = 0
        self._last_played_tick: int | None = None
        self._last_media_tick: int | None = None
        self._last_media_ms = float("-inf")
        self._first_media_ms: float | None = None  # first agent audio since a barge-in step began
        self._reply_turn: TurnTiming | None = None  # awaiting its first agent audio
        self._play_turn: tuple[TurnTiming, int] | None = None  # awaiting that audio's playback
        self._agent_talking = False

    # -- helpers ---------------------------------------------------------------

    def _now_ms(self) -> float:
        return (self.clock.now() - self._t0) * 1000

    def _say(self, message: str) -> None:
        self._progress(f"{self._now_ms() / 1000:7.2f}s  {message}")

    def _warn(self, message: str) -> None:
        if len(self.result.warnings) < _MAX_WARNINGS:
            self.result.warnings.append(message)
            self._say(f"warning: {message}")

    async def _send(self, build: Callable[[int], str]) -> None:
        """Send one message built with the next sequence number."""
        async with self._send_lock:
            self._seq += 1
            text = build(self._seq)
            await self.ws.send(text)
        if self._debug:
            logger.debug("softphone sent %.120s", text)

    async def _next_tick(self) -> None:
        await self._tick_event.wait()

    # -- run -------------------------------------------------------------------

    async def run(self, steps: Sequence[Step] | Conversation) -> None:
        """Send ``connected`` and ``start``, run the script (or conversation), end the stream."""
        sid = self.result.stream_sid
        try:
            await self.ws.send(twilio_side.build_connected())
            await self._send(
                lambda seq: twilio_side.build_start(
                    stream_sid=sid,
                    call_sid=self.result.call_sid,
                    account_sid=self._account_sid,
                    parameters=self._parameters,
                    sequence_number=seq,
                )
            )
        except ConnectionClosed:  # refused right after the handshake (e.g. bad signature)
            self._note_app_close()
            return
        self._t0 = self.clock.now()
        self.result.started_at = self._t0
        # The script first, so that speech queued by its first step is in frame 0.
        runner = asyncio.create_task(self._run_script(steps), name="softphone-script")
        ticker = asyncio.create_task(self._run_ticker(), name="softphone-ticker")
        reader = asyncio.create_task(self._run_reader(), name="softphone-reader")
        # Only a line with jitter holds frames back for a sender of their own.
        senders = (
            [asyncio.create_task(self._run_sender(self._outbox), name="softphone-sender")]
            if self._outbox is not None
            else []
        )
        try:
            await asyncio.wait(
                {ticker, reader, runner, *senders}, return_when=asyncio.FIRST_COMPLETED
            )
            if runner.done() and not runner.cancelled() and runner.exception() is None:
                await self._hang_up(ticker)
        finally:
            for task in (runner, ticker, *senders):
                task.cancel()
            await asyncio.gather(runner, ticker, *senders, return_exceptions=True)
            if self.ws.state is State.OPEN:  # a local failure: hang up on the app
                self.result.closed_by = "caller"
                await self.ws.close(1011, "softphone error")
            await asyncio.gather(reader, return_exceptions=True)
            self._finish()
        for task in (runner, ticker, reader, *senders):
            exc = None if task.cancelled() else task.exception()
            if exc is not None and not isinstance(exc, ConnectionClosed):
                raise exc

    def _finish(self) -> None:
        self.result.duration_ms = self.tick * FRAME_MS
        self.result.caller_audio = bytes(self._caller)
        self.result.agent_audio = bytes(self._agent)
        self.result.agent_ms_played = self.playback.played_bytes / _BYTES_PER_MS
        self.result.agent_ms_cleared = self.playback.dropped_bytes / _BYTES_PER_MS

    async def _hang_up(self, ticker: asyncio.Task[None]) -> None:
        """The caller hangs up: last frame, ``stop``, close the socket."""
        self._hanging_up = True
        await asyncio.gather(ticker, return_exceptions=True)
        if self._outbox is not None:
            await self._outbox.join()  # frames still held back by the line's jitter
        if self.result.closed_by:  # the app closed first
            return
        self._say("caller hangs up")
        try:
            await self._send(
                lambda seq: twilio_side.build_stop(
                    stream_sid=self.result.stream_sid,
                    call_sid=self.result.call_sid,
                    account_sid=self._account_sid,
                    sequence_number=seq,
                )
            )
        except ConnectionClosed:
            return  # the reader reports the app's close
        if not self.result.closed_by:
            self.result.closed_by = "caller"
            self.result.outcome = "completed"
            await self.ws.close(1000, "caller hung up")

    # -- the ticker -------------------------------------------------------------

    async def _run_ticker(self) -> None:
        clock, result = self.clock, self.result
        while not self._hanging_up:
            due = self._t0 + self.tick * _FRAME_S
            now = clock.now()
            if now < due:
                await clock.sleep(due - now)
                now = clock.now()
            lateness_ms = (now - due) * 1000
            if lateness_ms > LATE_FRAME_MS:
                result.late_frames += 1
            result.max_lateness_ms = max(result.max_lateness_ms, lateness_ms)
            frame = self._next_caller_frame()
            tick = self.tick

            def media(seq: int, frame: bytes = frame, tick: int = tick) -> str:
                return twilio_side.build_media(
                    frame,
                    stream_sid=result.stream_sid,
                    sequence_number=seq,
                    chunk=tick + 1,
                    timestamp_ms=tick * FRAME_MS,
                )

            if self._outbox is None or self._line is None:
                await self._send(media)
            else:
                delay_ms = self._line.send_delays(1)[0]
                self._outbox.put_nowait((due + delay_ms / 1000, media))
            result.frames_sent += 1
            self._caller += frame
            await self._play_agent_frame()
            self.tick += 1
            event, self._tick_event = self._tick_event, asyncio.Event()
            event.set()

    async def _run_sender(self, outbox: asyncio.Queue[tuple[float, Callable[[int], str]]]) -> None:
        """Send media frames held back by the line's jitter, each at its time, in order."""
        while True:
            at, build = await outbox.get()
            now = self.clock.now()
            if now < at:
                await self.clock.sleep(at - now)
            try:
                await self._send(build)
            finally:
                outbox.task_done()

    def _next_caller_frame(self) -> bytes:
        if not self._speech:
            return _SILENCE if self._line is None else self._line.silence(1)[0]
        frame = self._speech.popleft()
        turn = self._speech_turn
        if turn is not None:
            if self._speech_sent == 0:
                turn.start_ms = self.tick * FRAME_MS
            if self._speech_sent == self._speech_last_voiced:
                self._end_input(turn, (self.tick + 1) * FRAME_MS, self.tick + 1)
        self._speech_sent += 1
        if not self._speech and self._speech_done is not None and not self._speech_done.done():
            self._speech_done.set_result(None)
        return frame

    def _end_input(self, turn: TurnTiming, end_ms: float, end_tick: int) -> None:
        """The caller's input ended: from now on, agent audio answers it."""
        turn.end_ms = end_ms
        self._last_input_end_tick = end_tick
        self._reply_turn = turn
        self._play_turn = None

    async def _play_agent_frame(self) -> None:
        played = self.playback.play_frame()
        audio = played.audio
        if audio:
            self._last_played_tick = self.tick
            if self._play_turn is not None:
                turn, position = self._play_turn
                if self.playback.played_to > position:
                    turn.first_audio_played_ms = self.tick * FRAME_MS
                    self._play_turn = None
        elif self._agent_talking and self._quiet_ticks() * FRAME_MS >= TALK_GAP_MS:
            self._agent_talking = False
            self._say("agent quiet")
        self._agent += audio + _SILENCE[len(audio) :]
        for name in played.marks:
            await self._echo_mark(name)

    def _quiet_ticks(self) -> int:
        """Ticks since the agent last played or sent audio."""
        last = max(self._last_played_tick or 0, self._last_media_tick or 0)
        return self.tick - last

    async def _echo_mark(self, name: str) -> None:
        await self._send(
            lambda seq: twilio_side.build_mark(
                name, stream_sid=self.result.stream_sid, sequence_number=seq
            )
        )
        self.result.marks_echoed += 1

    # -- the reader -------------------------------------------------------------

    async def _run_reader(self) -> None:
        result = self.result
        try:
            async for data in self.ws:
                await self._on_message(data)
        except ConnectionClosed:
            pass
        if not result.closed_by:
            self._note_app_close()
        else:
            sent = self.ws.protocol.close_sent
            result.close_code = sent.code if sent is not None else None
            result.close_reason = sent.reason if sent is not None else ""

    def _note_app_close(self) -> None:
        result, received = self.result, self.ws.protocol.close_rcvd
        result.closed_by = "app"
        result.outcome = "remote_closed"
        result.close_code = received.code if received is not None else 1006
        result.close_reason = received.reason if received is not None else "connection lost"
        reason = f" {result.close_reason!r}" if result.close_reason else ""
        self._say(f"app closed the stream: {result.close_code}{reason}")

    async def _on_message(self, data: str | bytes) -> None:
        if self._debug:
            logger.debug("softphone received %.120s", data)
        try:
            message = twilio_side.parse_app_message(data)
        except twilio_side.WireError as exc:
            self._warn(f"app sent an invalid message: {exc}")
            return
        if message.stream_sid != self.result.stream_sid:
            kind = type(message).__name__
            self._warn(f"app sent {kind} for unknown stream {message.stream_sid!r}")
            return
        if isinstance(message, twilio_side.OutboundMedia):
            self._on_media(message.media.payload)
        elif isinstance(message, twilio_side.OutboundMark):
            self.result.marks_received += 1
            self.playback.add_mark(message.mark.name)
        else:
            self.result.clears_received += 1
            dropped = self.playback.buffered_bytes / _BYTES_PER_MS
            marks = self.playback.clear()
            # A clear ends the interrupted reply: the next audio starts a new one.
            self._last_media_ms = float("-inf")
            self._say(f"app cleared playback: dropped {dropped:.0f} ms, echoing {len(marks)} marks")
            for name in marks:
                await self._echo_mark(name)

    def _on_media(self, payload: bytes) -> None:
        now_ms = self._now_ms()
        result = self.result
        result.frames_received += 1
        result.agent_ms_received += len(payload) / _BYTES_PER_MS
        turn, replied = self._reply_turn, ""
        # A reply starts a new burst of agent audio after the caller's input
        # ended; audio flowing on without a gap is the previous reply going on.
        starts_burst = now_ms - self._last_media_ms >= TALK_GAP_MS
        if turn is not None and payload and starts_burst and now_ms >= turn.end_ms:
            turn.first_audio_received_ms = now_ms
            self._play_turn = (turn, self.playback.queued_to)
            self._reply_turn = None
            replied = f" ({now_ms - turn.end_ms:.0f} ms after turn {turn.number})"
        if not self._agent_talking:
            self._agent_talking = True
            self._say(f"agent speaking{replied}")
        if self._first_media_ms is None:
            self._first_media_ms = now_ms
        self._last_media_tick = self.tick
        self._last_media_ms = now_ms
        self.playback.feed(payload)

    # -- the script -------------------------------------------------------------

    async def _run_script(self, steps: Sequence[Step] | Conversation) -> None:
        if callable(steps):
            conversation = steps(self)
            try:
                async for step in conversation:
                    if not await self._run_step(step):
                        return
            finally:
                await conversation.aclose()
        else:
            for step in steps:
                if not await self._run_step(step):
                    return

    async def _run_step(self, step: Step) -> bool:
        """Carry out one step; whether the call goes on (a hang-up step ends it)."""
        if isinstance(step, Hangup):
            return False
        if isinstance(step, Say | Play):
            await self._speak(step)
        elif isinstance(step, Pause):
            self._say(f"step {step.number}: pause {step.ms} ms")
            await self._wait_ticks(step.ms)
        elif isinstance(step, Dtmf):
            await self._press(step)
        elif isinstance(step, WaitForAgent):
            await self._wait_for_agent(step)
        return True

    # -- what a conversation may look at ------------------------------------------

    def agent_audio(self, since: int = 0) -> bytes:
        """The agent's audio as the caller heard it, from byte ``since`` on.

        8 kHz mu-law, one frame per 20 ms of the call (silence where nothing
        played), so byte ``n`` is ``n / 8`` ms into the call. A conversation
        keeps the length it has listened to and asks for what came after.
        """
        return bytes(self._agent[since:])

    @property
    def agent_last_heard_ms(self) -> float | None:
        """When the caller last heard agent audio (call time), ``None`` before any."""
        return None if self._last_played_tick is None else self._last_played_tick * FRAME_MS

    @property
    def elapsed_ms(self) -> float:
        """Time since the stream started, on the caller's frame clock."""
        return self.tick * FRAME_MS

    async def _wait_ticks(self, ms: float) -> None:
        until = self.tick + max(1, round(ms / FRAME_MS))
        while self.tick < until:
            await self._next_tick()

    async def _speak(self, step: Say | Play) -> None:
        utterance = self._utterances.get(step.number)
        if utterance is None:
            if not isinstance(step, Say):
                raise ScriptError(f"step {step.number}: no audio was loaded for it")
            # A conversation's new words (a model playing the caller): synthesised now,
            # while the line carries silence, as a person thinks before answering.
            utterance = self._utterances[step.number] = await synthesize(step.text, self._voice)
        kind, text = ("say", step.text) if isinstance(step, Say) else ("play", step.path.name)
        if step.barge_in_after_ms is not None:
            await self._await_agent_reply(step)
        turn = TurnTiming(
            number=len(self.result.turns) + 1,
            step=step.number,
            kind=kind,
            text=text,
            barge_in=step.barge_in_after_ms is not None,
        )
        self.result.turns.append(turn)
        self._say(f"step {step.number}: caller {kind}s {text!r} ({utterance.duration_ms} ms)")
        self._speech_turn = turn
        self._speech_last_voiced = utterance.last_voiced
        self._speech_sent = 0
        self._speech_done = asyncio.get_running_loop().create_future()
        if self._line is None:
            self._speech.extend(utterance.frames)
        else:
            self._speech.extend(self._line.degrade(b"".join(utterance.frames)))
        await self._speech_done

    async def _await_agent_reply(self, step: Say | Play) -> None:
        """Wait for the agent's next audio, then ``barge_in_after_ms`` more."""
        self._first_media_ms = None
        deadline = self.tick + step.timeout_ms // FRAME_MS
        while self._first_media_ms is None:
            if self.tick >= deadline:
                self._warn(
                    f"step {step.number}: the agent did not start speaking within "
                    f"{step.timeout_ms} ms; speaking anyway"
                )
                return
            await self._next_tick()
        start_at = self._first_media_ms + (step.barge_in_after_ms or 0)
        while self.tick * FRAME_MS < start_at:
            await self._next_tick()

    async def _press(self, step: Dtmf) -> None:
        self._say(f"step {step.number}: caller presses {step.digits}")
        turn = TurnTiming(
            number=len(self.result.turns) + 1, step=step.number, kind="dtmf", text=step.digits
        )
        self.result.turns.append(turn)
        turn.start_ms = self.tick * FRAME_MS
        for i, digit in enumerate(step.digits):
            if i:
                await self._wait_ticks(step.gap_ms)

            def dtmf(seq: int, digit: str = digit) -> str:
                return twilio_side.build_dtmf(
                    digit, stream_sid=self.result.stream_sid, sequence_number=seq
                )

            await self._send(dtmf)
            self.result.dtmf_sent += 1
        self._end_input(turn, self._now_ms(), self.tick)

    async def _wait_for_agent(self, step: WaitForAgent) -> None:
        self._say(f"step {step.number}: waiting for the agent")
        start = self.tick
        quiet_ticks = step.quiet_ms // FRAME_MS
        while True:
            if (
                self._last_played_tick is not None
                and self._last_played_tick >= self._last_input_end_tick
                and self.playback.buffered_bytes == 0
                and self._quiet_ticks() >= quiet_ticks
            ):
                return
            if (self.tick - start) * FRAME_MS >= step.timeout_ms:
                spoke = (
                    self._last_played_tick is not None
                    and self._last_played_tick >= self._last_input_end_tick
                )
                what = "did not stop speaking" if spoke else "did not speak"
                self._warn(f"step {step.number}: the agent {what} within {step.timeout_ms} ms")
                return
            await self._next_tick()
