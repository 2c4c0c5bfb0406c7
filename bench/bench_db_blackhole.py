"""Time to the apology when Postgres blackholes mid-call (goal: at most 2 s).

A real call path: ``dialgraph``'s server (uvicorn, Litestar, the session) on
loopback, the clinic flow opened as the service opens it (checkpointer,
store, ledger, calendar, transcripts on the real Postgres, behind a TCP
proxy), the softphone as Twilio. Recognition and speech are the exact test
doubles (a tone burst is an utterance; 10 ms of tone per character), so the
figure is the database path's, not a model's. After the greeting is heard
the proxy stops forwarding (packets dropped: no reset, no error), then the
caller asks a question. For each call it prints, from the end of the
caller's speech (the softphone's clock):

* ``reply``: first agent audio received (Twilio would start playing it);
* ``heard``: first agent audio played, what the caller waits;

and what was said (the apology, ``APOLOGY``). The recogniser's end-of-turn
wait (200 ms of silence) is included; the turn ends that much after the
speech. A baseline call without the fault is printed first.

Needs Postgres at ``DIALGRAPH_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``).

Run: ``uv run python bench/bench_db_blackhole.py [calls]``. Prints figures, never pass/fail.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

from dialgraph import load_flow
from graphs.runtime.service import open_flow_agents
from telephony.admission.registry import CallRegistry
from telephony.call.phrases import APOLOGY
from telephony.call.report import TurnTiming
from telephony.call.services import CallServices
from telephony.softphone import parse_script, place_call
from tests.fakes import FakeSTT, FakeTTS, test_tokens
from tests.integration.test_loopback_call import AUTH_TOKEN, serve, write_tone_wav
from tests.postgres import fresh_schema, server_address, via_port
from tests.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[1]
TODAY = "2026-11-24T08:00"
SCRIPT = """
[[step]]
wait_for_agent = true
quiet_ms = 400

[[step]]
play = "speech.wav"

[[step]]
wait_for_agent = true
quiet_ms = 400
"""


class _AfterGreeting:
    """Observer: runs ``action`` when the agent's first line of a call was heard."""

    def __init__(self) -> None:
        self.action = None
        self.said: list[str] = []

    def __call__(self, call_sid: str, who: str, text: str, timing: TurnTiming | None) -> None:
        if who == "agent":
            self.said.append(text)
            if self.action is not None and len(self.said) == 1:
                self.action()


async def _call(
    tmp: Path, database_url: str, proxy: TcpProxy, n: int, fault: bool
) -> tuple[float, float, str]:
    observer = _AfterGreeting()
    if fault:
        observer.action = proxy.stall
    flow = load_flow("clinic", root=ROOT)
    async with open_flow_agents(
        flow, database_url=database_url, var_dir=tmp / "var", today=TODAY
    ) as agents:
        services = CallServices(
            agent_factory=agents,
            registry=CallRegistry(),
            tokens=test_tokens(),
            tts=FakeTTS(),
            stt=FakeSTT(["what are your opening hours"]),
            observer=observer,
        )
        script = parse_script(SCRIPT, base_dir=tmp)
        try:
            async with serve(services) as base:
                result = await place_call(
                    base, script, auth_token=AUTH_TOKEN, caller=f"+1415555{n:04d}"
                )
        finally:
            await proxy.restore()
            await asyncio.sleep(3.5)  # past the fail-fast window before the next call
    turn = result.turns[-1]
    return turn.response_ms or float("nan"), turn.heard_ms or float("nan"), observer.said[-1]


async def main(calls: int) -> None:
    os.environ.pop("DIALGRAPH_MODEL", None)  # the offline model
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        write_tone_wav(tmp / "speech.wav", 500)
        async with fresh_schema() as (url, _), TcpProxy(*server_address()) as proxy:
            database_url = via_port(url, proxy.port)
            reply, heard, said = await _call(tmp, database_url, proxy, 0, fault=False)
            print(f"baseline (no fault): reply {reply:6.0f} ms  heard {heard:6.0f} ms  {said!r}")
            replies, heards = [], []
            for n in range(1, calls + 1):
                reply, heard, said = await _call(tmp, database_url, proxy, n, fault=True)
                replies.append(reply)
                heards.append(heard)
                apology = "apology" if said == APOLOGY else f"NOT the apology: {said!r}"
                print(
                    f"blackhole call {n}:   reply {reply:6.0f} ms  heard {heard:6.0f} ms  {apology}"
                )
            print(
                f"blackhole, {calls} calls: heard median {statistics.median(heards):.0f} ms, "
                f"max {max(heards):.0f} ms (goal <= 2000 ms; before: 14300 ms of dead air)"
            )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
