"""Two real ``dialgraph serve`` processes sharing Redis enforce one set of limits.

Each server is the real CLI (uvicorn, Litestar, the whole service) in its own
process, with its own var directory, both pointed at the same Redis prefix and
call-token secret. Twilio's side is signed ``POST /twilio/voice`` and
``/twilio/status`` requests (the real Twilio SDK's ``RequestValidator``) for one
caller, sent to both servers at once. Skipped, with the reason, only when Redis
cannot be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection

from telephony.admission.limits import CALLER_CONCURRENT, CALLER_HOURLY, busy_twiml
from telephony.call.session import CLOSE_POLICY
from tests.backends import REDIS_URL, delete_limit_keys, needs_redis
from tests.fakes import TwilioScript
from tests.processes import dialgraph_servers

URL = REDIS_URL
AUTH_TOKEN = "two-servers-auth-token"
CALLER = "+15557650001"
OTHER_CALLER = "+15557650002"
CLINIC = "+15550100000"
START_TIMEOUT_S = 90.0


pytestmark = needs_redis


SHARED = {
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "DIALGRAPH_REDIS_URL": URL,
    "DIALGRAPH_CALL_TOKEN_SECRET": "shared-by-both-workers",
    "DIALGRAPH_CONCURRENT_PER_CALLER": "2",
    "DIALGRAPH_CALLS_PER_HOUR": "3",
}


@contextlib.asynccontextmanager
async def _servers(directory: Path, prefix: str, count: int) -> AsyncIterator[list[str]]:
    """Start ``count`` ``dialgraph serve`` processes on one Redis prefix; yield their URLs."""
    settings = [{**SHARED, "DIALGRAPH_REDIS_PREFIX": prefix}] * count
    async with dialgraph_servers(directory, settings) as servers:
        yield [server.base for server in servers]


async def _post(
    http: httpx.AsyncClient, base: str, path: str, params: dict[str, str]
) -> httpx.Response:
    url = f"{base}{path}"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    return await http.post(url, data=params, headers={"X-Twilio-Signature": signature})


def _call(call_sid: str, caller: str = CALLER) -> dict[str, str]:
    return {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": caller,
        "To": CLINIC,
        "Direction": "inbound",
        "CallStatus": "ringing",
    }


async def _ring(http: httpx.AsyncClient, base: str, call_sid: str, caller: str = CALLER) -> str:
    response = await _post(http, base, "/twilio/voice", _call(call_sid, caller))
    assert response.status_code == 200, response.text
    return response.text


async def _hang_up(http: httpx.AsyncClient, base: str, call_sid: str) -> None:
    params = {**_call(call_sid), "CallStatus": "completed", "CallDuration": "42"}
    response = await _post(http, base, "/twilio/status", params)
    assert response.status_code == 204, response.text


@contextlib.asynccontextmanager
async def _stream(base: str, call_sid: str, token: str) -> AsyncIterator[ClientConnection]:
    """A signed media socket that has sent Twilio's ``connected`` and ``start``."""
    url = base.replace("http", "ws") + "/twilio/media"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, {})
    script = TwilioScript(call_sid=call_sid, stream_sid="MZ" + uuid.uuid4().hex)
    async with websockets.connect(url, additional_headers={"X-Twilio-Signature": signature}) as ws:
        await ws.send(json.dumps(script.connected()))
        await ws.send(
            json.dumps(script.start(token, caller=CALLER, called=CLINIC, direction="inbound"))
        )
        yield ws


def _sid() -> str:
    return "CA" + uuid.uuid4().hex


def _refusals(metrics: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for reason, value in re.findall(
        r'^dialgraph_streams_refused_total\{reason="([a-z_]+)"\} (\d+)', metrics, re.MULTILINE
    ):
        found[reason] = found.get(reason, 0) + int(value)
    return found


def _logs(directory: Path) -> list[str]:
    return [log.read_text(errors="replace") for log in sorted(directory.glob("server-*.log"))]


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    name = f"dialgraph-two-servers-{uuid.uuid4().hex}"
    yield name
    await delete_limit_keys(name)


async def test_two_servers_sharing_redis_enforce_one_limit(tmp_path: Path, prefix: str) -> None:
    async with _servers(tmp_path, prefix, 2) as (a, b), httpx.AsyncClient(timeout=30) as http:
        # Six calls from one number at once, alternating between the servers:
        # two may be live at a time, whichever server answers.
        sids = [_sid() for _ in range(6)]
        answers = await asyncio.gather(
            *(_ring(http, (a, b)[n % 2], sid) for n, sid in enumerate(sids))
        )
        admitted = [sid for sid, twiml in zip(sids, answers, strict=True) if "<Connect>" in twiml]
        refused = [twiml for twiml in answers if "<Connect>" not in twiml]
        assert len(admitted) == 2, answers
        assert refused == [busy_twiml(CALLER_CONCURRENT)] * 4

        # One call ends; Twilio tells server B, whichever server took it. The
        # slot is free on both: the third call this hour goes through on A.
        await _hang_up(http, b, admitted[0])
        third = _sid()
        twiml = await _ring(http, a, third)
        assert "<Connect>" in twiml

        # Its media stream opens on A. The same start (token and all) replayed
        # to B is refused: the stream claim is shared through Redis.
        token = re.search(r'name="token" value="([^"]+)"', twiml).group(1)
        async with _stream(a, third, token) as first:
            assert (await asyncio.wait_for(first.recv(), 10)) is not None  # the greeting
            async with _stream(b, third, token) as replay:
                with contextlib.suppress(websockets.ConnectionClosed):
                    await asyncio.wait_for(replay.recv(), 10)
                assert replay.close_code == CLOSE_POLICY

        # Another ends (told to A): a fourth call in the hour is over the
        # hourly limit, on either server, though a slot is free.
        await _hang_up(http, a, admitted[1])
        assert await _ring(http, b, _sid()) == busy_twiml(CALLER_HOURLY)
        assert await _ring(http, a, _sid()) == busy_twiml(CALLER_HOURLY)

        # The limits are per caller: somebody else still gets through.
        assert "<Connect>" in await _ring(http, b, _sid(), caller=OTHER_CALLER)

        metrics = [(await http.get(f"{base}/metrics")).text for base in (a, b)]
        totals = _refusals(metrics[0])
        for reason, count in _refusals(metrics[1]).items():
            totals[reason] = totals.get(reason, 0) + count
        assert totals == {CALLER_CONCURRENT: 4, CALLER_HOURLY: 2, "duplicate_call": 1}

    # Neither server wrote the caller's number to its log, and the redacting
    # filter on uvicorn's handlers broke no line (uvicorn's access log too).
    for text in _logs(tmp_path):
        assert "voice webhook" in text
        assert '"POST /twilio/voice HTTP/1.1" 200' in text
        assert "Logging error" not in text
        assert CALLER not in text and CALLER.lstrip("+") not in text
