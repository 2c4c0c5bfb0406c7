"""Scenarios played as phone calls: the softphone speaks, the real server answers.

:class:`AudioRig` is the run's server: the flow's speech engines load once
(as ``dialgraph serve`` loads them), Litestar serves on a free loopback port,
and each call is signed as Twilio signs it. Every scenario still gets a flow
state of its own (database, calendar, caller memory, its ``today``): the
rig's agent factory routes each call, by its CallSid, to the flow agents
opened for that scenario. Twilio's REST side is :class:`RecordingCarrier`.

The caller is a :data:`~telephony.softphone.stream.Conversation`: after each
reply it listens with :class:`~telephony.eval.ear.Ear` (a recogniser that is
not the server's), lets the scenario's rules choose, and speaks audio
synthesised before the call in the chosen voice.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
import zlib
from collections.abc import AsyncGenerator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from graphs.runtime.loader import Flow
from graphs.runtime.runner import thread_id_for_call
from graphs.runtime.service import FlowAgents, open_flow_agents
from telephony.eval.caller import HEARD
from telephony.eval.carrier import RecordingCarrier
from telephony.eval.ear import Ear
from telephony.eval.line import PhoneLine
from telephony.eval.model_caller import caller_for
from telephony.eval.record import spoken_replies, understood
from telephony.eval.results import CallRecord, Exchange
from telephony.eval.scenario import Scenario
from telephony.settings import Settings
from telephony.softphone import Script, place_call
from telephony.softphone.script import Dtmf, Hangup, Pause, Say, Step, WaitForAgent
from telephony.softphone.stream import MediaStream
from telephony.softphone.twilio_side import new_sid
from telephony.speech.base import TextToSpeech
from telephony.wire.calltoken import CallTokens

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["AudioRig", "caller_line", "describe"]

QUIET_MS = 1200  # the agent has finished its reply after this much silence
REPLY_TIMEOUT_MS = 25_000  # longer than the agent's silence reprompt (7 s) and any reply
_POLL_MS = 100  # how often the caller checks whether the agent has started speaking
AGENT_CLOSE_TIMEOUT_S = 15.0  # the session gives its agent a few seconds to close
DEFAULT_NOISE = "babble"  # what --noise-snr adds to a scenario without a noise of its own


class AudioRig:
    """One server for a whole run; :meth:`play` places one scenario's call against it.

    Args:
        settings: The runtime's settings (engines, limits are lifted for the run).
        flow: The flow under test.
        out: The run's folder (the server's own var directory).
        encryption_key: The run's key for every call's database.
        parallel: Calls at once (decoders are warmed for that many).
        voice: Makes the caller's voice from its name (``""``: the default).
        caller_model: Plays the scenarios that have a ``goal``.
    """

    def __init__(
        self,
        settings: Settings,
        flow: Flow,
        *,
        out: Path,
        encryption_key: str,
        parallel: int,
        voice: Callable[[str], TextToSpeech],
        caller_model: BaseChatModel | None = None,
    ) -> None:
        self._caller_model = caller_model
        self._token = secrets.token_hex(16)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.settings = settings.replace(
            var_dir=out,
            database_url="",
            checkpoint_key=encryption_key,
            twilio_auth_token=self._token,
            public_url=self.base_url,
            calls_per_hour_per_caller=0,  # every scenario may use the same number
            concurrent_per_caller=0,
            concurrent_total=0,
        )
        self.flow = flow
        self.carrier = RecordingCarrier()
        self.ear = Ear(decoders=max(1, parallel))
        self._parallel = parallel
        self._make_voice = voice
        self._voices: dict[str, TextToSpeech] = {}
        self._routes: dict[str, FlowAgents] = {}
        self._closed: dict[str, asyncio.Event] = {}
        self._stack = AsyncExitStack()
        self._serving: asyncio.Task[None] | None = None
        self._server: Any = None

    async def __aenter__(self) -> AudioRig:
        import uvicorn

        from telephony.services import build_services
        from telephony.web import create_app

        services = await self._stack.enter_async_context(
            build_services(self.settings, flow=self.flow, warm_decoders=self._parallel)
        )
        services.call_control = self.carrier
        services.tokens = CallTokens(self._token, ttl=self.settings.call_token_ttl)
        services.agent_factory = self._route
        await self.ear.warm_up()
        app = create_app(self.settings, graph=self.flow, services=services)
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                ws="websockets-sansio",
                ws_max_size=self.settings.max_message_bytes,
                lifespan="on",
                access_log=False,
            )
        )
        self._serving = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._serving.done():
                await self._serving  # raises what stopped it
                raise RuntimeError("the eval server stopped while starting")
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._serving, 15)
        await self._stack.aclose()

    async def _route(self, call: Any) -> Any:
        agent = await self._routes[call.call_sid](call)
        return _ClosingWatched(agent, self._closed.setdefault(call.call_sid, asyncio.Event()))

    async def _voice(self, name: str) -> TextToSpeech:
        if name not in self._voices:
            tts = self._make_voice(name)
            warm_up = getattr(tts, "warm_up", None)
            if warm_up is not None:
                await warm_up()
            self._voices[name] = tts
        return self._voices[name]

    async def play(
        self, scenario: Scenario, voice: str, folder: Path, *, snr_db: float | None = None
    ) -> CallRecord:
        """Place ``scenario``'s call in ``voice``; its record (not yet judged).

        The scenario's earlier calls (``before``) are placed first, in the
        same flow state, each recorded next to the judged one. The caller's
        line is the scenario's (noise, SNR, loss); ``snr_db`` overrides its
        SNR, adding babble to a scenario that has no noise.
        """
        started = time.monotonic()
        calls = [*scenario.before, scenario]
        records: list[CallRecord] = []
        try:
            async with open_flow_agents(
                self.flow,
                var_dir=folder,
                today=scenario.today,
                encryption_key=self.settings.checkpoint_key,
            ) as agents:
                for index, call in enumerate(calls, 1):
                    wav = folder / ("call.wav" if index == len(calls) else f"call-{index}.wav")
                    records.append(await self._place(agents, call, voice, wav, snr_db))
        except Exception as exc:  # a failed call fails its scenario, never the run
            record = CallRecord(scenario=scenario.name, mode="audio", voice=voice or "default")
            record.ended_by = "error"
            record.end_reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            record.duration_s = round(time.monotonic() - started, 3)
            return record
        record = records[-1]
        record.earlier = records[:-1]
        return record

    async def _place(
        self,
        agents: FlowAgents,
        scenario: Scenario,
        voice: str,
        wav: Path,
        snr_db: float | None,
    ) -> CallRecord:
        """One call of a scenario against ``agents`` (its flow state)."""
        line = caller_line(scenario, snr_db)
        record = CallRecord(
            scenario=scenario.name,
            mode="audio",
            voice=voice or "default",
            line=describe(line, scenario.caller.loss),
        )
        call_sid = new_sid("CA")
        numbers = {text: i for i, text in enumerate(scenario.lines(), 1)}
        script = Script(
            steps=tuple(Say(number=i, text=t) for t, i in numbers.items()),
            source=scenario.source,
            description=scenario.description,
        )
        said: list[int] = []  # per caller input (say/press): the exchange it answered
        self._routes[call_sid] = agents
        try:
            result = await place_call(
                self.base_url,
                script,
                auth_token=self._token,
                caller=scenario.caller.number,
                tts=await self._voice(voice),
                record_to=wav,
                call_sid=call_sid,
                conversation=self._conversation(
                    scenario, record, numbers, said, agents=agents, call_sid=call_sid
                ),
                line=line,
            )
            # The server's side of the call ends after the caller's: its last
            # words and the flow's end-of-call hook still use this state.
            closed = self._closed.setdefault(call_sid, asyncio.Event())
            await asyncio.wait_for(closed.wait(), AGENT_CLOSE_TIMEOUT_S)
            record.note_final_state(await _final_state(agents, call_sid))
        finally:
            self._routes.pop(call_sid, None)
            self._closed.pop(call_sid, None)
        record.duration_s = round(result.duration_ms / 1000, 3)
        record.recording = str(wav)
        record.clears = result.clears_received
        requests = self.carrier.requests(call_sid)
        self.carrier.forget(call_sid)
        record.transfers = [r.target for r in requests if r.kind == "transfer"]
        _ending(record, result.closed_by, result.close_reason, bool(record.transfers))
        if record.duration_s > scenario.expect.within_s and record.ended_by == "caller":
            record.ended_by = "timeout"
        for turn, index in zip(result.turns, said, strict=False):
            if index < len(record.exchanges) - 1 and turn.response_ms is not None:
                record.exchanges[index + 1].voice_to_voice_ms = round(turn.response_ms)
        return record

    def _conversation(
        self,
        scenario: Scenario,
        record: CallRecord,
        numbers: dict[str, int],
        said: list[int],
        *,
        agents: FlowAgents,
        call_sid: str,
    ) -> Callable[[MediaStream], AsyncGenerator[Step, None]]:
        caller = caller_for(scenario, self._caller_model, similarity=HEARD)

        def line(text: str) -> int:  # a model's words are new lines: the softphone voices them
            return numbers.setdefault(text, len(numbers) + 1)

        deadline_ms = scenario.expect.within_s * 1000

        async def converse(stream: MediaStream) -> AsyncGenerator[Step, None]:
            listened = 0
            while True:
                began = stream.elapsed_ms
                barge_in = caller.barge_in_ms()
                interrupting = None
                if barge_in is not None:
                    # Listen to the start of the reply; a barge-in rule may talk over it.
                    async for step in _until_reply_started(stream, began):
                        yield step
                    yield Pause(number=0, ms=barge_in)
                    partial = await self.ear.hear(stream.agent_audio(listened))
                    if (interrupting := caller.interrupt(partial)) is not None:
                        listened += len(stream.agent_audio(listened))
                        exchange = Exchange(
                            turn=len(record.exchanges) + 1,
                            agent=partial,
                            at_s=round(began / 1000, 2),
                            caller=interrupting.describe(),
                            rule=caller.matched[-1],
                            barge_in=True,
                        )
                        record.exchanges.append(exchange)
                        said.append(exchange.turn - 1)
                        yield Say(number=line(interrupting.text), text=interrupting.text)
                        continue
                yield WaitForAgent(number=0, quiet_ms=QUIET_MS, timeout_ms=REPLY_TIMEOUT_MS)
                audio = stream.agent_audio(listened)
                listened += len(audio)
                heard = await self.ear.hear(audio)
                # A person understands clear speech better than the generic model:
                # the reply's recorded words stand in where the ear heard most of them.
                replies = spoken_replies(await _final_state(agents, call_sid))
                exchange = Exchange(
                    turn=len(record.exchanges) + 1,
                    agent=heard,
                    at_s=round(began / 1000, 2),
                    understood=understood(heard, replies) or "",
                )
                record.exchanges.append(exchange)
                if stream.elapsed_ms >= deadline_ms:
                    exchange.caller, exchange.rule = "hangup", "the scenario's time is up"
                    record.end_reason = "the scenario's time is up"
                    yield Hangup(number=0)
                    return
                action = await caller.respond(exchange.understood or heard)
                exchange.caller, exchange.rule = action.describe(), caller.matched[-1]
                if action.kind == "hangup":
                    yield Hangup(number=0)
                    return
                if action.kind == "say":
                    said.append(exchange.turn - 1)
                    yield Say(number=line(action.text), text=action.text)
                elif action.kind == "press":
                    said.append(exchange.turn - 1)
                    yield Dtmf(number=0, digits=action.text)
                else:  # silence: say nothing until the agent speaks again (its reprompt)
                    async for step in _until_reply_started(stream, stream.elapsed_ms):
                        yield step
                if action.hangup_after:
                    yield Hangup(number=0)
                    return

        return converse


async def _until_reply_started(stream: MediaStream, since_ms: float) -> AsyncGenerator[Step, None]:
    """Pause until the caller hears agent audio after ``since_ms`` (or the reply timeout)."""
    while (stream.agent_last_heard_ms or -1.0) < since_ms:
        if stream.elapsed_ms - since_ms > REPLY_TIMEOUT_MS:
            return
        yield Pause(number=0, ms=_POLL_MS)


class _ClosingWatched:
    """A call's agent, passed through, that says when the session has closed it."""

    def __init__(self, agent: Any, closed: asyncio.Event) -> None:
        self._agent = agent
        self._closed = closed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._agent, name)

    async def aclose(self) -> None:
        try:
            await self._agent.aclose()
        finally:
            self._closed.set()


def caller_line(scenario: Scenario, snr_db: float | None = None) -> PhoneLine:
    """The scenario's phone line; ``snr_db`` (a run's ``--noise-snr``) overrides its SNR."""
    spec = scenario.caller
    noise = spec.noise or (DEFAULT_NOISE if snr_db is not None else None)
    snr = snr_db if snr_db is not None else spec.snr_db
    seed = zlib.crc32(scenario.name.encode())  # the same line for a scenario, run after run
    return PhoneLine(
        noise=noise,
        snr_db=snr if noise else None,
        loss=spec.loss,
        jitter_ms=spec.jitter_ms,
        seed=seed,
    )


def describe(line: PhoneLine, loss: float = 0.0) -> str:
    """``clean`` or ``babble 10 dB`` (with ``, 2% loss``): a report's line column."""
    text = "clean" if line.noise is None else f"{line.noise} {line.snr_db:g} dB"
    return text if not loss else f"{text}, {loss:.0%} loss"


def _ending(record: CallRecord, closed_by: str, reason: str, transferred: bool) -> None:
    """Who ended the call, from the stream's close and the carrier's log."""
    if transferred:
        record.ended_by, record.end_reason = "transfer", record.transfers[-1]
    elif closed_by == "app":
        record.ended_by, record.end_reason = "agent", reason
    elif closed_by == "caller":
        record.ended_by = "caller"
        record.end_reason = record.end_reason or "the caller hung up"
    else:
        record.ended_by, record.end_reason = "error", reason or "the stream failed"


async def _final_state(agents: FlowAgents, call_sid: str) -> dict[str, Any]:
    """The call's last checkpointed state values (what Studio shows)."""
    config = {"configurable": {"thread_id": thread_id_for_call(call_sid), "checkpoint_ns": ""}}
    saved = await agents.saver.aget_tuple(config)  # type: ignore[arg-type]
    return dict(saved.checkpoint.get("channel_values", {})) if saved is not None else {}
