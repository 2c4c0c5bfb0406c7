"""Keypad entries over a real call: uvicorn + the Litestar app on loopback, and
the softphone keying as Twilio would send it (dtmf events, real time).

The agent is a small test double defined here: its greeting asks for an
account number and, through the optional ``expecting()``, tells the session
to collect keys like Twilio's ``<Gather>``. The recogniser and synthesiser
are the fakes of tests/fakes.py (a tone burst is an utterance; 10 ms of tone
per character spoken). Everything runs in real time because the softphone
does; the assertions are on what reached the agent, never on the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import wave
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from telephony.admission.registry import CallRegistry
from telephony.call.agent import CallAction, InputSource
from telephony.call.services import CallServices
from telephony.settings import Settings
from telephony.softphone import CallResult, parse_script, place_call
from telephony.web import create_app
from telephony.wire.codec import ulaw_to_pcm
from tests.fakes import AgentFactoryFor, FakeSTT, FakeTTS, test_tokens, tone_ulaw

AUTH_TOKEN = "keypad-test-token"
ACCOUNT_PROMPT = (
    "Welcome back to the clinic. To find your booking, please key in your account number "
    "on your telephone keypad, then press the hash key. You will find your account number "
    "at the top of any letter we have sent you."
)  # 2.1 s of fake speech: the caller keys over it in the first test
MENU = "Press one for opening hours, or two for directions."
ASK_DIGITS = {"kind": "digits", "max_digits": 0, "finish_on_key": "#", "timeout_s": 5.0}
SPOKEN = "i do not know my account number"


class AccountAgent:
    """The dialogue under test: the ``Agent`` protocol plus the optional ``expecting``.

    Its greeting asks for an account number by keypad (or, with
    ``ask_digits=False``, reads a single-key menu); later replies ask for
    nothing. Every turn the session delivers is recorded in ``inputs``.
    """

    def __init__(self, *, ask_digits: bool = True) -> None:
        self.ask_digits = ask_digits
        self.inputs: list[tuple[str, str]] = []
        self.heard: list[str] = []
        self.cancelled = 0
        self.closed = False
        self._expecting: Mapping[str, Any] | None = None

    async def respond(self, text: str, *, source: InputSource = "speech") -> AsyncIterator[str]:
        self.inputs.append((source, text))
        if source == "start":
            reply = ACCOUNT_PROMPT if self.ask_digits else MENU
            self._expecting = ASK_DIGITS if self.ask_digits else None
        else:
            reply = "Thank you, one moment while I look that up."
            self._expecting = None
        for word in reply.split(" "):
            yield word + " "

    def expecting(self) -> Mapping[str, Any] | None:
        return self._expecting

    async def cancel(self) -> None:
        self.cancelled += 1

    async def record_heard(self, text: str) -> None:
        self.heard.append(text)

    def pending_action(self) -> CallAction | None:
        return None

    async def aclose(self) -> None:
        self.closed = True


@contextlib.asynccontextmanager
async def serve(services: CallServices) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(twilio_auth_token=AUTH_TOKEN, public_url=base, playout_lead_ms=120)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, services=services),
            log_level="warning",
            ws="websockets-sansio",
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "server failed to start"
        await asyncio.sleep(0.01)
    try:
        yield base
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def call(
    script: str, tmp_path: Path, *, ask_digits: bool = True
) -> tuple[CallResult, AccountAgent]:
    """Place one call running ``script``; return the caller's result and the agent."""
    pcm = ulaw_to_pcm(tone_ulaw(700, freq=300.0, level=0.4))  # the caller's words
    with wave.open(str(tmp_path / "speech.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(pcm.tobytes())
    factory = AgentFactoryFor(lambda: AccountAgent(ask_digits=ask_digits))
    services = CallServices(
        agent_factory=factory,
        registry=CallRegistry(),
        tokens=test_tokens(),
        tts=FakeTTS(),
        stt=FakeSTT([SPOKEN]),
    )
    async with serve(services) as base:
        result = await asyncio.wait_for(
            place_call(base, parse_script(script, base_dir=tmp_path), auth_token=AUTH_TOKEN), 30
        )
    assert result.outcome == "completed", result.summary()
    agent = factory.agents[result.call_sid]
    assert agent.closed
    return result, agent  # type: ignore[return-value]


def app_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the app logged (the softphone is the caller: its own lines are left out)."""
    return [r.getMessage() for r in caplog.records if not r.name.startswith("telephony.softphone")]


async def test_an_entry_keyed_over_the_prompt_is_one_turn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dialgraph")
    script = """
    [[step]]
    pause_ms = 600               # the prompt is playing
    [[step]]
    dtmf = "482913#"
    dtmf_gap_ms = 300
    [[step]]
    wait_for_agent = true
    quiet_ms = 500
    """
    result, agent = await call(script, tmp_path)

    assert agent.inputs == [("start", ""), ("dtmf", "482913")]
    assert result.dtmf_sent == 7 and not result.warnings, result.summary()
    # The first key stopped the prompt, once, like a barge-in: Twilio's buffer
    # was cleared and the agent learned how much of the prompt was heard.
    assert result.clears_received == 1
    assert len(agent.heard) == 1 and ACCOUNT_PROMPT.startswith(agent.heard[0])
    assert 0 < len(agent.heard[0]) < len(ACCOUNT_PROMPT)
    # Logs count the keys; the number itself (maybe a card) is never written.
    lines = app_log(caplog)
    assert any("keypad entry of 6 digits" in line for line in lines), lines
    assert not [line for line in lines if "4829" in line or "2913" in line]


async def test_a_pause_after_the_keys_ends_the_entry(tmp_path: Path) -> None:
    script = """
    [[step]]
    wait_for_agent = true        # the whole prompt is heard first
    quiet_ms = 500
    [[step]]
    dtmf = "4829"                # no finish key ...
    dtmf_gap_ms = 300
    [[step]]
    pause_ms = 5000              # ... a 5 s pause ends the entry
    [[step]]
    wait_for_agent = true
    quiet_ms = 500
    """
    result, agent = await call(script, tmp_path)

    assert agent.inputs == [("start", ""), ("dtmf", "4829")]
    assert agent.heard == [] and result.clears_received == 0  # nothing was cut
    assert not result.warnings, result.summary()


async def test_speaking_instead_of_keying_cancels_the_entry(tmp_path: Path) -> None:
    script = """
    [[step]]
    wait_for_agent = true
    quiet_ms = 500
    [[step]]
    dtmf = "48"                  # starts keying, then says it instead
    dtmf_gap_ms = 300
    [[step]]
    play = "speech.wav"
    [[step]]
    wait_for_agent = true
    quiet_ms = 500
    [[step]]
    dtmf = "5"                   # the entry was cancelled: a key is a turn again
    [[step]]
    wait_for_agent = true
    quiet_ms = 500
    timeout_ms = 3000            # well before a 5 s keypad pause could end it
    """
    result, agent = await call(script, tmp_path)

    assert agent.inputs == [("start", ""), ("speech", SPOKEN), ("dtmf", "5")]
    assert not result.warnings, result.summary()


async def test_without_a_request_a_key_is_its_own_turn(tmp_path: Path) -> None:
    script = """
    [[step]]
    wait_for_agent = true
    quiet_ms = 500
    [[step]]
    dtmf = "2"
    [[step]]
    wait_for_agent = true
    quiet_ms = 500
    timeout_ms = 3000            # answered at once, not after a keypad pause
    """
    result, agent = await call(script, tmp_path, ask_digits=False)

    assert agent.inputs == [("start", ""), ("dtmf", "2")]
    assert not result.warnings, result.summary()
