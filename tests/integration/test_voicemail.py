"""Answering machines on outbound calls: what ``dial`` asks Twilio for, and what
the voice webhook does with each ``AnsweredBy``.

``dial`` runs the real ``twilio`` SDK against the loopback fake
(``tests/twilio_fake.py``), which records the detection fields and, on
:meth:`FakeTwilio.answer`, produces the form Twilio POSTs to the call's
``Url``. That form goes, signed with ``RequestValidator``, to the real app.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient, TestClient
from twilio.request_validator import RequestValidator

from graphs.runtime.phone import PhoneSettings
from telephony.admission.compliance import ComplianceGate
from telephony.admission.limits import CallLimits, MemoryLimitStore
from telephony.admission.registry import CallRegistry
from telephony.call.services import CallServices
from telephony.outbound.dial import (
    ANSWERED_BY,
    CONNECT,
    HANG_UP,
    LEAVE_MESSAGE,
    answer_action,
    dial,
    machine_detection_for,
    place_outbound_call,
)
from telephony.settings import VOICEMAIL_ACTIONS, ConfigError, Settings
from telephony.web import create_app
from tests.fakes import AgentFactoryFor, test_tokens
from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TWILIO_NUMBER

CALLEE = "+13125550123"  # Chicago (312)
PUBLIC = "https://dialgraph.example.com"
WEEKDAY_NOON_CHICAGO = datetime(2025, 7, 1, 17, 0, tzinfo=UTC)  # 12:00 CDT
MESSAGE = "This is Riverside Family Clinic. Please call us back. Goodbye."  # the setting


@pytest.fixture
def gate(tmp_path: Path) -> ComplianceGate:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("", encoding="utf-8")
    return ComplianceGate(dnc, now=lambda: WEEKDAY_NOON_CHICAGO)


def settings(**changes) -> Settings:
    return Settings(
        public_url=PUBLIC,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        voicemail_message=MESSAGE,
    ).replace(**changes)


def make_services() -> CallServices:
    return CallServices(
        agent_factory=AgentFactoryFor(),
        registry=CallRegistry(),
        tokens=test_tokens(),
        limit_store=MemoryLimitStore(CallLimits()),
    )


def verbs(twiml: str) -> list[ET.Element]:
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    return list(root)


# -- what dial asks Twilio for -------------------------------------------------------


@pytest.mark.parametrize(
    ("voicemail", "seconds", "sent"),
    [
        (
            "hangup",
            30,
            {"MachineDetection": "Enable", "AsyncAmd": "false", "MachineDetectionTimeout": "30"},
        ),
        (
            "message",
            45,
            {
                "MachineDetection": "DetectMessageEnd",
                "AsyncAmd": "false",
                "MachineDetectionTimeout": "45",
            },
        ),
        ("off", 30, {}),
    ],
)
async def test_dial_asks_for_synchronous_detection_matching_the_setting(
    fake, control, gate, voicemail, seconds, sent
) -> None:
    cfg = settings(voicemail=voicemail, voicemail_timeout=seconds)
    sid = await dial(CALLEE, cfg, control=control, gate=gate, from_=TWILIO_NUMBER)
    assert fake.machine_detection[sid] == sent
    (create,) = fake.requests
    assert create.status == 201
    assert create.field("MachineDetection") == sent.get("MachineDetection")


async def test_an_explicit_mode_wins_over_the_setting(fake, control, gate) -> None:
    sid = await dial(
        CALLEE,
        settings(voicemail="off"),
        control=control,
        gate=gate,
        from_=TWILIO_NUMBER,
        machine_detection="DetectMessageEnd",
    )
    assert fake.machine_detection[sid]["MachineDetection"] == "DetectMessageEnd"


@pytest.mark.parametrize(
    ("changes", "detection", "match"),
    [
        ({"voicemail_timeout": 0}, None, "DIALGRAPH_VOICEMAIL_TIMEOUT"),
        ({}, "Hangup", "machine detection must be one of"),
    ],
)
async def test_bad_detection_settings_send_nothing(
    fake, control, gate, changes, detection, match
) -> None:
    with pytest.raises(ConfigError, match=match):
        await dial(
            CALLEE,
            settings(**changes),
            control=control,
            gate=gate,
            from_=TWILIO_NUMBER,
            machine_detection=detection,
        )
    assert fake.requests == []


async def test_the_cli_entry_follows_the_setting(fake, tmp_path: Path) -> None:
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("", encoding="utf-8")
    sid = await place_outbound_call(
        CALLEE,
        settings(voicemail="message"),
        from_=TWILIO_NUMBER,
        dnc_path=dnc,
        api_url=fake.base_url,
        now=lambda: WEEKDAY_NOON_CHICAGO,
    )
    assert fake.machine_detection[sid]["MachineDetection"] == "DetectMessageEnd"


async def test_the_fake_refuses_a_mode_twilio_does_not_know(fake, control) -> None:
    from telephony.speech.base import ProviderError

    with pytest.raises(ProviderError, match="21234"):
        await control.place_call(
            CALLEE, TWILIO_NUMBER, f"{PUBLIC}/twilio/voice", "", machine_detection="Hangup"
        )


# -- what the webhook does with AnsweredBy -------------------------------------------


@pytest.mark.parametrize(
    ("voicemail", "detection", "answered_by", "expected"),
    [
        ("hangup", None, "human", CONNECT),
        ("hangup", None, "unknown", CONNECT),
        ("hangup", None, "machine_start", HANG_UP),
        ("hangup", None, "fax", HANG_UP),
        ("message", None, "human", CONNECT),
        ("message", None, "unknown", CONNECT),
        ("message", None, "machine_end_beep", LEAVE_MESSAGE),
        ("message", None, "machine_end_silence", LEAVE_MESSAGE),
        ("message", None, "machine_end_other", LEAVE_MESSAGE),
        ("message", None, "fax", HANG_UP),
        # The server's mode decides, whatever one call asked Twilio for:
        ("hangup", "DetectMessageEnd", "machine_end_beep", HANG_UP),
        ("message", "Enable", "machine_start", HANG_UP),  # greeting still playing
    ],
)
async def test_answered_outbound_call_is_streamed_hung_up_or_left_a_message(
    fake, control, gate, caplog, voicemail, detection, answered_by, expected
) -> None:
    cfg = settings(voicemail=voicemail)
    sid = await dial(
        CALLEE,
        cfg,
        control=control,
        gate=gate,
        from_=TWILIO_NUMBER,
        machine_detection=detection,
    )
    form = fake.answer(sid, answered_by)
    assert form["AnsweredBy"] == answered_by
    url = fake.url_of(sid)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    services = make_services()
    caplog.set_level(logging.INFO, logger="dialgraph")
    async with AsyncTestClient(create_app(cfg, services=services)) as client:
        response = await client.post(
            url.removeprefix(PUBLIC), data=form, headers={"X-Twilio-Signature": signature}
        )
    assert response.status_code == 200
    tags = [verb.tag for verb in verbs(response.text)]
    if expected == CONNECT:
        assert tags == ["Connect"]
        assert services.limit_store.live_calls() == 1  # the stream holds its slot
    else:
        assert tags == (["Say", "Hangup"] if expected == LEAVE_MESSAGE else ["Hangup"])
        assert services.limit_store.live_calls() == 0  # nothing streams: slot given back
    if expected == LEAVE_MESSAGE:
        assert verbs(response.text)[0].text == MESSAGE
    metric = (
        f'dialgraph_outbound_answered_total{{action="{expected}",answered_by="{answered_by}"}} 1'
    )
    assert metric in services.metrics.render().splitlines()
    lines = [r.getMessage() for r in caplog.records if r.name == "dialgraph.web"]
    (decision,) = [line for line in lines if sid in line]
    assert f"answered by {answered_by}" in decision
    assert CALLEE not in caplog.text and TWILIO_NUMBER not in caplog.text


async def test_without_detection_every_answer_is_streamed(fake, control, gate) -> None:
    cfg = settings(voicemail="off")
    sid = await dial(CALLEE, cfg, control=control, gate=gate, from_=TWILIO_NUMBER)
    form = fake.answer(sid, "machine_start")  # Twilio sends no AnsweredBy without detection
    assert "AnsweredBy" not in form
    services = make_services()
    with TestClient(create_app(cfg.replace(twilio_auth_token=""), services=services)) as client:
        response = client.post("/twilio/voice", data=form)
        # And with detection off, even a stray AnsweredBy is not acted on.
        stray = client.post(
            "/twilio/voice",
            data={**form, "CallSid": "CA" + "e" * 32, "AnsweredBy": "machine_start"},
        )
    assert [v.tag for v in verbs(response.text)] == ["Connect"]
    assert [v.tag for v in verbs(stray.text)] == ["Connect"]


def webhook(**changes: str) -> dict[str, str]:
    return {
        "CallSid": "CA" + "5" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": TWILIO_NUMBER,
        "To": CALLEE,
        "Direction": "outbound-api",
        "CallStatus": "in-progress",
        "ApiVersion": "2010-04-01",
        **changes,
    }


@pytest.mark.parametrize(
    ("form", "tags", "label"),
    [
        # AnsweredBy means nothing on an inbound call: it is streamed.
        (
            webhook(Direction="inbound", From=CALLEE, To=TWILIO_NUMBER, AnsweredBy="fax"),
            ["Connect"],
            None,
        ),
        # A value Twilio may add later is counted as "other"; a machine_* one is a machine.
        (webhook(AnsweredBy="machine_end_voice"), ["Say", "Hangup"], "other"),
        (webhook(AnsweredBy="robot"), ["Connect"], "other"),
        # Malformed: ignored, never logged or used as a label.
        (webhook(AnsweredBy="fax\nforged log line"), ["Connect"], None),
    ],
)
def test_odd_answered_by_values_are_handled_safely(form, tags, label, caplog) -> None:
    services = make_services()
    caplog.set_level(logging.INFO, logger="dialgraph")
    with TestClient(create_app(Settings(voicemail="message"), services=services)) as client:
        response = client.post("/twilio/voice", data=form)
    assert [v.tag for v in verbs(response.text)] == tags
    rendered = services.metrics.render()
    if label is None:
        assert "dialgraph_outbound_answered_total" not in rendered
    else:
        assert f'answered_by="{label}"' in rendered
    assert "forged" not in caplog.text


def test_a_machine_over_the_limits_still_gets_the_voicemail_treatment() -> None:
    services = make_services()
    services.limit_store = MemoryLimitStore(CallLimits(concurrent_total=1))
    cfg = Settings(voicemail="message", voicemail_message=MESSAGE)
    with TestClient(create_app(cfg, services=services)) as client:
        person = client.post("/twilio/voice", data=webhook(AnsweredBy="human"))
        machine = client.post(
            "/twilio/voice",
            data=webhook(CallSid="CA" + "6" * 32, AnsweredBy="machine_end_beep"),
        )
    assert [v.tag for v in verbs(person.text)] == ["Connect"]
    # No stream, so no capacity needed: the message, not the "lines are busy" apology.
    (say, _) = verbs(machine.text)
    assert say.text == MESSAGE
    assert "dialgraph_streams_refused_total" not in services.metrics.render()
    assert services.limit_store.live_calls() == 1  # only the person's call


def test_message_mode_without_words_leaves_the_flows_own() -> None:
    services = make_services()
    cfg = Settings(voicemail="message", voicemail_message="")
    phone = PhoneSettings(voicemail_message="Acme here. Please call us back.")
    with TestClient(create_app(cfg, phone=phone, services=services)) as client:
        response = client.post("/twilio/voice", data=webhook(AnsweredBy="machine_end_beep"))
    (say, hangup) = verbs(response.text)
    assert (say.tag, say.text, hangup.tag) == ("Say", "Acme here. Please call us back.", "Hangup")


# -- the decision table ----------------------------------------------------------------


def test_every_answer_in_every_mode() -> None:
    assert [machine_detection_for(mode) for mode in VOICEMAIL_ACTIONS] == [
        "Enable",
        "DetectMessageEnd",
        None,
    ]
    table = {
        mode: {answered: answer_action(answered, mode) for answered in ("", *ANSWERED_BY)}
        for mode in VOICEMAIL_ACTIONS
    }
    assert table["off"] == dict.fromkeys(("", *ANSWERED_BY), CONNECT)
    machine = {a for a in ANSWERED_BY if a.startswith("machine")}
    for mode in ("hangup", "message"):
        for answered, action in table[mode].items():
            if answered in {"", "human", "unknown"}:
                assert action == CONNECT, (mode, answered)
            elif answered == "fax" or mode == "hangup" or answered == "machine_start":
                assert action == HANG_UP, (mode, answered)
            else:
                assert answered in machine and action == LEAVE_MESSAGE, (mode, answered)
