"""No caller is taken for another, through the real server (issue 12: 1, 2, 8).

``dialgraph serve`` runs the clinic flow as a subprocess on a SQLite database
this test seeds, encrypted with the test key: Maria's number has a profile
(her name), and so has ``+266696687``, the keypad spelling of ANONYMOUS, as a
withheld caller's memory would have been kept before caller IDs were
normalised. Calls are placed as Twilio would (signed webhook, then the media
stream) and what the clinic said is read back from the call transcripts.

- A ``start`` whose token is valid but whose ``caller`` parameter was changed
  to Maria's is refused with 1008 before any audio; the untampered start on
  the same token is then served (so the refusal was the parameter).
- Withheld callers (``anonymous``, ``+266696687``, ``Restricted``, empty) are
  never greeted by name and no visit is recorded under any of them, while
  Maria, calling from her number, is welcomed back and her visit recorded.
- A deeply nested frame closes with 1007, malformed tokens with 1008, and the
  server log has no traceback and none of the withheld values.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import websockets
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection

from memory.store import CALLERS_NAMESPACE, PROFILE_KEY, CallerMemory, open_store
from memory.transcripts import load_transcript
from telephony.softphone import parse_script, place_call
from telephony.softphone.twilio_side import parse_twiml
from tests.fakes import TwilioScript
from tests.processes import Server, dialgraph_servers

AUTH_TOKEN = "identity-test-auth-token"
KEY = os.environ["DIALGRAPH_CHECKPOINT_KEY"]  # tests/conftest.py sets a fixed test key
MARIA = "+14155550100"
ATTACKER = "+14155550199"
CLINIC = "+14155550111"
ANONYMOUS_KEYPAD = "+266696687"
WITHHELD = ["anonymous", ANONYMOUS_KEYPAD, "Restricted", ""]
WELCOME_BACK = "welcome back"  # the clinic's greeting for a caller it knows
RECV_TIMEOUT_S = 20.0

# Hear the greeting, then hang up.
GREETING_ONLY = """
[[step]]
wait_for_agent = true
quiet_ms = 500
"""


# One server for the module (starting one takes 10-20 s); its own event loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True, slots=True)
class Clinic:
    server: Server
    database: str
    directory: Path

    @property
    def base(self) -> str:
        return self.server.base

    def log(self) -> str:
        return self.server.log.read_text(errors="replace")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def clinic(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Clinic]:
    """The seeded database, and one ``dialgraph serve`` on it."""
    directory = tmp_path_factory.mktemp("identity")
    database = f"sqlite:///{directory / 'clinic.db'}"
    async with open_store(database, var_dir=directory, encryption_key=KEY) as store:
        await CallerMemory(store).remember(MARIA, name="Maria Lopez")
        # What a withheld caller's memory looked like when "+266696687" counted as a number.
        withheld_profile = {"name": "Priya Shah", "last_visit": None}
        await store.aput((CALLERS_NAMESPACE, ANONYMOUS_KEYPAD), PROFILE_KEY, withheld_profile)
    settings = {
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "DIALGRAPH_DATABASE_URL": database,
        "DIALGRAPH_CHECKPOINT_KEY": KEY,
    }
    # No drain at the end: nothing here is worth waiting for.
    async with dialgraph_servers(directory, [settings], args=["--drain-timeout", "0"]) as [server]:
        yield Clinic(server, database, directory)


def _var_dir(server: Server) -> Path:
    return server.log.parent / f"var-{server.base.rsplit(':', 1)[1]}"  # as server_env names it


async def _greeting(clinic: Clinic, call_sid: str) -> str:
    var_dir = _var_dir(clinic.server)
    for _ in range(100):  # written when the greeting's turn ends, maybe just after hang-up
        entries = await load_transcript(call_sid, database_url=clinic.database, var_dir=var_dir)
        agent = [e.text for e in entries if e.role == "agent"]
        if agent:
            return agent[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no greeting in the transcript of {call_sid}")


async def _ring(http: httpx.AsyncClient, base: str, call_sid: str, caller: str) -> dict[str, str]:
    """Twilio's signed voice webhook; returns the TwiML's stream parameters."""
    url = f"{base}/twilio/voice"
    form = {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": caller,
        "To": CLINIC,
        "Direction": "inbound",
        "CallStatus": "ringing",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    response = await http.post(url, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.text
    answer = parse_twiml(response.text)
    assert answer.connects, answer.describe()
    return dict(answer.parameters)


@contextlib.asynccontextmanager
async def _media(base: str) -> AsyncIterator[ClientConnection]:
    url = base.replace("http", "ws") + "/twilio/media"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, {})
    async with websockets.connect(url, additional_headers={"X-Twilio-Signature": signature}) as ws:
        yield ws


async def _until_closed(ws: ClientConnection) -> list[dict]:
    """Read until the server closes; return what it sent."""
    received: list[dict] = []
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            received.append(json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S)))
    return received


@contextlib.asynccontextmanager
async def _start(
    base: str, script: TwilioScript, params: dict[str, str]
) -> AsyncIterator[ClientConnection]:
    """A media socket that has sent ``connected`` and a ``start`` with ``params``."""
    async with _media(base) as ws:
        await ws.send(json.dumps(script.connected()))
        await ws.send(json.dumps(script.start(**params)))
        yield ws


def _script(call_sid: str) -> TwilioScript:
    return TwilioScript(call_sid=call_sid, stream_sid="MZ" + uuid.uuid4().hex)


def _assert_clean(log: str) -> None:
    assert "Traceback" not in log
    assert ANONYMOUS_KEYPAD.lstrip("+") not in log  # the raw withheld value is never logged


async def test_a_changed_parameter_is_refused_before_any_audio(clinic: Clinic) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        call_sid = "CA" + uuid.uuid4().hex
        params = await _ring(http, clinic.base, call_sid, ATTACKER)
        assert params["caller"] == ATTACKER

        # The attacker's valid token, with Maria's number as the caller.
        async with _start(clinic.base, _script(call_sid), {**params, "caller": MARIA}) as ws:
            received = await _until_closed(ws)
        assert ws.close_code == 1008
        assert received == []  # no greeting, no audio, nothing
        # A parameter dropped is a change too.
        dropped = {k: v for k, v in params.items() if k != "called"}
        async with _start(clinic.base, _script(call_sid), dropped) as ws:
            assert await _until_closed(ws) == []
        assert ws.close_code == 1008

        # The same token with the parameters it was issued over is served.
        async with _start(clinic.base, _script(call_sid), params) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S))
            assert first["event"] == "media"
        assert (await http.get(f"{clinic.base}/healthz")).status_code == 200
    log = clinic.log()
    assert log.count("call token does not match") >= 2
    _assert_clean(log)


async def test_withheld_callers_never_share_caller_memory(clinic: Clinic) -> None:
    script = parse_script(GREETING_ONLY)
    maria = await place_call(clinic.base, script, auth_token=AUTH_TOKEN, caller=MARIA)
    assert maria.ok, maria.summary()
    # The check that memory is read at all: Maria is known and welcomed back.
    assert WELCOME_BACK in (await _greeting(clinic, maria.call_sid)).lower()
    for caller in WITHHELD:  # one after another, as in the report: anonymous, then +266696687
        result = await place_call(clinic.base, script, auth_token=AUTH_TOKEN, caller=caller)
        assert result.ok, result.summary()
        greeting = (await _greeting(clinic, result.call_sid)).lower()
        assert WELCOME_BACK not in greeting, f"{caller!r} was greeted as a known caller"
        assert "priya" not in greeting

    async with open_store(clinic.database, var_dir=clinic.directory, encryption_key=KEY) as store:
        memory = CallerMemory(store)
        for _ in range(100):  # the visit is recorded by an end-of-call hook
            if (await memory.get(MARIA) or {}).get("last_visit"):
                break
            await asyncio.sleep(0.1)
        assert (await memory.get(MARIA) or {}).get("last_visit"), "Maria's visit not recorded"
        # No visit was recorded under a withheld value, and none became a caller.
        anonymous = await store.aget((CALLERS_NAMESPACE, ANONYMOUS_KEYPAD), PROFILE_KEY)
        assert anonymous is not None and anonymous.value.get("last_visit") is None
        for caller in ("anonymous", "Anonymous", "Restricted"):
            assert await store.aget((CALLERS_NAMESPACE, caller), PROFILE_KEY) is None
    _assert_clean(clinic.log())


MAC = "A" * 24
MALFORMED_TOKENS = [
    "",
    "v2",
    "v2.1.2.3",
    "v2." + "9" * 5000 + "." + MAC,  # int() refuses 4300+ digits
    "v2." + "9" * 400 + "." + MAC,  # a float would overflow
    "v2.1000." + "Ä" * 24,  # compare_digest raises TypeError on non-ASCII
    "v2.١٢٣." + MAC,  # not ASCII digits
    "v1.1000.abc",
]


async def test_bad_frames_and_tokens_close_cleanly(clinic: Clinic) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        # Nesting deeper than the interpreter's recursion limit, under the size limit.
        for frame in ('{"event":"connected","x":' + "[" * 50_000, '{"a":' * 10_000):
            async with _media(clinic.base) as ws:
                await ws.send(frame)
                assert await _until_closed(ws) == []
            assert ws.close_code == 1007, frame[:30]
        # Over the size limit as well: still a clean close.
        async with _media(clinic.base) as ws:
            await ws.send("[" * 100_000)
            await _until_closed(ws)
        assert ws.close_code in (1007, 1009)

        for n, token in enumerate(MALFORMED_TOKENS):
            call_sid = "CA" + uuid.uuid4().hex
            caller = f"+1415555{n + 1000:04d}"  # one number each: no per-caller limit in the way
            params = await _ring(http, clinic.base, call_sid, caller)
            async with _start(clinic.base, _script(call_sid), {**params, "token": token}) as ws:
                assert await _until_closed(ws) == []
            assert ws.close_code == 1008, token[:20]
        assert (await http.get(f"{clinic.base}/healthz")).json()["status"] == "ok"
    log = clinic.log()
    assert "malformed call token" in log
    assert "nested too deeply" in log
    _assert_clean(log)
    assert "9" * 400 not in log  # a refused token is not echoed into the log
