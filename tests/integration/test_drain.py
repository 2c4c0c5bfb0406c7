"""A stopping server finishes its calls: ``dialgraph serve`` drains on SIGTERM.

The real CLI runs as a subprocess; the softphone calls it over real sockets.
SIGTERM arrives in the middle of a call: ``/readyz`` turns 503, the call goes
on to its natural end (the caller hangs up, not a 1012 from the server), and
only then does the process exit. A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
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


@contextlib.asynccontextmanager
async def _server_with_a_call(
    directory: Path, *, drain_timeout: float, pause_ms: int
) -> AsyncIterator[tuple[Server, httpx.AsyncClient, asyncio.Task]]:
    """A server, and a call on it that is live (the caller waits ``pause_ms`` after
    the greeting)."""
    script = parse_script(SCRIPT.replace("pause_ms = 1500", f"pause_ms = {pause_ms}"))
    args = ["--drain-timeout", str(drain_timeout)]
    async with (
        dialgraph_servers(directory, [SETTINGS], args=args) as [server],
        httpx.AsyncClient(timeout=5) as http,
    ):
        call_live, _ = _checks(http, server)
        call = asyncio.create_task(place_call(server.base, script, auth_token=AUTH_TOKEN))
        await _until(call_live, "the call to start")
        yield server, http, call


async def test_a_second_signal_stops_at_once(tmp_path: Path) -> None:
    async with _server_with_a_call(tmp_path, drain_timeout=600, pause_ms=20000) as (
        server,
        http,
        call,
    ):
        _, draining = _checks(http, server)
        server.process.send_signal(signal.SIGTERM)
        await _until(draining, "the drain to start")
        server.process.send_signal(signal.SIGTERM)
        await _exit_code(server)
        result = await call
        assert result.closed_by == "app", result.summary()  # the call was cut


async def test_calls_still_live_at_the_drain_timeout_hear_a_goodbye(tmp_path: Path) -> None:
    async with _server_with_a_call(tmp_path, drain_timeout=2, pause_ms=30000) as (
        server,
        _,
        call,
    ):
        await asyncio.sleep(4)  # the greeting is over: the caller is listening
        server.process.send_signal(signal.SIGTERM)
        result = await asyncio.wait_for(call, 40)
        # The app said goodbye and hung up (1000), rather than the server cutting the
        # socket (1012); the goodbye was played to the caller in full.
        assert (result.closed_by, result.close_code) == ("app", 1000), result.summary()
        assert "hangup" in result.close_reason
        print(f"agent audio played: {result.agent_ms_played:.0f} ms")
        assert result.agent_ms_played > 8000  # the greeting (~5 s), then the goodbye (~5 s)
        await _exit_code(server)
    log = _log(server)
    assert "saying goodbye to 1 live calls" in log
    assert "server stopping: ending the call with a goodbye" in log
