"""The web layer over Litestar's test client: TwiML, signatures, the media handshake."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from litestar import Litestar
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient
from twilio.request_validator import RequestValidator

import telephony.web.media as web_media
from graphs.runtime.loader import Flow
from graphs.runtime.phone import PhoneSettings, Redaction
from telephony.admission.registry import CallRegistry
from telephony.call.services import CallServices
from telephony.call.transport import TransportClosed
from telephony.settings import ConfigError, Settings
from telephony.speech.base import CallInfo
from telephony.web import create_app
from telephony.wire.calltoken import CallTokenError
from tests.fakes import AgentFactoryFor, FakeTTS, TwilioScript, test_tokens

pytestmark = pytest.mark.filterwarnings("error::litestar.exceptions.LitestarDeprecationWarning")

AUTH_TOKEN = "twilio-auth-token-for-tests"
CALL_SID = "CA" + "1" * 32
CALLER = "+15551230000"
CALLED = "+15550001111"
LOCAL = "http://testserver.local"  # the test client's base URL
PUBLIC = "https://abc.example.com"
WEBHOOK = {
    "CallSid": CALL_SID,
    "AccountSid": "AC" + "0" * 32,
    "From": CALLER,
    "To": CALLED,
    "Direction": "inbound",
    "CallStatus": "ringing",
    "ApiVersion": "2010-04-01",
}
WS_TIMEOUT = 5.0  # seconds; only reached when something is broken


def make_services() -> CallServices:
    return CallServices(
        agent_factory=AgentFactoryFor(),
        registry=CallRegistry(),
        tokens=test_tokens(),
        tts=FakeTTS(),
    )


def sign(url: str, params: dict[str, str] | None = None, token: str = AUTH_TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params or {})}


@pytest.fixture
def services() -> CallServices:
    return make_services()


def client_for(settings: Settings, services: CallServices, **kwargs) -> TestClient[Litestar]:
    return TestClient(create_app(settings, services=services), **kwargs)


@pytest.fixture
def signed_client(services: CallServices) -> Iterator[TestClient[Litestar]]:
    with client_for(Settings(twilio_auth_token=AUTH_TOKEN), services) as client:
        yield client


def parse_stream(twiml: str) -> tuple[str, dict[str, str]]:
    """The Stream URL and its parameters, checking the TwiML's shape on the way."""
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    (connect,) = list(root)
    assert connect.tag == "Connect"
    (stream,) = list(connect)
    assert stream.tag == "Stream"
    params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
    return stream.attrib["url"], params


# -- voice webhook: TwiML ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("public_url", "stream_url"),
    [
        ("https://abc.example.com", "wss://abc.example.com/twilio/media"),
        ("http://10.0.0.5:8080", "ws://10.0.0.5:8080/twilio/media"),
        ("https://abc.example.com/dialgraph", "wss://abc.example.com/dialgraph/twilio/media"),
        ("", "ws://testserver.local/twilio/media"),
    ],
)
def test_voice_answers_connect_stream_with_call_parameters(
    services: CallServices, public_url: str, stream_url: str
) -> None:
    with client_for(Settings(public_url=public_url), services) as client:
        response = client.post("/twilio/voice", data=WEBHOOK)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    url, params = parse_stream(response.text)
    assert url == stream_url
    assert params.keys() == {"caller", "called", "direction", "token"}
    assert (params["caller"], params["called"], params["direction"]) == (CALLER, CALLED, "inbound")
    services.tokens.check(params["token"], CALL_SID, params)  # accepted for this call ...
    with pytest.raises(CallTokenError):
        services.tokens.check(params["token"], "CA" + "9" * 32, params)  # ... and no other
    with pytest.raises(CallTokenError):  # ... nor with another caller
        services.tokens.check(params["token"], CALL_SID, {**params, "caller": "+15557650002"})


def test_stream_url_follows_the_request_scheme_without_public_url(services: CallServices) -> None:
    with client_for(Settings(), services, base_url="https://dialgraph.local") as client:
        response = client.post("/twilio/voice", data=WEBHOOK)
    assert parse_stream(response.text)[0] == "wss://dialgraph.local/twilio/media"


def test_outbound_directions_are_normalised(services: CallServices) -> None:
    with client_for(Settings(), services) as client:
        response = client.post("/twilio/voice", data={**WEBHOOK, "Direction": "outbound-api"})
    assert parse_stream(response.text)[1]["direction"] == "outbound"


@pytest.mark.parametrize(
    "withheld",
    ["anonymous", "Anonymous", "+266696687", "Restricted", "Unavailable", "", "sip:a@b.example"],
)
def test_a_withheld_caller_id_reaches_the_call_as_unknown(withheld: str) -> None:
    """No withheld value is passed on as a number: every such caller is unknown, not one."""
    seen: list[CallInfo] = []

    class Recording(AgentFactoryFor):
        async def __call__(self, call: CallInfo):  # type: ignore[override]
            seen.append(call)
            return await super().__call__(call)

    services = make_services()
    services.agent_factory = Recording()
    script = TwilioScript(call_sid=CALL_SID)
    with client_for(Settings(), services) as client:
        response = client.post("/twilio/voice", data={**WEBHOOK, "From": withheld})
        params = parse_stream(response.text)[1]
        assert params.keys() == {"called", "direction", "token"}  # no caller: unknown
        with client.websocket_connect("/twilio/media") as ws:
            ws.send_json(script.start(caller="", **params))  # an empty caller counts as absent
            assert ws.receive_json(timeout=WS_TIMEOUT)["event"] == "media"
            ws.send_json(script.stop())
            assert receive_until_close(ws)[1].code == 1000
    assert [call.caller for call in seen] == [""]


def test_the_caller_number_is_normalised_to_e164(services: CallServices) -> None:
    with client_for(Settings(), services) as client:
        response = client.post("/twilio/voice", data={**WEBHOOK, "From": " +1 (415) 555-0100 "})
    assert parse_stream(response.text)[1]["caller"] == "+14155550100"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({k: v for k, v in WEBHOOK.items() if k != "CallSid"}, "missing CallSid"),
        ({**WEBHOOK, "CallSid": "CA1\nforged log line"}, "malformed CallSid"),
    ],
)
def test_voice_without_usable_call_sid_is_400(
    signed_client: TestClient[Litestar], form: dict[str, str], message: str
) -> None:
    url = f"{LOCAL}/twilio/voice"
    response = signed_client.post("/twilio/voice", data=form, headers=sign(url, form))
    assert response.status_code == 400
    assert message in response.text


def test_oversized_webhook_is_refused(services: CallServices) -> None:
    with client_for(Settings(), services) as client:
        response = client.post("/twilio/voice", data={**WEBHOOK, "Junk": "x" * 100_000})
    assert response.status_code == 413


# -- voice webhook: signatures ----------------------------------------------------------


def test_signed_webhook_is_answered(signed_client: TestClient[Litestar]) -> None:
    headers = sign(f"{LOCAL}/twilio/voice", WEBHOOK)
    response = signed_client.post("/twilio/voice", data=WEBHOOK, headers=headers)
    assert response.status_code == 200
    assert parse_stream(response.text)[1]["caller"] == CALLER


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing signature"),
        (sign(f"{LOCAL}/twilio/voice", WEBHOOK, token="not-the-token"), "invalid signature"),
        # signed for other form values (the caller number was tampered with)
        (sign(f"{LOCAL}/twilio/voice", {**WEBHOOK, "From": "+15559999999"}), "invalid signature"),
        (
            {
                **sign(f"{LOCAL}/twilio/voice", WEBHOOK),
                "X-Twilio-Webhooks-Signature-Settings": "key=KS1,algorithm=HMAC_SHA256",
            },
            "unverifiable signature",
        ),
    ],
)
def test_unsigned_or_forged_webhook_is_403_with_one_warning(
    signed_client: TestClient[Litestar],
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    why: str,
) -> None:
    with caplog.at_level(logging.INFO):
        response = signed_client.post("/twilio/voice", data=WEBHOOK, headers=headers)

    assert response.status_code == 403
    assert why in response.text
    assert "<Response" not in response.text
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert why in warnings[0].getMessage()
    assert warnings[0].exc_info is None
    logged = caplog.text
    assert AUTH_TOKEN not in logged and CALLER not in logged and CALLED not in logged


def test_without_auth_token_unsigned_webhooks_are_accepted(services: CallServices) -> None:
    with client_for(Settings(), services) as client:
        response = client.post("/twilio/voice", data=WEBHOOK)
    assert response.status_code == 200


def test_signature_is_checked_against_the_public_url(services: CallServices) -> None:
    settings = Settings(twilio_auth_token=AUTH_TOKEN, public_url=PUBLIC)
    with client_for(settings, services) as client:
        as_twilio_saw_it = client.post(
            "/twilio/voice", data=WEBHOOK, headers=sign(f"{PUBLIC}/twilio/voice", WEBHOOK)
        )
        as_the_server_sees_it = client.post(
            "/twilio/voice", data=WEBHOOK, headers=sign(f"{LOCAL}/twilio/voice", WEBHOOK)
        )
    assert as_twilio_saw_it.status_code == 200
    assert parse_stream(as_twilio_saw_it.text)[0] == "wss://abc.example.com/twilio/media"
    assert as_the_server_sees_it.status_code == 403


def test_query_string_is_part_of_the_signed_url(services: CallServices) -> None:
    settings = Settings(twilio_auth_token=AUTH_TOKEN, public_url=PUBLIC)
    with client_for(settings, services) as client:
        with_query = client.post(
            "/twilio/voice?line=main",
            data=WEBHOOK,
            headers=sign(f"{PUBLIC}/twilio/voice?line=main", WEBHOOK),
        )
        query_dropped = client.post(
            "/twilio/voice?line=main", data=WEBHOOK, headers=sign(f"{PUBLIC}/twilio/voice", WEBHOOK)
        )
    assert with_query.status_code == 200
    assert query_dropped.status_code == 403


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "abc.example.com"}


def test_forwarded_headers_rebuild_the_url_when_trusted(services: CallServices) -> None:
    settings = Settings(twilio_auth_token=AUTH_TOKEN, trust_forwarded=True)
    with client_for(settings, services) as client:
        response = client.post(
            "/twilio/voice",
            data=WEBHOOK,
            headers={**FORWARDED, **sign(f"{PUBLIC}/twilio/voice", WEBHOOK)},
        )
    assert response.status_code == 200
    assert parse_stream(response.text)[0] == "wss://abc.example.com/twilio/media"


def test_forwarded_headers_are_ignored_unless_trusted(services: CallServices) -> None:
    with client_for(Settings(twilio_auth_token=AUTH_TOKEN), services) as client:
        spoofed = client.post(
            "/twilio/voice",
            data=WEBHOOK,
            headers={**FORWARDED, **sign(f"{PUBLIC}/twilio/voice", WEBHOOK)},
        )
    assert spoofed.status_code == 403

    with client_for(Settings(), services) as client:
        response = client.post("/twilio/voice", data=WEBHOOK, headers=FORWARDED)
    assert parse_stream(response.text)[0] == "ws://testserver.local/twilio/media"


# -- status callback --------------------------------------------------------------------

STATUS = {**WEBHOOK, "CallStatus": "completed", "CallDuration": "42"}


def test_signed_status_callback_is_logged_without_numbers(
    signed_client: TestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dialgraph.web"):
        response = signed_client.post(
            "/twilio/status", data=STATUS, headers=sign(f"{LOCAL}/twilio/status", STATUS)
        )
    assert response.status_code == 204
    assert f"call {CALL_SID} is completed" in caplog.text
    assert CALLER not in caplog.text and CALLED not in caplog.text


def test_forged_status_callback_is_403(signed_client: TestClient[Litestar]) -> None:
    forged = sign(f"{LOCAL}/twilio/status", {**STATUS, "CallStatus": "failed"})
    response = signed_client.post("/twilio/status", data=STATUS, headers=forged)
    assert response.status_code == 403


# -- media stream -----------------------------------------------------------------------


def webhook_parameters(
    client: TestClient[Litestar], headers: dict[str, str] | None = None
) -> dict[str, str]:
    """The TwiML's ``<Parameter>``s, token included: what Twilio sends back in ``start``."""
    response = client.post("/twilio/voice", data=WEBHOOK, headers=headers or {})
    assert response.status_code == 200
    return parse_stream(response.text)[1]


def receive_until_close(ws) -> tuple[list[dict], WebSocketDisconnect]:
    """Twilio's side: collect messages until the server closes the socket."""
    messages: list[dict] = []
    while True:
        try:
            messages.append(ws.receive_json(timeout=WS_TIMEOUT))
        except WebSocketDisconnect as closed:
            return messages, closed


def test_signed_media_stream_runs_the_call(services: CallServices) -> None:
    settings = Settings(twilio_auth_token=AUTH_TOKEN, public_url=PUBLIC)
    script = TwilioScript(call_sid=CALL_SID)
    with client_for(settings, services) as client:
        params = webhook_parameters(client, sign(f"{PUBLIC}/twilio/voice", WEBHOOK))
        handshake = sign("wss://abc.example.com/twilio/media")
        with client.websocket_connect("/twilio/media", headers=handshake) as ws:
            ws.send_json(script.connected())
            ws.send_json(script.start(**params))
            first = ws.receive_json(timeout=WS_TIMEOUT)
            assert first["event"] == "media"  # the greeting is being spoken
            assert first["streamSid"] == script.stream_sid
            assert client.get("/healthz").json() == {"status": "ok", "live_calls": 1}
            ws.send_json(script.stop())
            _, closed = receive_until_close(ws)
        assert closed.code == 1000
        assert client.get("/healthz").json() == {"status": "ok", "live_calls": 0}


def test_media_handshake_over_http_public_url_is_signed_as_ws(services: CallServices) -> None:
    settings = Settings(twilio_auth_token=AUTH_TOKEN, public_url="http://10.0.0.5:8080")
    script = TwilioScript(call_sid=CALL_SID)
    with client_for(settings, services) as client:
        params = webhook_parameters(client, sign("http://10.0.0.5:8080/twilio/voice", WEBHOOK))
        handshake = sign("ws://10.0.0.5:8080/twilio/media")
        with client.websocket_connect("/twilio/media", headers=handshake) as ws:
            ws.send_json(script.start(**params))
            assert ws.receive_json(timeout=WS_TIMEOUT)["event"] == "media"
            ws.send_json(script.stop())
            assert receive_until_close(ws)[1].code == 1000


class SessionSpy:
    """Stands in for CallSession; records that it was ever created."""

    created: list[object] = []

    def __init__(self, transport, services, settings) -> None:
        SessionSpy.created.append(transport)

    async def run(self) -> None:
        raise AssertionError("a session ran for a refused handshake")


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing signature"),
        (sign("wss://abc.example.com/twilio/media", token="not-the-token"), "invalid signature"),
        (sign("https://abc.example.com/twilio/media"), "invalid signature"),  # https, not wss
    ],
)
def test_unsigned_or_forged_handshake_is_closed_1008_before_any_session(
    services: CallServices,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    why: str,
) -> None:
    monkeypatch.setattr(SessionSpy, "created", [])
    monkeypatch.setattr(web_media, "CallSession", SessionSpy)
    settings = Settings(twilio_auth_token=AUTH_TOKEN, public_url=PUBLIC)
    with (
        caplog.at_level(logging.INFO),
        client_for(settings, services) as client,
        client.websocket_connect("/twilio/media", headers=headers) as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_text(timeout=WS_TIMEOUT)

    assert closed.value.code == 1008
    assert why in closed.value.detail
    assert SessionSpy.created == []
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert why in warnings[0].getMessage()
    assert warnings[0].exc_info is None
    assert AUTH_TOKEN not in caplog.text


def test_handshake_without_auth_token_is_accepted(services: CallServices) -> None:
    script = TwilioScript(call_sid=CALL_SID)
    with client_for(Settings(), services) as client:
        params = webhook_parameters(client)
        with client.websocket_connect("/twilio/media") as ws:
            ws.send_json(script.start(**params))
            assert ws.receive_json(timeout=WS_TIMEOUT)["event"] == "media"
            ws.send_json(script.stop())
            assert receive_until_close(ws)[1].code == 1000


def test_binary_frames_reach_the_session_as_bytes(services: CallServices) -> None:
    with (
        client_for(Settings(), services) as client,
        client.websocket_connect("/twilio/media") as ws,
    ):
        ws.send_bytes(b"\x00\x01")
        _, closed = receive_until_close(ws)
    assert closed.code == 1003  # the protocol refuses binary frames


class CrashingSession:
    def __init__(self, transport, services, settings) -> None:
        pass

    async def run(self) -> None:
        raise RuntimeError("bug in one call")


def test_a_crashing_call_is_closed_1011_and_the_server_keeps_serving(
    services: CallServices, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with client_for(Settings(), services) as client:
        monkeypatch.setattr(web_media, "CallSession", CrashingSession)
        with caplog.at_level(logging.ERROR), client.websocket_connect("/twilio/media") as ws:
            _, closed = receive_until_close(ws)
        assert closed.code == 1011
        assert "call session failed" in caplog.text

        monkeypatch.undo()
        script = TwilioScript(call_sid=CALL_SID)
        params = webhook_parameters(client)
        with client.websocket_connect("/twilio/media") as ws:
            ws.send_json(script.start(**params))
            assert ws.receive_json(timeout=WS_TIMEOUT)["event"] == "media"
            ws.send_json(script.stop())
            assert receive_until_close(ws)[1].code == 1000


class TransportProbe:
    """A session that exercises the transport contract and reports what it saw."""

    seen: list[object] = []

    def __init__(self, transport, services, settings) -> None:
        self.transport = transport

    async def run(self) -> None:
        seen = TransportProbe.seen
        seen.append(await self.transport.receive())
        seen.append(await self.transport.receive())
        await self.transport.send('{"event":"clear","streamSid":"MZ1"}')
        try:
            await self.transport.receive()
        except TransportClosed:
            seen.append("closed")
        for attempt in (self.transport.receive(), self.transport.send("late")):
            try:
                await attempt
            except TransportClosed:
                seen.append("refused")
        await self.transport.close(1000, "twice")
        await self.transport.close(1000, "is fine")


def test_transport_adapter_contract(
    services: CallServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(TransportProbe, "seen", [])
    monkeypatch.setattr(web_media, "CallSession", TransportProbe)
    with client_for(Settings(), services) as client:
        with client.websocket_connect("/twilio/media") as ws:
            ws.send_text("hello")
            ws.send_bytes(b"\xff")
            assert ws.receive_text(timeout=WS_TIMEOUT) == '{"event":"clear","streamSid":"MZ1"}'
        assert client.get("/healthz").status_code == 200
    assert TransportProbe.seen == ["hello", b"\xff", "closed", "refused", "refused"]


# -- health -----------------------------------------------------------------------------


def test_healthz_reports_live_calls(services: CallServices) -> None:
    with client_for(Settings(twilio_auth_token=AUTH_TOKEN), services) as client:
        response = client.get("/healthz")  # not signed: it is not a Twilio route
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "live_calls": 0}


# -- lifespan ---------------------------------------------------------------------------


def test_default_services_are_opened_once_and_closed_at_shutdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import telephony.services
    from graphs import echo

    events: list[str] = []
    flows: list[Flow] = []

    @asynccontextmanager
    async def build_services(settings: Settings, *, flow: Flow) -> AsyncIterator[CallServices]:
        events.append("open")
        flows.append(flow)
        yield make_services()
        events.append("close")

    monkeypatch.setattr(telephony.services, "build_services", build_services)

    with TestClient(create_app(Settings(), graph=echo.graph)) as client:
        assert webhook_parameters(client)["token"]
        for _ in range(3):
            assert client.get("/healthz").json()["live_calls"] == 0
        assert events == ["open"]
    assert events == ["open", "close"]
    assert [f.graph for f in flows] == [echo.graph], "the services are built for the given graph"


def test_a_graph_that_loads_nothing_stops_the_app_in_one_line() -> None:
    with pytest.raises(
        ConfigError, match=re.escape("unknown graph 'nope': give a langgraph.json id")
    ):
        create_app(Settings(graph="nope"))
    with pytest.raises(ConfigError, match=re.escape("graph: no_such/flow.py:graph: no such file")):
        create_app(Settings(), graph="no_such/flow.py:graph")


def test_log_redaction_with_the_flows_rules_is_installed_even_with_given_services(
    services: CallServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memory import redaction_logging
    from memory.redaction_logging import RedactingFilter

    monkeypatch.setattr(redaction_logging, "_installed", None)  # restored after the test
    handler = logging.NullHandler()
    logging.getLogger().addHandler(handler)
    rules = Redaction(keep_patterns=(r"\bT-\d{6}\b",))
    try:
        with TestClient(
            create_app(Settings(), phone=PhoneSettings(redaction=rules), services=services)
        ):
            assert any(isinstance(f, RedactingFilter) for f in handler.filters)
            installed = redaction_logging._installed
            assert installed is not None and installed.redact("T-482913") == "T-482913"
    finally:
        logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize(
    ("setting", "flow_words", "said"),
    [
        ("", "Hi, Acme here. Please call us back.", "Hi, Acme here. Please call us back."),
        ("Call the office back.", "Hi, Acme here.", "Call the office back."),  # the setting wins
        ("", "", "Hello, this is Acme. Please call us back. Goodbye."),  # the flow's name
    ],
)
def test_the_voicemail_left_on_a_machine_is_the_flows_unless_set(
    services: CallServices, setting: str, flow_words: str, said: str
) -> None:
    from graphs import echo

    phone = PhoneSettings(name="Acme", voicemail_message=flow_words)
    settings = Settings(voicemail="message", voicemail_message=setting)
    with TestClient(
        create_app(settings, graph=echo.graph, phone=phone, services=services)
    ) as client:
        response = client.post(
            "/twilio/voice",
            data={**WEBHOOK, "Direction": "outbound-api", "AnsweredBy": "machine_end_beep"},
        )
    root = ET.fromstring(response.text)
    assert [(v.tag, v.text) for v in root] == [("Say", said), ("Hangup", None)]


def test_a_caller_over_the_limit_hears_a_polite_message_not_an_error() -> None:
    from telephony.admission.limits import CallLimits, MemoryLimitStore

    services = make_services()
    services.limit_store = MemoryLimitStore(CallLimits(concurrent_per_caller=1))
    app = create_app(Settings(), services=services)
    with TestClient(app) as client:
        first = client.post("/twilio/voice", data=WEBHOOK)
        second = client.post("/twilio/voice", data={**WEBHOOK, "CallSid": "CA" + "2" * 32})
        assert first.status_code == 200 and "<Connect>" in first.text
        assert second.status_code == 200
        assert "<Say" in second.text and "<Hangup" in second.text and "<Connect>" not in second.text
        # The first call ends (status callback): the caller may call again.
        client.post("/twilio/status", data={**WEBHOOK, "CallStatus": "completed"})
        third = client.post("/twilio/voice", data={**WEBHOOK, "CallSid": "CA" + "3" * 32})
        assert "<Connect>" in third.text
