"""Call control and outbound dialling through the real ``twilio`` SDK, against a
local fake of Twilio's REST API (``tests/twilio_fake.py``) on loopback.

Nothing here is mocked inside the SDK: it builds, signs (basic auth) and
sends real HTTP requests with its aiohttp client; only the origin is the fake.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from twilio.request_validator import RequestValidator

from telephony.admission.compliance import ComplianceGate
from telephony.admission.registry import CallRegistry
from telephony.call.agent import CallAction, CallControl
from telephony.call.services import CallServices
from telephony.call.session import CallSession
from telephony.outbound.dial import DialRefused, dial, place_outbound_call
from telephony.outbound.twilio_rest import TwilioCallControl
from telephony.settings import ConfigError, Settings
from telephony.speech.base import ProviderError
from telephony.web import create_app
from tests.fakes import (
    AgentFactoryFor,
    FakeSTT,
    FakeTTS,
    MemoryTransport,
    ScriptedAgent,
    TwilioScript,
    VirtualClock,
    test_tokens,
    tone_ulaw,
)
from tests.twilio_fake import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    INTERNAL_ERROR,
    TOO_MANY_REQUESTS,
    TWILIO_NUMBER,
    TwilioError,
)

FRONT_DESK = "+15550100200"
CALLER = "+15551230000"
CALLEE = "+13125550123"  # Chicago (312)
PUBLIC = "https://dialgraph.example.com"
WEEKDAY_NOON_CHICAGO = datetime(2025, 7, 1, 17, 0, tzinfo=UTC)  # 12:00 CDT
NIGHT_CHICAGO = datetime(2025, 7, 2, 3, 0, tzinfo=UTC)  # 22:00 CDT


@pytest.fixture
def dnc(tmp_path: Path) -> Path:
    path = tmp_path / "dnc.txt"
    path.write_text("# opted out\n+1 (415) 555-0199\n", encoding="utf-8")
    return path


def settings(**changes) -> Settings:
    return Settings(
        public_url=PUBLIC, twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN
    ).replace(**changes)


def dial_of(twiml: str) -> ET.Element:
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    (verb,) = list(root)
    assert verb.tag == "Dial"
    return verb


# -- transfer ------------------------------------------------------------------
async def test_transfer_dials_the_front_desk_showing_the_callers_number(fake, control) -> None:
    sid = fake.add_call(from_=CALLER)
    assert isinstance(control, CallControl)
    await control.transfer(sid, FRONT_DESK, caller_id=CALLER)
    (update,) = fake.updates_of(sid)
    assert update.status == 200
    assert update.user == ACCOUNT_SID
    assert set(update.form) == {"Twiml"}, "a transfer must not also hang up"
    twiml = update.field("Twiml")
    assert f'<Dial callerId="{CALLER}">{FRONT_DESK}</Dial>' in twiml
    dial_verb = dial_of(twiml)
    assert (dial_verb.get("callerId"), dial_verb.text) == (CALLER, FRONT_DESK)
    assert fake.calls[sid]["status"] == "in-progress"


@pytest.mark.parametrize("caller_id", ["", "anonymous", "client:alice"])
async def test_transfer_without_a_usable_caller_number_lets_twilio_choose(
    fake, control, caller_id
) -> None:
    sid = fake.add_call()
    await control.transfer(sid, FRONT_DESK, caller_id=caller_id)
    dial_verb = dial_of(fake.updates_of(sid)[0].field("Twiml"))
    assert dial_verb.get("callerId") is None
    assert dial_verb.text == FRONT_DESK


async def test_the_graphs_transfer_moves_the_live_call_after_the_announcement(
    fake, control
) -> None:
    """The whole path: agent asks -> caller hears it -> REST update -> stream ends."""
    sid = fake.add_call(from_=CALLER)
    clock, transport, tokens = VirtualClock(), MemoryTransport(), test_tokens()
    agents = AgentFactoryFor(
        lambda: ScriptedAgent(
            replies={"a person please": "Transferring you to the front desk."},
            action_on={"a person please": CallAction("transfer", FRONT_DESK, "caller asked")},
        )
    )
    services = CallServices(
        agent_factory=agents,
        registry=CallRegistry(),
        tokens=tokens,
        tts=FakeTTS(),
        stt=FakeSTT(["a person please"]),
        call_control=control,
        clock=clock,
    )
    session = CallSession(transport, services, Settings(playout_lead_ms=100, start_timeout=5.0))
    twilio = TwilioScript(call_sid=sid)
    transport.push(twilio.connected())
    transport.push(twilio.signed_start(tokens, caller=CALLER))
    task = asyncio.create_task(session.run())
    echoed = 0

    def echo_marks() -> None:
        nonlocal echoed
        names = [m["mark"]["name"] for m in transport.of("mark")]
        for name in names[echoed:]:
            transport.push(twilio.mark(name))
        echoed = len(names)

    await clock.advance(3.0)  # the greeting plays
    echo_marks()
    for frame in twilio.frames(tone_ulaw(300)) + twilio.frames(bytes([0xFF]) * 160 * 15):
        transport.push(frame)
    await clock.advance(3.0)  # the announcement is sent, not yet played out
    assert fake.updates_of(sid) == [], "not before the caller heard the announcement"
    echo_marks()
    report = await asyncio.wait_for(task, 5)
    (update,) = fake.updates_of(sid)
    assert dial_of(update.field("Twiml")).text == FRONT_DESK
    assert dial_of(update.field("Twiml")).get("callerId") == CALLER
    assert report.end_reason == "agent transfer"


# -- hang-up -------------------------------------------------------------------
async def test_hangup_completes_the_call(fake, control) -> None:
    sid = fake.add_call()
    await control.hangup(sid)
    (update,) = fake.updates_of(sid)
    assert update.form == {"Status": ["completed"]}
    assert fake.calls[sid]["status"] == "completed"


async def test_hanging_up_a_call_that_already_ended_is_not_an_error(fake, control, caplog) -> None:
    caplog.set_level(logging.INFO, logger="dialgraph")
    sid = fake.add_call()
    fake.forget(sid)  # the caller left: Twilio answers 20404
    await control.hangup(sid)
    assert [r.status for r in fake.updates_of(sid)] == [404]
    assert any("already ended" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_transfer_of_a_call_that_is_gone_fails_clearly(fake, control) -> None:
    sid = fake.add_call()
    fake.forget(sid)
    with pytest.raises(ProviderError, match=r"20404 \(HTTP 404\).*not live") as info:
        await control.transfer(sid, FRONT_DESK)
    assert not info.value.retryable
    ended = fake.add_call(status="completed")
    with pytest.raises(ProviderError, match=r"21220 \(HTTP 400\): Call is not in-progress"):
        await control.transfer(ended, FRONT_DESK)


async def test_transfer_target_must_be_a_phone_number(fake, control) -> None:
    sid = fake.add_call()
    with pytest.raises(ProviderError, match=r"E\.164"):
        await control.transfer(sid, "front desk")
    assert fake.requests == [], "nothing is sent for a bad target"


# -- Twilio's error answers ----------------------------------------------------
@pytest.mark.parametrize(
    ("failure", "times", "expected", "retryable"),
    [
        (None, 0, r"20003 \(HTTP 401\): Authenticate \(credentials refused", False),
        (TOO_MANY_REQUESTS, 2, r"20429 \(HTTP 429\): Too Many Requests", True),
        (INTERNAL_ERROR, 1, r"20500 \(HTTP 500\): Internal Server Error", True),
    ],
    ids=["401-bad-credentials", "429-twice", "500"],
)
async def test_twilio_errors_become_clear_provider_errors(
    fake, failure, times, expected, retryable
) -> None:
    token = AUTH_TOKEN if failure else "not-the-token"
    sid = fake.add_call()
    if failure:
        fake.fail_next(failure, times)
    async with TwilioCallControl(
        ACCOUNT_SID, token, base_url=fake.base_url, retry_delay=0.0
    ) as ctl:
        for operation in (ctl.hangup(sid), ctl.transfer(sid, FRONT_DESK)):
            with pytest.raises(ProviderError, match=expected) as info:
                await operation
            assert info.value.retryable is retryable
            assert info.value.provider == "twilio"
            if failure:
                fake.fail_next(failure, times)
    assert fake.calls[sid]["status"] == "in-progress", "nothing happened to the call"


async def test_one_rate_limit_answer_is_retried(fake, control) -> None:
    sid = fake.add_call()
    fake.fail_next(TOO_MANY_REQUESTS)
    await control.hangup(sid)
    assert [r.status for r in fake.updates_of(sid)] == [429, 200]
    assert fake.calls[sid]["status"] == "completed"


async def test_a_server_error_is_not_repeated(fake, control) -> None:
    """Twilio may have acted on a 5xx request: repeating a create could ring twice."""
    fake.fail_next(INTERNAL_ERROR)
    with pytest.raises(ProviderError, match="HTTP 500"):
        await control.place_call(CALLEE, TWILIO_NUMBER, f"{PUBLIC}/twilio/voice", f"{PUBLIC}/s")
    assert len(fake.requests) == 1


async def test_unreachable_and_silent_apis_fail_as_retryable(unused_tcp_port) -> None:
    async with TwilioCallControl(
        ACCOUNT_SID, AUTH_TOKEN, base_url=f"http://127.0.0.1:{unused_tcp_port}"
    ) as ctl:
        with pytest.raises(ProviderError, match="cannot reach Twilio") as info:
            await ctl.hangup("CA" + "1" * 32)
        assert info.value.retryable

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # accept the request, never answer
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with TwilioCallControl(
            ACCOUNT_SID, AUTH_TOKEN, base_url=f"http://127.0.0.1:{port}", timeout=0.2
        ) as ctl:
            with pytest.raises(ProviderError, match=r"no answer from Twilio in 0.2 s") as info:
                await ctl.hangup("CA" + "1" * 32)
            assert info.value.retryable
    finally:
        server.close()


async def test_credentials_never_reach_the_logs(fake, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sid = fake.add_call()
    async with TwilioCallControl(ACCOUNT_SID, AUTH_TOKEN, base_url=fake.base_url) as ctl:
        assert AUTH_TOKEN not in repr(ctl)
        await ctl.transfer(sid, FRONT_DESK, caller_id=CALLER)
        fake.fail_next(INTERNAL_ERROR)
        with pytest.raises(ProviderError) as info:
            await ctl.hangup(sid)
    basic = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    logged = "\n".join(r.getMessage() for r in caplog.records) + str(info.value)
    assert AUTH_TOKEN not in logged
    assert basic not in logged
    assert CALLER not in logged, "the caller's number is masked in our log lines"


def test_constructor_refuses_missing_credentials_and_bad_urls() -> None:
    with pytest.raises(ValueError, match="account SID and an auth token"):
        TwilioCallControl(ACCOUNT_SID, "")
    with pytest.raises(ValueError, match="base_url"):
        TwilioCallControl(ACCOUNT_SID, AUTH_TOKEN, base_url="127.0.0.1:8080")


# -- outbound calls ------------------------------------------------------------
async def test_dial_creates_the_call_on_the_same_voice_webhook(fake, control, dnc) -> None:
    gate = ComplianceGate(dnc, now=lambda: WEEKDAY_NOON_CHICAGO)
    sid = await dial(
        "+1 (312) 555-0123", settings(), control=control, gate=gate, from_=TWILIO_NUMBER
    )
    (create,) = fake.requests
    assert create.status == 201
    assert create.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    assert create.form == {
        "To": [CALLEE],
        "From": [TWILIO_NUMBER],
        "Url": [f"{PUBLIC}/twilio/voice"],
        "StatusCallback": [f"{PUBLIC}/twilio/status"],
        # DIALGRAPH_VOICEMAIL=hangup by default: synchronous detection, as soon as known
        "MachineDetection": ["Enable"],
        "AsyncAmd": ["false"],
        "MachineDetectionTimeout": ["30"],
    }
    assert fake.calls[sid]["direction"] == "outbound-api"
    assert fake.calls[sid]["status"] == "queued"


async def test_answered_outbound_call_streams_into_the_same_graph(fake, control, dnc) -> None:
    """Twilio, on answer, POSTs the Url we gave it; the app answers <Connect><Stream>."""
    gate = ComplianceGate(dnc, now=lambda: WEEKDAY_NOON_CHICAGO)
    sid = await dial(
        CALLEE,
        settings(),
        control=control,
        gate=gate,
        from_=TWILIO_NUMBER,
        machine_detection="Enable",
    )
    create = fake.requests[0]
    assert create.field("MachineDetection") == "Enable"
    webhook = {
        "CallSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": TWILIO_NUMBER,
        "To": CALLEE,
        "Direction": "outbound-api",
        "CallStatus": "in-progress",
        "AnsweredBy": "human",
        "ApiVersion": "2010-04-01",
    }
    url = create.field("Url")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, webhook)
    services = CallServices(
        agent_factory=AgentFactoryFor(), registry=CallRegistry(), tokens=test_tokens()
    )
    app = create_app(settings(), services=services)
    async with AsyncTestClient(app) as client:
        response = await client.post(
            url.removeprefix(PUBLIC), data=webhook, headers={"X-Twilio-Signature": signature}
        )
    assert response.status_code == 200
    stream = ET.fromstring(response.text).find("Connect/Stream")
    assert stream is not None
    assert stream.get("url") == "wss://dialgraph.example.com/twilio/media"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params["direction"] == "outbound"
    # The person on the line is the callee: memory and caller ID follow them.
    assert params["caller"] == CALLEE
    assert params["called"] == TWILIO_NUMBER


@pytest.mark.parametrize(
    ("number", "at", "reason"),
    [
        ("+14155550199", WEEKDAY_NOON_CHICAGO, "do-not-call list"),
        ("415.555.0199", WEEKDAY_NOON_CHICAGO, "do-not-call list"),
        (CALLEE, NIGHT_CHICAGO, "outside calling hours"),
        ("+8613800138000", WEEKDAY_NOON_CHICAGO, "no time zone is known"),
        ("12345", WEEKDAY_NOON_CHICAGO, "not a valid phone number"),
    ],
)
async def test_the_gate_refuses_before_anything_reaches_twilio(
    fake, control, dnc, number, at, reason
) -> None:
    gate = ComplianceGate(dnc, now=lambda: at)
    with pytest.raises(DialRefused, match=reason) as info:
        await dial(number, settings(), control=control, gate=gate, from_=TWILIO_NUMBER)
    assert not info.value.decision.allowed
    assert fake.requests == []


async def test_twilio_refusing_the_call_is_a_clear_error(fake, control, dnc) -> None:
    gate = ComplianceGate(dnc, now=lambda: WEEKDAY_NOON_CHICAGO)
    with pytest.raises(ProviderError, match=r"21210 \(HTTP 400\): The source phone number") as info:
        await dial(CALLEE, settings(), control=control, gate=gate, from_="+15550100999")
    assert not info.value.retryable
    with pytest.raises(
        ProviderError, match=r"21211 \(HTTP 400\): The 'To' number \+\.\.\.01 is not"
    ):
        await control.place_call("+131255501", TWILIO_NUMBER, f"{PUBLIC}/twilio/voice", "")


@pytest.mark.parametrize(
    ("changes", "from_", "match"),
    [
        ({"public_url": ""}, TWILIO_NUMBER, "DIALGRAPH_PUBLIC_URL is not set"),
        ({"twilio_auth_token": ""}, TWILIO_NUMBER, "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
        ({"twilio_account_sid": ""}, TWILIO_NUMBER, "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
        ({}, "", "DIALGRAPH_OUTBOUND_FROM"),
    ],
)
async def test_missing_configuration_is_named(fake, control, dnc, changes, from_, match) -> None:
    gate = ComplianceGate(dnc, now=lambda: WEEKDAY_NOON_CHICAGO)
    with pytest.raises(ConfigError, match=match):
        await dial(CALLEE, settings(**changes), control=control, gate=gate, from_=from_)
    assert fake.requests == []


async def test_the_cli_entry_builds_its_own_client_and_gate(fake, dnc) -> None:
    sid = await place_outbound_call(
        CALLEE,
        settings(),
        from_=TWILIO_NUMBER,
        dnc_path=dnc,
        calling_hours=(8, 21),
        api_url=fake.base_url,
        now=lambda: WEEKDAY_NOON_CHICAGO,
    )
    assert sid in fake.calls
    with pytest.raises(DialRefused, match="does not exist"):
        await place_outbound_call(
            CALLEE,
            settings(),
            from_=TWILIO_NUMBER,
            dnc_path=dnc.with_name("missing.txt"),
            api_url=fake.base_url,
            now=lambda: WEEKDAY_NOON_CHICAGO,
        )
    assert len(fake.requests) == 1


async def test_service_unavailable_is_retryable(fake, control) -> None:
    fake.fail_next(TwilioError(503, 20503, "Service Unavailable"))
    with pytest.raises(ProviderError, match=r"20503 \(HTTP 503\)") as info:
        await control.hangup(fake.add_call())
    assert info.value.retryable
