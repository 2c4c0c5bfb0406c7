"""One phone call: the media stream, the speech engines and the agent.

How it works. A :class:`CallSession` owns one accepted media-stream socket.
``run()`` waits for Twilio's ``start`` (checking the call token and admitting
the call to the registry) holding almost nothing: the per-call state (the
VAD session, turn-taking, buffers, writer) is built only once the token was
accepted, so a socket that never authenticates costs next to nothing. Then
it runs five tasks until the call ends:

- **reader**: socket -> :class:`MediaStreamProtocol` -> events. Media goes
  through the jitter buffer (:mod:`telephony.wire.mediaclock`: stream order, no
  duplicates, holes filled with silence), is decoded once, and reaches VAD
  and turn-taking on the caller-audio clock (Twilio's timestamps: a backlog
  after a stall is heard as the audio time it holds) and the recogniser's
  queue; the inbound rate is judged on that clock too, never on read time; a DTMF key becomes
  caller input (see *keypad* below); echoed marks update the
  :class:`PlayoutBuffer`; ``stop`` ends the call.
- **recogniser**: the ``SpeechToText`` stream; final transcripts become
  caller input.
- **turns**: one agent reply at a time. The reply's text is cut into phrases,
  synthesised, and appended to the playout buffer as audio arrives. Caller
  input while a reply is active interrupts it first (``clear``, cancel the
  agent's run, record what was heard). Once the caller heard a reply, the
  call action it asked for is carried out (:mod:`telephony.call.actions`); a
  transfer that fails leaves the call on, and the agent is told in one more
  turn (source ``event``) so it answers the caller itself.
- **writer**: sends the buffer's frames paced at real time plus a small lead
  (``playout_lead_ms``), so the rest of the reply stays here where it can be
  paused, resumed or dropped; a mark follows each phrase.
- **turn-timers**: turn-taking's timers and the keypad's pause, on the clock.

Keypad. A key is its own turn at once (single-key menus), unless the agent
asked for an entry: once a reply's text is produced, the session reads the
agent's optional ``expecting()``; ``{"kind": "digits", ...}`` arms the
:class:`KeypadCollector` (:mod:`telephony.call.keypad`). Keys then build one entry,
the first one cutting the prompt like a barge-in; the finish key,
``max_digits`` or a pause delivers it as one ``dtmf`` turn. Any other input
(a speech turn, a reprompt) cancels the collection. Logs count keys, never
show them: they may be a card number. The same answer of ``expecting()``
goes to the recogniser (its optional ``expect``, as an ``Expectation``), which
favours the expected answers from the caller's next utterance on.

Anything the peer does wrong ends only this call, with a close code that says
why and one log line. ``stop``, a closed socket, or a hang-up end the call
within a second whatever it is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from memory.callerid import normalise_caller
from telephony.admission.limits import CallBudget, estimate_tokens
from telephony.admission.registry import DuplicateCallError, LiveCall
from telephony.call.actions import CallActions
from telephony.call.agent import Agent, InputSource
from telephony.call.echo import EchoConfig, EchoSuppressor
from telephony.call.keypad import KeypadCollector, parse_request
from telephony.call.phrases import PhraseSplitter, fallback_phrase
from telephony.call.playout import PlayoutBuffer
from telephony.call.report import CLOSE_NORMAL, CallReport, TurnTiming, notify
from telephony.call.services import CallServices
from telephony.call.transport import MediaTransport, TransportClosed
from telephony.call.turns import TurnAction, TurnConfig, TurnTaking
from telephony.call.writer import PACING_SLACK_S, PacedWriter
from telephony.settings import Settings
from telephony.speech.base import (
    AudioFrame,
    CallInfo,
    Expectation,
    ProviderError,
    VoiceActivity,
)
from telephony.wire.calltoken import CallTokenError
from telephony.wire.codec import ulaw_to_pcm
from telephony.wire.mediaclock import CallerClock, ClockedFrame, InboundRate, JitterBuffer
from telephony.wire.protocol import (
    Dtmf,
    Mark,
    Media,
    MediaStreamProtocol,
    ProtocolError,
    Start,
    Stop,
    StreamState,
    UnknownEvent,
)
from telephony.wire.protocol import Event as StreamEvent

__all__ = [
    "CallSession",
    "CallerInput",
    "call_info",
    "turn_config",
]

logger = logging.getLogger("dialgraph.call")


CLOSE_POLICY = 1008  # refused: bad token, duplicate call, no start, flood
CLOSE_INTERNAL = 1011
END_GRACE_S = 1.0  # a call must be torn down within a second of its end
# 60 s of audio may wait for the recogniser before frames drop: a stall's backlog
# (30 s is the design case) is caught up, not dropped. Used only while behind.
AUDIO_QUEUE_FRAMES = 3000
# What an ``Expect`` may ask for besides digits: answered by speaking.
SPOKEN_KINDS = frozenset({"yes_no", "date", "time", "choice", "name", "text"})
POLL_S = 0.1  # turn-taking timers are checked at least this often


@dataclass(frozen=True, slots=True)
class CallerInput:
    """A finished piece of caller input for the agent."""

    text: str
    source: InputSource
    at: float
    confidence: float | None = None  # the recogniser's, for speech


def turn_config(settings: Settings) -> TurnConfig:
    """The turn-taking thresholds from the settings."""
    return TurnConfig(
        start_threshold=settings.vad_start_threshold,
        stop_threshold=settings.vad_stop_threshold,
        start_ms=settings.vad_start_ms,
        stop_ms=settings.vad_stop_ms,
        end_silence_ms=settings.end_silence_ms,
        unfinished_silence_ms=settings.unfinished_silence_ms,
        final_hold_ms=settings.final_hold_ms,
        confirm_ms=settings.barge_in_confirm_ms,
        resume_after_ms=settings.barge_in_resume_ms,
        late_word_ms=settings.barge_in_late_word_ms,
        early_answer_ms=settings.early_answer_ms,
        reprompt_after_ms=settings.reprompt_after_ms,
        silence_reprompts=settings.silence_reprompts,
    )


class CallLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every line with the call (and its graph thread, to open in Studio)."""

    def process(
        self, msg: object, kwargs: MutableMapping[str, Any]
    ) -> tuple[str, MutableMapping[str, Any]]:
        assert self.extra is not None  # CallSession always passes one
        thread = self.extra.get("thread_id")
        where = f"{self.extra['call_sid']} thread={thread}" if thread else self.extra["call_sid"]
        return f"[{where}] {msg}", kwargs


def call_info(
    call_sid: str, stream_sid: str, account_sid: str, params: Mapping[str, str]
) -> CallInfo:
    """The call's facts from ``start`` and the ``<Parameter>``s the webhook set.

    The webhook already normalised ``caller``; it is normalised again here so a
    stream started by other means (an older webhook, a custom TwiML) can never
    hand a flow a withheld caller ID as a number: ``caller`` is E.164 or ``""``.
    """
    return CallInfo(
        call_sid=call_sid,
        stream_sid=stream_sid,
        account_sid=account_sid,
        caller=normalise_caller(params.get("caller", "")),
        called=params.get("called", ""),
        direction=params.get("direction", "inbound"),
        parameters=params,
    )


class CallSession(CallActions):
    """One media stream from ``start`` to the end of the call."""

    on_authenticated: Callable[[], None] | None
    """Called once the ``start`` and its token were accepted (the web layer's
    count of sockets waiting to authenticate)."""

    def __init__(
        self, transport: MediaTransport, services: CallServices, settings: Settings
    ) -> None:
        # Only what reading and checking ``start`` needs: a socket that never
        # authenticates must cost next to nothing. Per-call state comes in
        # ``_open_call``, once the token was accepted.
        self._transport = transport
        self._services = services
        self._settings = settings
        self._clock = services.clock
        self.on_authenticated = None
        self._protocol = MediaStreamProtocol(max_message_bytes=settings.max_message_bytes)
        self._rate = InboundRate(settings.max_inbound_rate)
        self._caller_clock = CallerClock()
        self._ended = asyncio.Event()
        self._reply_task: asyncio.Task[None] | None = None
        self._barge_task: asyncio.Task[str] | None = None
        self._turn = 0
        self._own_turn = 0  # the turn of the session's own last phrase (a goodbye, an apology)
        self._agent: Agent | None = None
        self._log: logging.LoggerAdapter[logging.Logger] = CallLog(logger, {"call_sid": "-"})
        self._unknown_seen: set[str] = set()
        self.info: CallInfo | None = None
        self._tts = services.tts
        self._vad: VoiceActivity | None = None
        self._closing = False
        self._budget: CallBudget | None = None
        self.report = CallReport()

    def _open_call(self) -> None:
        """Build the per-call state (speech engines' sessions, buffers, queues, writer)."""
        services, settings = self._services, self._settings
        self._buffer = PlayoutBuffer()
        self._jitter = JitterBuffer()
        self._inputs: asyncio.Queue[CallerInput] = asyncio.Queue()
        self._audio: asyncio.Queue[AudioFrame | None] = asyncio.Queue(AUDIO_QUEUE_FRAMES)
        self._progress = asyncio.Event()  # reply waiters: a mark came back or audio was cleared
        self._writer = PacedWriter(
            buffer=self._buffer,
            protocol=self._protocol,
            transport=self._transport,
            clock=self._clock,
            lead_ms=settings.playout_lead_ms,
            on_frame=self._on_frame_sent,
        )
        self._vad = services.vad() if services.vad is not None else None
        echo = None
        if self._vad is not None and settings.echo_suppression:
            echo = EchoSuppressor(EchoConfig(max_delay_ms=settings.echo_max_delay_ms))
        self._turns = TurnTaking(turn_config(settings), echo=echo, vad=self._vad is not None)
        self._keypad = KeypadCollector()

    def _caller_now(self) -> float:
        """Turn-taking's time: the session clock as far as the caller has been heard."""
        return self._caller_clock.now(self._clock.now())

    async def run(self) -> CallReport:
        """Serve the call until it ends; never raises for peer misbehaviour."""
        tasks: list[asyncio.Task[object]] = []
        try:
            start = await self._await_start()
            if start is None:
                return self.report
            self._agent = await self._services.agent_factory(self.info)  # type: ignore[arg-type]
            thread_id = getattr(self._agent, "thread_id", None)
            if thread_id:
                self._log = CallLog(logger, {"call_sid": start.call_sid, "thread_id": thread_id})
                self._log.info("dialogue thread %s", thread_id)
            tasks.append(self._spawn(self._read_loop(), "reader"))
            tasks.append(self._spawn(self._writer.run(self._ended), "writer"))
            tasks.append(self._spawn(self._turn_loop(), "turns"))
            tasks.append(self._spawn(self._poll_loop(), "turn-timers"))
            if self._services.stt is not None:
                tasks.append(self._spawn(self._recognise_loop(), "recogniser"))
            await self._ended.wait()
        except Exception:
            self._log.exception("call failed")
            self._finish("internal error", CLOSE_INTERNAL)
        finally:
            await self._teardown(tasks)
        return self.report

    def _spawn(self, coro: Awaitable[object], name: str) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except TransportClosed:
                self._finish("socket closed")
            except Exception as exc:
                self._log.exception("%s task failed: %s", name, type(exc).__name__)
                self._finish(f"{name} failed", CLOSE_INTERNAL)

        return asyncio.create_task(guarded(), name=f"{name}:{self.report.call_sid}")

    def _finish(self, reason: str, code: int = CLOSE_NORMAL) -> None:
        if not self._ended.is_set():
            self.report.end_reason = reason
            self.report.close_code = code
            self._ended.set()

    async def _teardown(self, tasks: list[asyncio.Task[object]]) -> None:
        if self._reply_task is not None:
            tasks.append(self._reply_task)
        if self._barge_task is not None:
            tasks.append(self._barge_task)
        close_vad = getattr(self._vad, "close", None)
        if close_vad is not None:
            close_vad()
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=END_GRACE_S)
            if pending:
                self._log.warning("%d task(s) did not stop within %.1fs", len(pending), END_GRACE_S)
        with contextlib.suppress(Exception):
            await self._transport.close(self.report.close_code, self.report.end_reason[:120])
        if self.info is not None:
            self._services.registry.release(self.info.call_sid)
            with contextlib.suppress(Exception):
                await self._services.limit_store.release(self.info.call_sid, self.info.caller)
            self._services.metrics.call_ended(self.report.end_reason)
        if self._agent is not None:
            try:
                await asyncio.wait_for(self._agent.aclose(), END_GRACE_S)
            except Exception as exc:
                self._log.warning("agent did not close cleanly: %s", type(exc).__name__)
        if self.info is not None:
            self._log.info(
                "call ended: %s (code %d, %d turns, %d interruptions)",
                self.report.end_reason,
                self.report.close_code,
                len(self.report.turns),
                self.report.interruptions,
            )

    async def _await_start(self) -> Start | None:
        """Read until ``start``; refuse the stream on timeout, bad token or replay."""
        reader = asyncio.create_task(self._read_until_start())
        timer = asyncio.create_task(self._clock.sleep(self._settings.start_timeout))
        try:
            done, _ = await asyncio.wait({reader, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not reader.done():
                reader.cancel()
        if reader in done:
            return reader.result()
        self._refuse(f"no start message within {self._settings.start_timeout:.0f}s", "no_start")
        return None

    async def _read_until_start(self) -> Start | None:
        while True:
            try:
                data = await self._transport.receive()
            except TransportClosed:
                self._finish("socket closed before start")
                return None
            events = self._accept(data)
            if events is None:
                return None
            for event in events:
                if isinstance(event, Start):
                    return await self._begin(event)
                if isinstance(event, UnknownEvent):
                    self._note_unknown(event.name)

    def _refuse(self, why: str, kind: str) -> None:
        self._services.metrics.call_refused(kind)
        self._log.warning("media stream refused: %s", why)
        self._finish(f"refused: {why}", CLOSE_POLICY)

    async def _begin(self, start: Start) -> Start | None:
        params: Mapping[str, str] = dict(start.custom_parameters)
        self.report.call_sid, self.report.stream_sid = start.call_sid, start.stream_sid
        self._log = CallLog(logger, {"call_sid": start.call_sid})
        try:
            self._services.tokens.check(params.get("token"), start.call_sid, params)
            # One stream per call across every worker (a replayed token elsewhere).
            if not await self._services.limit_store.claim_stream(start.call_sid):
                raise DuplicateCallError(f"{start.call_sid} already has a media stream")
            self._services.registry.admit(
                LiveCall(
                    start.call_sid,
                    start.stream_sid,
                    params.get("caller", ""),
                    end_politely=self.end_for_shutdown,
                )
            )
        except CallTokenError as exc:
            self._refuse(str(exc), "call_token")
            return None
        except DuplicateCallError as exc:
            self._refuse(str(exc), "duplicate_call")
            return None
        self._open_call()
        self._rate.started(self._clock.now())
        if self.on_authenticated is not None:
            self.on_authenticated()
        self.info = call_info(start.call_sid, start.stream_sid, start.account_sid, params)
        self._budget = CallBudget(self._services.limit_store.limits, started_at=self._clock.now())
        # Engines with per-call state (failover counts) hand out a per-call view.
        for_call = getattr(self._services.tts, "for_call", None)
        if for_call is not None:
            self._tts = for_call(self.info)
        self._services.metrics.call_started()
        self._log.info("call started (stream %s)", start.stream_sid)
        return start

    def _accept(self, data: str | bytes) -> list[StreamEvent] | None:
        """Feed one message to the protocol and judge the inbound rate; on bad
        input or a flood end the call (``None``), else return its events."""
        try:
            self._protocol.receive(data)
        except ProtocolError as exc:
            self._services.metrics.error("protocol")
            self._log.warning("closing stream, protocol error: %s", exc)
            self._finish(f"protocol error: {exc}", exc.close_code)
            return None
        events = self._protocol.events()
        wall = self._clock.now()
        media = next((e for e in events if isinstance(e, Media)), None)
        if media is not None:  # judged on Twilio's timestamps, not on read time
            flood = self._rate.media(media.timestamp_ms, len(media.payload), wall)
        else:  # marks, keys, unknown or empty frames: on the caller clock
            flood = self._rate.other(self._caller_clock.now(wall))
        if flood is not None:
            self._refuse(flood, "flood")
            return None
        return events

    async def _read_loop(self) -> None:
        while True:
            try:
                data = await self._transport.receive()
            except TransportClosed:
                self._protocol.receive_eof()
                self._finish("socket closed")
                return
            events = self._accept(data)
            if events is None:
                return
            for event in events:
                if isinstance(event, Media):
                    self._on_media(event)
                elif isinstance(event, Mark):
                    if self._buffer.on_mark(event.name, self._clock.now()) is not None:
                        self._progress.set()
                elif isinstance(event, Dtmf):
                    self._on_key(event.digit)
                elif isinstance(event, Stop):
                    self._finish("caller hung up (stop)")
                    return
                elif isinstance(event, UnknownEvent):
                    self._note_unknown(event.name)

    def _on_media(self, event: Media) -> None:
        """Caller audio, put in stream order by the jitter buffer, on Twilio's clock."""
        self.report.frames_in += 1
        for frame in self._jitter.push(event.timestamp_ms, event.payload):
            self._hear(frame)

    def _hear(self, frame: ClockedFrame) -> None:
        """One frame in order: VAD and turn-taking at the time it was spoken, then STT."""
        now = self._caller_clock.on_audio(frame.end_ms, self._clock.now())
        if self._services.stt is None and self._vad is None:
            return
        pcm = ulaw_to_pcm(frame.payload)
        if self._vad is not None:
            self._apply(self._turns.on_caller_audio(pcm, self._vad.process(pcm), now))
        if self._services.stt is None:
            return
        try:
            self._audio.put_nowait(AudioFrame(frame.payload, pcm, int(frame.timestamp_ms)))
        except asyncio.QueueFull:
            if self.report.frames_in % 50 == 0:
                self._log.warning(
                    "recogniser is %d frames behind; dropping audio", AUDIO_QUEUE_FRAMES
                )

    def _note_unknown(self, name: str) -> None:
        if name not in self._unknown_seen:
            self._unknown_seen.add(name)
            self._log.info("ignoring unknown media-stream event %r", name[:40])

    def submit(
        self, text: str, source: InputSource = "speech", confidence: float | None = None
    ) -> None:
        """Deliver finished caller input (a transcript, digits) or an event to the agent.

        New input ends a keypad entry in progress: the caller spoke instead, or
        the agent is asked again (a reprompt, an event) and says what it expects.
        """
        if self._keypad.active:
            keys = self._keypad.pressed
            self._keypad.cancel()
            self._log.info("keypad entry cancelled by %s input after %d keys", source, keys)
        self._inputs.put_nowait(CallerInput(text, source, self._clock.now(), confidence))

    def _on_key(self, digit: str) -> None:
        """One key: its own turn at once, or part of the entry the agent asked for."""
        now = self._clock.now()
        self._turns.on_dtmf(self._caller_now())  # the caller is there: no silence reprompt
        keypad = self._keypad
        if not keypad.active:
            key = keypad.on_key(digit, now)  # a finish key after a full entry is swallowed
            if key is not None:
                self.submit(key, "dtmf")
            return
        first = keypad.pressed == 0
        entry = keypad.on_key(digit, now)
        self._log.debug("keypad: key %d of the entry", keypad.pressed)
        if first and keypad.pressed and self.replying:
            self._interrupt_soon("keypad")  # the first key cuts the prompt, once
        if entry is not None:
            self._entry_done(entry)

    def _entry_done(self, entry: str) -> None:
        self._log.info("keypad entry of %d digits (%s)", len(entry), self._keypad.ended_by)
        self.submit(entry, "dtmf")

    def _arm_keypad(self, agent: Agent) -> None:
        """Ask the agent what it expects next; arm the keypad for a ``digits`` entry.

        ``expecting`` is optional on the :class:`Agent`; a broken answer is logged
        once and leaves every key its own turn, never failing the reply. The
        recogniser is told the answer too (free speech when there is none).
        """
        expecting = getattr(agent, "expecting", None)
        if expecting is None:
            return
        try:
            spec = expecting()
        except Exception as exc:
            self._log.warning("agent expecting() failed, keys stay single: %s", type(exc).__name__)
            self._expect_speech(None)
            return
        self._expect_speech(spec)
        if spec is None:
            return
        if not isinstance(spec, Mapping) or spec.get("kind") != "digits":
            kind = spec.get("kind") if isinstance(spec, Mapping) else type(spec).__name__
            if kind not in SPOKEN_KINDS:  # a spoken answer is the recogniser's, not a mistake
                self._log.warning(
                    "agent expects %r, which the session cannot collect", str(kind)[:40]
                )
            return
        request, rejected = parse_request(spec)
        if rejected:
            self._log.warning(
                "keypad request: bad or unknown %s; defaults used", ", ".join(rejected)
            )
        self._keypad.expect(request)
        self._log.info(
            "keypad armed: %d-%s digits, finish key %r, %.1fs pause ends it",
            request.min_digits,
            request.max_digits or "any",
            request.finish_on_key,
            request.timeout_s,
        )

    def _expect_speech(self, spec: object) -> None:
        """Tell a recogniser that can use it what the caller's next turn should be."""
        expect = getattr(self._services.stt, "expect", None)
        if expect is None or self.info is None:
            return
        expectation = Expectation.from_spec(spec) if isinstance(spec, Mapping) else None
        try:
            expect(self.info, expectation)
        except Exception as exc:  # a bias is a nicety: the call goes on without it
            self._log.warning("recogniser expect() failed: %s", type(exc).__name__)

    def _poll_keypad(self, now: float) -> None:
        """The keypad's pause: deliver the entry, or note why there is none."""
        keypad = self._keypad
        if not keypad.active:
            return
        entry = keypad.poll(now)
        if entry is not None:
            self._entry_done(entry)
        elif not keypad.active:
            self._log.info("keypad: %s after %d keys, no entry", keypad.ended_by, keypad.pressed)
        elif keypad.keying:
            # A caller keying is there: hold turn-taking's silence count, which
            # counts from the last key and may be shorter than the keypad's pause.
            self._turns.on_dtmf(self._caller_now())

    async def _audio_stream(self) -> AsyncIterator[AudioFrame]:
        while (frame := await self._audio.get()) is not None:
            yield frame

    async def _recognise_loop(self) -> None:
        stt = self._services.stt
        assert stt is not None and self.info is not None
        try:
            async for result in stt.transcribe(self._audio_stream(), call=self.info):
                self._apply(self._turns.on_transcript(result, self._caller_now()))
        except ProviderError as exc:
            self._services.metrics.error("stt")
            self._log.error("speech recognition failed, keypad only from now: %s", exc)

    async def _turn_loop(self) -> None:
        self._start_reply(CallerInput("", "start", self._clock.now()))
        while True:
            item = await self._inputs.get()
            if self._barge_task is not None and not self._barge_task.done():
                await asyncio.wait({self._barge_task})
            if self.replying:
                await self.interrupt("caller input")
            self._start_reply(item)

    @property
    def replying(self) -> bool:
        """Whether a reply is being produced or is still audible."""
        return (
            self._reply_task is not None and not self._reply_task.done()
        ) or self._buffer.speaking

    def _observe(self, who: str, text: str, timing: TurnTiming | None = None) -> None:
        if self.info is not None:
            notify(self._services.observer, self.info.call_sid, who, text, timing, log=self._log)

    def _start_reply(self, item: CallerInput) -> None:
        if self._budget is not None:
            self._budget.charge_turn()
            if (over := self._budget.over(self._clock.now())) is not None:
                self._end_for_limit(over)
                return
        if item.source not in {"start", "event"}:  # an event is nobody's words
            self._observe(
                "caller", item.text if item.source == "speech" else f"[{item.source}] {item.text}"
            )
        self._turns.on_reply_started(self._caller_now())
        self._turn += 1
        timing = TurnTiming(self._turn, item.source, item.at)
        self.report.turns.append(timing)
        self._reply_task = asyncio.create_task(self._reply(self._turn, item, timing))

    async def _reply(self, turn: int, item: CallerInput, timing: TurnTiming) -> None:
        agent = self._agent
        assert agent is not None
        phrases: asyncio.Queue[str | None] = asyncio.Queue()
        speaker = asyncio.create_task(self._speak(turn, phrases))
        splitter = PhraseSplitter()
        apology = ""  # said by the session when the agent could not answer
        try:
            try:
                await self._stream_reply(agent, item, timing, phrases, splitter)
            except Exception as exc:
                self._services.metrics.error("agent")
                self._log.error("agent failed during turn %d: %s", turn, type(exc).__name__)
                if item.source != "event":
                    apology = fallback_phrase(item.source)
                    phrases.put_nowait(apology)
            if item.source == "event" and not splitter.emitted:  # an event is always answered
                apology = fallback_phrase(item.source, item.text)
                phrases.put_nowait(apology)
            phrases.put_nowait(None)
            await speaker
            await self._until_heard()
            self._keypad.on_prompt_ended(self._clock.now())
            timing.finished_at = self._clock.now()
            self.report.heard[turn] = self._buffer.heard_text(turn)
            self._record_spoken(apology)
            self._observe("agent", self.report.heard[turn], timing)
            self._turn_done(timing)
            # The reply ends with its call action: no silence reprompt while Twilio is asked.
            await self._perform(agent.pending_action(), after_event=item.source == "event")
            self._apply(self._turns.on_reply_finished(self._caller_now(), self.report.heard[turn]))
        except asyncio.CancelledError:
            raise
        except Exception:
            self._log.exception("reply %d failed", turn)
        finally:
            speaker.cancel()

    async def _stream_reply(
        self,
        agent: Agent,
        item: CallerInput,
        timing: TurnTiming,
        phrases: asyncio.Queue[str | None],
        splitter: PhraseSplitter,
    ) -> None:
        """Run the agent's turn, cutting its text into phrases for the speaker as it comes."""
        estimated = 0
        extra = {"confidence": item.confidence} if item.confidence is not None else {}
        # Agent.respond says AsyncIterator, as GraphAgent's does; every agent's
        # is an async generator, which the session closes when the turn ends.
        reply = agent.respond(item.text, source=item.source, **extra)
        async with contextlib.aclosing(reply) as run:
            async for token in run:
                if timing.first_token_at is None:
                    timing.first_token_at = self._clock.now()
                if self._budget is not None:
                    tokens = estimate_tokens(token)
                    estimated += tokens
                    self._budget.charge_tokens(tokens)
                for phrase in splitter.feed(token):
                    phrases.put_nowait(phrase)
        for phrase in splitter.flush():
            phrases.put_nowait(phrase)
        # Keys pressed during the prompt count, as with <Gather>: arm now.
        self._arm_keypad(agent)
        # The model's own count (prompt included) replaces the estimate.
        if self._budget is not None and (used := getattr(agent, "turn_usage", None)):
            self._budget.settle_tokens(estimated, sum(used))

    def _turn_done(self, timing: TurnTiming) -> None:
        first_token, first_audio = (
            timing.ms(timing.first_token_at),
            timing.ms(timing.first_audio_at),
        )
        self._services.metrics.turn(timing.source, first_token, first_audio)
        self._log.info(
            "turn %d (%s): first token %s ms, first audio %s ms%s",
            timing.turn,
            timing.source,
            first_token,
            first_audio,
            ", interrupted" if timing.interrupted else "",
        )

    async def _speak(self, turn: int, phrases: asyncio.Queue[str | None]) -> None:
        tts = self._tts
        index = 0
        while (text := await phrases.get()) is not None:
            index += 1
            if tts is None:
                self._log.error("no text-to-speech engine configured; reply not spoken")
                continue
            phrase = self._buffer.open_phrase(turn, index, text)
            try:
                async with contextlib.aclosing(tts.synthesize(text)) as audio:
                    async for chunk in audio:
                        self._buffer.append(phrase, chunk)
                        self._writer.wake()
            except ProviderError as exc:
                self._services.metrics.error("tts")
                self._log.error("speech synthesis failed for a phrase: %s", exc)
            finally:
                self._buffer.close_phrase(phrase)
                self._writer.wake()

    async def interrupt(self, reason: str = "barge-in") -> str:
        """Stop the current reply now: ``clear``, cancel the run, record what was heard.

        Returns the text of the reply the caller heard.
        """
        task, turn = self._reply_task, self._turn
        running = task is not None and not task.done()
        if not running and not self._buffer.speaking:
            return self.report.heard.get(turn, "")
        if running and task is not None:
            task.cancel()
            await asyncio.wait({task})
        cut = []
        if self._buffer.speaking:
            cut = self._buffer.clear(self._clock.now())
            self._progress.set()
            if self._protocol.state is StreamState.STREAMING:
                self._protocol.send_clear()
                await self._writer.flush()
        self._writer.resume()
        self._turns.on_reply_interrupted(self._caller_now())
        self._keypad.on_prompt_ended(self._clock.now())  # cut: the wait for a first key starts
        heard = self._buffer.heard_text(turn, cut)
        self.report.heard[turn] = heard
        self.report.interruptions += 1
        self.report.turns[-1].interrupted = True
        self._services.metrics.barge_in("confirmed")
        self._turn_done(self.report.turns[-1])
        self._log.info("reply %d interrupted (%s); caller heard %d chars", turn, reason, len(heard))
        self._observe("agent", heard + " [interrupted]", self.report.turns[-1])
        if running and self._agent is not None:
            await self._agent.cancel()
        if turn == self._own_turn:  # the session's own phrase, not the agent's reply
            self._record_spoken(heard, interrupted=True)
        elif self._agent is not None:
            await self._agent.record_heard(heard)
        return heard

    def _record_spoken(self, text: str, *, interrupted: bool = False) -> None:
        """Tell the agent what the session said on its own (its optional ``record_spoken``)."""
        record = getattr(self._agent, "record_spoken", None)
        if record is None or not text:
            return
        try:
            record(text, interrupted=interrupted)
        except Exception as exc:
            self._log.warning("agent record_spoken() failed: %s", type(exc).__name__)

    def _apply(self, actions: list[TurnAction]) -> None:
        """Carry out what turn-taking decided (called on the reader's path: no awaits)."""
        for action in actions:
            kind = action.kind
            if kind == "pause":
                self.pause()
                self._services.metrics.barge_in("paused")
            elif kind == "resume":
                self.resume()
                self._services.metrics.barge_in("resumed")
            elif kind == "interrupt":
                self._interrupt_soon(action.reason)
            elif kind == "turn":
                if action.text.strip():
                    self.submit(action.text.strip(), "speech", action.confidence)
            elif kind == "reprompt":
                self.submit("", "silence")
            elif kind == "hangup" and not self._closing:
                self._closing = True
                self._barge_task = asyncio.create_task(self._close_politely())

    def _interrupt_soon(self, reason: str) -> None:
        """Stop sending now and cut the reply in a task (the reader's path does not await)."""
        self.pause()
        if self._barge_task is None or self._barge_task.done():
            self._barge_task = asyncio.create_task(self.interrupt(reason))

    async def _poll_loop(self) -> None:
        """Turn-taking timers and the keypad's pause: they must fire even when no audio arrives."""
        while True:
            now = self._clock.now()
            heard = self._caller_clock.tick(now)  # also how the clock sees a stalled process
            turn_due = self._turns.deadline()  # on the caller clock
            dues = (None if turn_due is None else now + turn_due - heard, self._keypad.deadline())
            due = min((d for d in dues if d is not None), default=None)
            wait = POLL_S if due is None else min(POLL_S, max(0.0, due - now))
            await self._clock.sleep(max(wait, PACING_SLACK_S))
            now = self._clock.now()
            self._poll_keypad(now)  # first: an entry ending now beats a reprompt due now
            self._apply(self._turns.poll(self._caller_clock.tick(now)))
            if self._budget is not None and (over := self._budget.over(now)) is not None:
                self._end_for_limit(over)

    def pause(self) -> None:
        """Stop sending agent audio (Twilio plays out what it already has)."""
        self._writer.pause()

    def resume(self) -> None:
        """Continue sending agent audio from where :meth:`pause` stopped."""
        self._writer.resume()

    def _on_frame_sent(self, frame: bytes, plays_at: float) -> None:
        self.report.frames_out += 1
        timing = self.report.turns[-1] if self.report.turns else None
        if timing is not None and timing.first_audio_at is None:
            timing.first_audio_at = self._clock.now()
        if self._turns.echo is not None:
            self._turns.on_agent_audio(ulaw_to_pcm(frame), plays_at)
