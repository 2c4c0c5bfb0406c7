"""CallSession against an in-memory socket on a virtual clock (no sleeps).

The test plays Twilio: it pushes the messages Twilio would send and reads
what the session sent back.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import pytest

from telephony.admission.registry import CallRegistry
from telephony.call.agent import CallAction
from telephony.call.services import CallServices
from telephony.call.session import CallSession
from telephony.settings import Settings
from tests.fakes import (
    FAKE_TTS_MS_PER_CHAR,
    AgentFactoryFor,
    FakeCallControl,
    FakeSTT,
    FakeTTS,
    MemoryTransport,
    ScriptedAgent,
    TwilioScript,
    VirtualClock,
    test_tokens,
    tone_ulaw,
)

GREETING = "Hello, you are through to the test line."


class Call:
    """One session under test, with Twilio's side scripted by the test."""

    def __init__(
        self,
        *,
        agent=ScriptedAgent,
        stt=None,
        tts=None,
        control=None,
        registry=None,
        settings: Settings | None = None,
        clock=None,
    ) -> None:
        self.clock = clock or VirtualClock()
        self.transport = MemoryTransport()
        self.tokens = test_tokens()
        self.factory = AgentFactoryFor(agent)
        self.tts = tts or FakeTTS()
        self.control = control
        self.registry = registry if registry is not None else CallRegistry()
        self.services = CallServices(
            agent_factory=self.factory,
            registry=self.registry,
            tokens=self.tokens,
            tts=self.tts,
            stt=stt,
            call_control=control,
            clock=self.clock,
        )
        self.settings = settings or Settings(playout_lead_ms=100, start_timeout=5.0)
        self.twilio = TwilioScript()
        self.session = CallSession(self.transport, self.services, self.settings)
        self.task: asyncio.Task | None = None
        self.sent_at: list[tuple[float, dict]] = []
        original_send = self.transport.send

        async def stamped_send(text: str) -> None:
            await original_send(text)
            self.sent_at.append((self.clock.now(), json.loads(text)))

        self.transport.send = stamped_send  # type: ignore[method-assign]

    def begin(self, *, token: str | None = None) -> None:
        self.transport.push(self.twilio.connected())
        if token is None:
            token = self.tokens.issue(self.twilio.call_sid, self.twilio.parameters())
        self.transport.push(self.twilio.start(token))
        self.task = asyncio.create_task(self.session.run())

    @property
    def agent(self) -> ScriptedAgent:
        return self.factory.agents[self.twilio.call_sid]

    async def run_for(self, seconds: float) -> None:
        await self.clock.advance(seconds)

    def echo_marks(self) -> list[str]:
        """Play Twilio: echo every mark sent so far (not yet echoed)."""
        names = [m["mark"]["name"] for m in self.transport.of("mark")]
        fresh = names[self._echoed :] if hasattr(self, "_echoed") else names
        self._echoed = len(names)
        for name in fresh:
            self.transport.push(self.twilio.mark(name))
        return fresh

    async def end(self) -> None:
        self.transport.push(self.twilio.stop())
        await self.clock.advance(0.1)
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)


async def test_greeting_is_spoken_paced_and_marked() -> None:
    call = Call()
    call.begin()
    await call.run_for(3.0)
    media = call.transport.of("media")
    expected_frames = FAKE_TTS_MS_PER_CHAR * len(GREETING) // 20
    assert len(media) == expected_frames
    assert [m["mark"]["name"] for m in call.transport.of("mark")] == ["turn-1:1"]
    assert all(m["streamSid"] == call.twilio.stream_sid for m in call.transport.outbound)
    # Paced: at no time is more than the lead (plus one frame) queued at Twilio.
    first_at = call.sent_at[0][0]
    frames = 0
    for at, msg in call.sent_at:
        if msg["event"] == "media":
            frames += 1
            ahead_ms = frames * 20 - (at - first_at) * 1000
            assert ahead_ms <= call.settings.playout_lead_ms + 20 + 3  # + one frame + slack
    call.echo_marks()
    await call.run_for(0.1)
    assert call.session.report.heard[1] == GREETING
    await call.end()
    assert call.agent.closed


async def test_forged_token_refuses_stream_before_any_agent() -> None:
    call = Call()
    call.begin(token="v1.9999999999.forged")
    report = await asyncio.wait_for(call.task, 5)
    assert call.transport.closed is not None and call.transport.closed[0] == 1008
    assert "token" in report.end_reason
    assert call.factory.agents == {}
    assert call.transport.of("media") == []


async def test_token_for_another_call_is_refused() -> None:
    call = Call()
    call.begin(token=call.tokens.issue("CA" + "9" * 32, call.twilio.parameters()))
    await asyncio.wait_for(call.task, 5)
    assert call.transport.closed[0] == 1008


async def test_replayed_call_is_refused() -> None:
    registry = CallRegistry()
    first = Call(registry=registry)
    first.begin()
    await first.run_for(0.5)
    replay = Call(registry=registry, clock=first.clock)
    valid = first.tokens.issue(first.twilio.call_sid, first.twilio.parameters())
    replay.begin(token=valid)  # a valid token, replayed
    await first.run_for(0.1)
    await asyncio.wait_for(replay.task, 5)
    assert replay.transport.closed[0] == 1008
    assert "already admitted" in replay.session.report.end_reason
    assert not first.task.done(), "the first call goes on"
    await first.end()


async def test_socket_that_never_starts_is_closed_after_timeout() -> None:
    call = Call(settings=Settings(start_timeout=10.0))
    call.transport.push(call.twilio.connected())
    call.task = asyncio.create_task(call.session.run())
    await call.run_for(9.0)
    assert not call.task.done()
    await call.run_for(1.5)
    report = await asyncio.wait_for(call.task, 5)
    assert call.transport.closed[0] == 1008
    assert "no start" in report.end_reason


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", 1007),
        (b"\x00\x01binary", 1003),
        (
            json.dumps(
                {
                    "event": "media",
                    "streamSid": "MZ" + "2" * 32,
                    "media": {
                        "track": "inbound",
                        "chunk": "1",
                        "timestamp": "0",
                        "payload": "%%%notbase64",
                    },
                }
            ),
            1007,
        ),
        (json.dumps({"event": "mark", "streamSid": "MZ" + "9" * 32, "mark": {"name": "x"}}), 1002),
        (json.dumps({"event": "start", "streamSid": "MZ" + "2" * 32}), 1007),
    ],
)
async def test_bad_input_mid_call_closes_only_that_stream(message, code) -> None:
    call = Call()
    call.begin()
    await call.run_for(0.2)
    call.transport.push(message)
    report = await asyncio.wait_for(call.task, 5)
    assert call.transport.closed[0] == code
    assert report.close_code == code
    assert call.agent.closed
    assert call.twilio.call_sid not in call.registry


async def test_flood_is_refused() -> None:
    call = Call(settings=Settings(max_inbound_rate=50.0))
    call.begin()
    await call.run_for(0.1)
    for frame in call.twilio.frames(bytes([0xFF]) * 160 * 300):
        call.transport.push(frame)
    report = await asyncio.wait_for(call.task, 5)
    assert report.close_code == 1008
    assert "flood" in report.end_reason


async def test_dtmf_reaches_agent_as_caller_input() -> None:
    call = Call()
    call.begin()
    await call.run_for(3.0)
    call.echo_marks()
    await call.run_for(0.1)
    call.transport.push(call.twilio.dtmf("1"))
    await call.run_for(2.0)
    assert ("dtmf", "1") in call.agent.inputs
    assert "You said 1." in call.tts.spoken
    await call.end()


async def test_interrupt_clears_twilio_and_records_what_was_heard() -> None:
    long_reply = (
        "Our opening hours are nine to five on weekdays. "
        "On Saturday we open from nine until noon. We are closed on Sunday."
    )
    call = Call(agent=lambda: ScriptedAgent(greeting=long_reply))
    call.begin()
    # Twilio has played ~1.0 s of the first phrase when the caller talks over it.
    await call.run_for(1.0)
    heard = await call.session.interrupt("test barge-in")
    assert call.transport.of("clear"), "Twilio's buffer must be cleared"
    # No marks came back yet, so the heard text is estimated from playback
    # time: 1.0 s of 10 ms-per-character audio is about 100 characters.
    assert long_reply.startswith(heard)
    assert 85 <= len(heard) <= 100
    assert call.agent.heard == [heard]
    frames_before = len(call.transport.of("media"))
    # Marks Twilio echoes for the cleared audio do not count as heard.
    call.echo_marks()
    await call.run_for(2.0)
    assert len(call.transport.of("media")) == frames_before
    assert call.session.report.heard[1] == heard
    await call.end()


async def test_cut_phrase_estimate_follows_playback_time() -> None:
    reply = "One two three four five six seven eight nine ten eleven twelve."
    call = Call(agent=lambda: ScriptedAgent(greeting=reply))
    call.begin()
    await call.run_for(0.3)  # 300 ms of a ~640 ms phrase played
    heard = await call.session.interrupt()
    words = heard.split()
    # 10 ms per character: 300 ms covers ~30 characters = about 6-7 words.
    assert 4 <= len(words) <= 7
    assert reply.startswith(heard)


async def test_caller_speech_interrupts_reply_and_is_answered() -> None:
    stt = FakeSTT(["what time do you close"])
    call = Call(
        stt=stt,
        agent=lambda: ScriptedAgent(
            greeting="Welcome to the clinic, how can I help you today? I can book appointments.",
            replies={"what time do you close": "We close at five."},
        ),
    )
    call.begin()
    await call.run_for(0.5)
    for frame in call.twilio.frames(tone_ulaw(400)) + call.twilio.frames(bytes([0xFF]) * 160 * 15):
        call.transport.push(frame)
    await call.run_for(3.0)
    assert call.transport.of("clear")
    assert ("speech", "what time do you close") in call.agent.inputs
    assert "We close at five." in call.tts.spoken
    assert call.session.report.interruptions == 1
    assert call.agent.heard and "Welcome" in call.agent.heard[0]
    await call.end()


async def test_the_recognisers_confidence_reaches_an_agent_that_reads_it() -> None:
    class Attentive(ScriptedAgent):
        confidences: list[float | None] = []

        def respond(self, text: str, *, source: str = "speech", confidence=None):
            self.confidences.append(confidence)
            return super().respond(text, source=source)

    call = Call(
        stt=FakeSTT(["my zip is five five one oh three"], confidence=0.58),
        agent=lambda: Attentive(greeting="Hi.", replies={}),
    )
    call.begin()
    await call.run_for(0.5)
    for frame in call.twilio.frames(tone_ulaw(400)) + call.twilio.frames(bytes([0xFF]) * 160 * 15):
        call.transport.push(frame)
    await call.run_for(3.0)
    assert ("speech", "my zip is five five one oh three") in call.agent.inputs
    assert call.agent.confidences == [None, 0.58]  # the greeting has none
    await call.end()


async def test_pause_holds_audio_and_resume_continues_without_loss() -> None:
    reply = "This reply is long enough to be paused in the middle and resumed after."
    call = Call(agent=lambda: ScriptedAgent(greeting=reply))
    call.begin()
    await call.run_for(0.2)
    call.session.pause()
    await call.run_for(0.05)
    sent = len(call.transport.of("media"))
    await call.run_for(1.0)
    assert len(call.transport.of("media")) == sent, "nothing is sent while paused"
    call.session.resume()
    await call.run_for(2.0)
    audio = tone_ulaw(FAKE_TTS_MS_PER_CHAR * len(reply))
    audio += b"\xff" * (-len(audio) % 160)  # the last frame is padded with silence
    assert call.transport.media_bytes() == audio
    assert not call.transport.of("clear")
    await call.end()


async def test_agent_crash_degrades_politely() -> None:
    stt = FakeSTT(["boom"])
    call = Call(stt=stt, agent=lambda: ScriptedAgent(fail_on="boom"))
    call.begin()
    await call.run_for(3.0)
    call.echo_marks()
    for frame in call.twilio.frames(tone_ulaw(300)) + call.twilio.frames(bytes([0xFF]) * 160 * 15):
        call.transport.push(frame)
    await call.run_for(5.0)
    assert any("Sorry" in text for text in call.tts.spoken)
    assert not call.task.done(), "the call goes on after a crashed run"
    await call.end()


async def test_tts_failure_skips_phrase_not_call() -> None:
    call = Call(tts=FakeTTS(fail_on="through"))
    call.begin()
    await call.run_for(2.0)
    assert not call.task.done()
    await call.end()


async def test_transfer_after_the_reply_was_heard() -> None:
    control = FakeCallControl()
    stt = FakeSTT(["agent please"])
    call = Call(
        stt=stt,
        control=control,
        agent=lambda: ScriptedAgent(
            replies={"agent please": "Putting you through."},
            action_on={"agent please": CallAction("transfer", "+15550100200", "caller asked")},
        ),
    )
    call.begin()
    await call.run_for(3.0)
    call.echo_marks()
    for frame in call.twilio.frames(tone_ulaw(300)) + call.twilio.frames(bytes([0xFF]) * 160 * 15):
        call.transport.push(frame)
    await call.run_for(2.0)
    assert control.transfers == [], "not before the caller heard the announcement"
    call.echo_marks()
    report = await asyncio.wait_for(call.task, 5)
    assert control.transfers == [(call.twilio.call_sid, "+15550100200", "+15551230000")]
    assert report.end_reason == "agent transfer"


async def test_stop_ends_call_mid_reply_within_a_second(caplog) -> None:
    caplog.set_level(logging.INFO, logger="dialgraph")
    call = Call(tts=FakeTTS(delay=0.0))
    call.begin()
    await call.run_for(0.3)
    call.transport.push(call.twilio.stop())
    await call.run_for(0.05)
    report = await asyncio.wait_for(call.task, 1.0)
    assert report.end_reason.startswith("caller hung up")
    assert call.twilio.call_sid not in call.registry
    assert call.agent.closed
    # Hanging up on a talking agent is ordinary: no error, no traceback.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_socket_close_without_stop_ends_call() -> None:
    call = Call()
    call.begin()
    await call.run_for(0.3)
    call.transport.hang_up()
    report = await asyncio.wait_for(call.task, 1.0)
    assert report.end_reason == "socket closed"


async def test_media_payload_decoded_once_reaches_recogniser() -> None:
    stt = FakeSTT([])
    call = Call(stt=stt)
    call.begin()
    await call.run_for(0.1)
    audio = tone_ulaw(200)
    for frame in call.twilio.frames(audio):
        call.transport.push(frame)
    await call.run_for(0.5)
    assert stt.frames == 10
    assert call.session.report.frames_in == 10
    assert (
        base64.b64encode(audio[:160]).decode() == call.twilio.frames(audio)[0]["media"]["payload"]
    )
    await call.end()


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ("{not json", "protocol error"),
        (b"\x00binary", "protocol error"),
        (json.dumps({"event": "start"}), "protocol error"),
    ],
)
async def test_bad_input_logs_one_clear_line_without_traceback(caplog, message, fragment) -> None:
    caplog.set_level(logging.INFO, logger="dialgraph")
    call = Call()
    call.begin()
    await call.run_for(0.2)
    call.transport.push(message)
    await asyncio.wait_for(call.task, 5)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    assert fragment in problems[0].getMessage()
    assert call.twilio.call_sid in problems[0].getMessage()
    assert problems[0].exc_info is None


async def test_silence_reprompts_once_then_ends_the_call_politely() -> None:
    call = Call(settings=Settings(playout_lead_ms=100, start_timeout=5.0, reprompt_after_ms=7000))
    call.begin()
    await call.run_for(3.0)
    call.echo_marks()  # the greeting was heard
    await call.run_for(6.5)
    assert ("silence", "") not in call.agent.inputs, "not before reprompt_after_ms"
    await call.run_for(1.0)
    assert call.agent.inputs[-1] == ("silence", "")
    await call.run_for(2.0)
    call.echo_marks()  # the reprompt was heard; the caller still says nothing
    await call.run_for(8.0)
    assert any("end the call now" in text for text in call.tts.spoken)
    call.echo_marks()  # the goodbye was heard
    report = await asyncio.wait_for(call.task, 5)
    assert report.end_reason == "agent hangup"


async def test_a_call_over_its_turn_budget_ends_politely() -> None:
    from telephony.admission.limits import LIMIT_GOODBYE, CallLimits, MemoryLimitStore

    call = Call()
    call.services.limit_store = MemoryLimitStore(CallLimits(max_turns=2))
    call.begin()
    await call.run_for(3.0)
    call.echo_marks()
    call.transport.push(call.twilio.dtmf("1"))  # turn 2: answered
    await call.run_for(2.0)
    call.echo_marks()
    call.transport.push(call.twilio.dtmf("2"))  # turn 3: over the budget
    await call.run_for(8.0)
    assert ("dtmf", "2") not in call.agent.inputs
    assert LIMIT_GOODBYE["max_turns"] in call.tts.spoken
    call.echo_marks()
    report = await asyncio.wait_for(call.task, 5)
    assert report.end_reason == "agent hangup"


async def test_the_token_budget_counts_what_the_model_reports() -> None:
    """Replies of a few words, but 5,100 tokens a turn by the model's own count
    (the prompt resends the conversation): the third turn is over 8,000."""
    from telephony.admission.limits import LIMIT_GOODBYE, CallLimits, MemoryLimitStore

    class CountedAgent(ScriptedAgent):
        turn_usage = (5000, 100)

    call = Call(agent=CountedAgent)
    call.services.limit_store = MemoryLimitStore(CallLimits(max_llm_tokens=8000))
    call.begin()
    await call.run_for(3.0)
    call.echo_marks()
    call.transport.push(call.twilio.dtmf("1"))  # turn 2: 5,100 so far, answered
    await call.run_for(2.0)
    call.echo_marks()
    call.transport.push(call.twilio.dtmf("2"))  # turn 3: 10,200 > 8,000
    await call.run_for(8.0)
    assert ("dtmf", "2") not in call.agent.inputs
    assert LIMIT_GOODBYE["max_llm_tokens"] in call.tts.spoken
    call.echo_marks()
    report = await asyncio.wait_for(call.task, 5)
    assert report.end_reason == "agent hangup"


# -- keypad entries (telephony.call.keypad) -------------------------------------------

ACCOUNT_PROMPT = (
    "To find your booking, please key in your account number on the keypad, "
    "then press the hash key. You will find the number at the top of any letter we sent you."
)  # 1.6 s of fake speech: long enough to key over
ASK_DIGITS = {"kind": "digits", "max_digits": 0, "finish_on_key": "#", "timeout_s": 5.0}


class AskingAgent(ScriptedAgent):
    """Asks for an account number by keypad in its greeting, and for nothing after."""

    def __init__(self, ask: object = ASK_DIGITS, **kwargs) -> None:
        super().__init__(greeting=ACCOUNT_PROMPT, **kwargs)
        self.ask = ask
        self._expecting: object = None

    async def respond(self, text: str, *, source="speech"):
        self._expecting = self.ask if source == "start" else None
        async for token in super().respond(text, source=source):
            yield token

    def expecting(self):
        return self._expecting


async def press(call: Call, keys: str, gap: float = 0.3) -> None:
    for key in keys:
        call.transport.push(call.twilio.dtmf(key))
        await call.run_for(gap)


async def test_keys_over_the_prompt_reach_the_agent_as_one_turn(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="dialgraph")
    call = Call(agent=AskingAgent)
    call.begin()
    await call.run_for(0.5)  # the prompt is playing
    await press(call, "482913#")
    await call.run_for(0.5)
    assert call.agent.inputs == [("start", ""), ("dtmf", "482913")]
    # The first key cut the prompt once, like a barge-in; later keys did not.
    assert len(call.transport.of("clear")) == 1
    assert len(call.agent.heard) == 1 and ACCOUNT_PROMPT.startswith(call.agent.heard[0])
    assert call.session.report.interruptions == 1
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("dialgraph")]
    assert "keypad entry of 6 digits (finish_key)" in "\n".join(lines)
    assert not [line for line in lines if "4829" in line], "logs count keys, never show them"
    await call.end()


async def test_a_pause_after_the_last_key_ends_the_entry() -> None:
    call = Call(agent=AskingAgent)
    call.begin()
    await call.run_for(2.5)
    call.echo_marks()  # the prompt was heard
    await call.run_for(0.1)
    await press(call, "48", gap=0.0)
    await call.run_for(4.9)
    assert call.agent.inputs == [("start", "")], "not before 5 s without a key"
    await call.run_for(0.2)
    assert call.agent.inputs == [("start", ""), ("dtmf", "48")]
    assert not call.transport.of("clear"), "keys after the prompt cut nothing"
    await call.end()


async def test_no_key_after_the_prompt_leaves_single_keys_and_silence_handling() -> None:
    call = Call(
        agent=AskingAgent,
        settings=Settings(playout_lead_ms=100, start_timeout=5.0, reprompt_after_ms=7000),
    )
    call.begin()
    await call.run_for(2.5)
    call.echo_marks()
    await call.run_for(5.2)  # the wait for the first key is over
    await press(call, "2", gap=0.1)
    assert call.agent.inputs == [("start", ""), ("dtmf", "2")], "a single key, at once"
    call.echo_marks()
    await call.run_for(3.0)
    call.echo_marks()
    await call.run_for(7.5)
    assert call.agent.inputs[-1] == ("silence", ""), "silence is handled as usual"
    await call.end()


async def test_speech_instead_of_keys_cancels_the_entry() -> None:
    call = Call(agent=AskingAgent, stt=FakeSTT(["i do not have it"]))
    call.begin()
    await call.run_for(2.5)
    call.echo_marks()
    await press(call, "4")
    for frame in call.twilio.frames(tone_ulaw(400)) + call.twilio.frames(bytes([0xFF]) * 160 * 15):
        call.transport.push(frame)
    await call.run_for(1.0)
    assert call.agent.inputs == [("start", ""), ("speech", "i do not have it")]
    await call.run_for(2.0)
    call.echo_marks()
    await press(call, "5", gap=0.1)  # the speech reply asked for nothing: a single key
    await call.run_for(6.0)
    assert call.agent.inputs == [
        ("start", ""),
        ("speech", "i do not have it"),
        ("dtmf", "5"),
    ], "the cancelled 4 never arrives"
    await call.end()


async def test_keying_holds_a_reprompt_shorter_than_the_keypad_pause() -> None:
    call = Call(
        agent=lambda: AskingAgent(ask={**ASK_DIGITS, "timeout_s": 10.0}),
        settings=Settings(playout_lead_ms=100, start_timeout=5.0, reprompt_after_ms=3000),
    )
    call.begin()
    await call.run_for(2.5)
    call.echo_marks()
    await press(call, "7", gap=9.5)
    assert call.agent.inputs == [("start", "")], "no reprompt while the caller keys"
    await call.run_for(1.0)
    assert call.agent.inputs == [("start", ""), ("dtmf", "7")]
    await call.end()


@pytest.mark.parametrize(
    ("ask", "warning"),
    [
        ({"kind": "digits", "max_digits": "six", "timeout_s": -1}, "bad or unknown max_digits"),
        ({"kind": "digits", "finish_key": "*"}, "bad or unknown finish_key"),
    ],
)
async def test_a_bad_request_uses_defaults_and_warns_once(caplog, ask, warning) -> None:
    call = Call(agent=lambda: AskingAgent(ask=ask))
    call.begin()
    await call.run_for(0.5)
    await press(call, "12#")
    await call.run_for(0.5)
    assert call.agent.inputs == [("start", ""), ("dtmf", "12")]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warning in warnings[0]
    await call.end()


class BrokenExpectingAgent(ScriptedAgent):
    def expecting(self):
        raise RuntimeError("graph state unreadable")


@pytest.mark.parametrize("agent", [BrokenExpectingAgent, lambda: AskingAgent(ask=["digits"])])
async def test_a_broken_expecting_leaves_keys_single(caplog, agent) -> None:
    call = Call(agent=agent)
    call.begin()
    await call.run_for(3.0)
    call.echo_marks()
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1  # the greeting's
    await press(call, "1")
    assert ("dtmf", "1") in call.agent.inputs
    await call.end()


async def test_a_spoken_expectation_is_quiet_and_keys_stay_single(caplog) -> None:
    call = Call(agent=lambda: AskingAgent(ask={"kind": "yes_no", "hints": ["yes", "no"]}))
    call.begin()
    await call.run_for(3.0)
    call.echo_marks()
    await press(call, "1")
    assert ("dtmf", "1") in call.agent.inputs  # a key is still its own turn
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # every yes/no asked
    await call.end()
