"""A stalled server loses no call: ``dialgraph serve`` is stopped (SIGSTOP) mid-call.

The softphone plays Twilio in real time and keeps streaming while the server
stands still; the caller presses a key during the stall. When the server
continues (SIGCONT), Twilio's backlog arrives at once. The call must go on
(no "message flood", no close), the key must be heard and answered, and the
caller hangs up at the end of the dialogue.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest

from telephony.softphone import parse_script, place_call
from tests.processes import Server, dialgraph_servers

AUTH_TOKEN = "stall-test-auth-token"
SETTINGS = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN}
GREETING_S = 8.0  # the clinic's greeting is about 5 s: the caller is listening after this

SCRIPT = """
[[step]]
wait_for_agent = true
quiet_ms = 500

[[step]]
pause_ms = {pause_ms}

[[step]]
dtmf = "1"

[[step]]
wait_for_agent = true
quiet_ms = 500
timeout_ms = 60000
"""


async def _until_live(http: httpx.AsyncClient, server: Server) -> None:
    for _ in range(600):
        if (await http.get(f"{server.base}/healthz")).json()["live_calls"] > 0:
            return
        await asyncio.sleep(0.05)
    pytest.fail("the call did not start")


async def _call_through_a_stall(directory: Path, stall_s: float) -> None:
    # The key is pressed in the middle of the stall: it reaches the server in the backlog.
    script = parse_script(SCRIPT.format(pause_ms=int((stall_s / 2 + 1) * 1000)))
    async with (
        dialgraph_servers(directory, [SETTINGS]) as [server],
        httpx.AsyncClient(timeout=5) as http,
    ):
        call = asyncio.create_task(place_call(server.base, script, auth_token=AUTH_TOKEN))
        await _until_live(http, server)
        await asyncio.sleep(GREETING_S)
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(stall_s)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        result = await asyncio.wait_for(call, 120)
        log = server.log.read_text(errors="replace")
    assert "flood" not in log, log[-3000:]
    assert "Traceback" not in log
    assert (result.outcome, result.closed_by) == ("completed", "caller"), result.summary()
    assert result.close_code != 1008
    assert len(result.turns) == 1, result.summary()
    assert result.turns[0].first_audio_played_ms is not None, "the key was answered"
    assert "(dtmf)" in log, "the key reached the agent as a turn"


async def test_a_call_survives_an_11_s_stall_and_its_key_is_answered(tmp_path: Path) -> None:
    await _call_through_a_stall(tmp_path, 11.0)


@pytest.mark.slow
async def test_a_call_survives_a_30_s_stall(tmp_path: Path) -> None:
    await _call_through_a_stall(tmp_path, 30.0)
