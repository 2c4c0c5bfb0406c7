"""A stopping server finishes its calls: ``dialgraph serve`` drains on SIGTERM.

The real CLI runs as a subprocess; the softphone calls it over real sockets.
SIGTERM arrives in the middle of a call: ``/readyz`` turns 503, the call goes
on to its natural end (the caller hangs up, not a 1012 from the server), and
only then does the process exit. A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from telephony.softphone import parse_script, place_call
from tests.processes import Server, dialgraph_servers

AUTH_TOKEN = "drain-test-auth-token"
SETTINGS = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN}
EXIT_TIMEOUT_S = 60.0

# Greeting, then keys (no speech engine needed on the caller's side), an answer, hang up.
SCRIPT = """
[[step]]
wait_for_agent = true
quiet_ms = 500

[[step]]
pause_ms = 1500

[[step]]
dtmf = "1"

[[step]]
wait_for_agent = true
quiet_ms = 500
"""


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 30) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _checks(http: httpx.AsyncClient, server: Server):
    async def call_live() -> bool:
        return (await http.get(f"{server.base}/healthz")).json()["live_calls"] > 0

    async def draining() -> bool:
        return (await http.get(f"{server.base}/healthz")).json()["status"] == "draining"

    return call_live, draining


async def _exit_code(server: Server) -> int:
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    while server.process.poll() is None:
        if time.monotonic() > deadline:
            pytest.fail("the server did not exit after draining")
        await asyncio.sleep(0.1)
    return server.process.returncode


def _log(server: Server) -> str:
    return server.log.read_text(errors="replace")


async def test_sigterm_lets_the_live_call_finish_then_exits(tmp_path: Path) -> None:
    script = parse_script(SCRIPT)
    async with (
        dialgraph_servers(tmp_path, [SETTINGS], args=["--drain-timeout", "60"]) as [server],
        httpx.AsyncClient(timeout=5) as http,
    ):
        assert (await http.get(f"{server.base}/readyz")).status_code == 200
        call_live, draining = _checks(http, server)
        call = asyncio.create_task(place_call(server.base, script, auth_token=AUTH_TOKEN))
        await _until(call_live, "the call to start")

        server.process.send_signal(signal.SIGTERM)
        await _until(draining, "the drain to start")
        ready = await http.get(f"{server.base}/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "draining", "live_calls": 1}

        result = await call
        assert (result.outcome, result.closed_by) == ("completed", "caller"), result.summary()
        assert result.close_code != 1012
        assert len(result.turns) == 1 and result.turns[0].first_audio_played_ms is not None
        assert await _exit_code(server) in (0, -signal.SIGTERM)
    log = _log(server)
    assert "draining: 1 live calls" in log
    assert "drained: no live calls" in log


async def test_a_second_signal_stops_at_once(tmp_path: Path) -> None:
    script = parse_script(SCRIPT.replace("pause_ms = 1500", "pause_ms = 20000"))
    async with (
        dialgraph_servers(tmp_path, [SETTINGS], args=["--drain-timeout", "600"]) as [server],
        httpx.AsyncClient(timeout=5) as http,
    ):
        call_live, draining = _checks(http, server)
        call = asyncio.create_task(place_call(server.base, script, auth_token=AUTH_TOKEN))
        await _until(call_live, "the call to start")
        server.process.send_signal(signal.SIGTERM)
        await _until(draining, "the drain to start")
        server.process.send_signal(signal.SIGTERM)
        await _exit_code(server)
        result = await call
        assert result.closed_by == "app", result.summary()  # the call was cut
