"""What a socket that never authenticates costs a real ``dialgraph serve``.

Run: ``uv run python bench/bench_preauth.py [--sockets 200]``; about 30 s.
Starts ``dialgraph serve`` (the bundled clinic flow, real engines, a Twilio
auth token, a start timeout long enough to hold every socket), opens N signed
media WebSockets that never send ``start``, and prints the server's RSS per
such socket (the goal is at most 64 kB; it was ~8.6 MB when the call's state
was built before the token was checked) and ``/healthz`` latency while they
are open. Figures only, never pass/fail. Linux (reads ``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.processes, as a script

from websockets.asyncio.client import ClientConnection, connect

from telephony.softphone import twilio_side
from tests.processes import free_port, server_env, spawn, stop, tail

AUTH_TOKEN = "bench-preauth-auth-token"
WARM_UP_SOCKETS = 20  # the first sockets load code paths once: not per-socket cost


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def _open(url: str, n: int) -> list[ClientConnection]:
    headers = {"X-Twilio-Signature": twilio_side.sign(AUTH_TOKEN, url)}
    return await asyncio.gather(
        *(connect(url, additional_headers=headers, compression=None) for _ in range(n))
    )


async def _healthz_ms(http: httpx.AsyncClient, base: str, samples: int = 20) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        (await http.get(f"{base}/healthz")).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.05)
    return times


async def main(sockets: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory, port = Path(scratch), free_port()
        env = server_env(
            directory,
            port,
            {
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "DIALGRAPH_START_TIMEOUT": "120",
                "DIALGRAPH_MAX_UNAUTHENTICATED": str(sockets + WARM_UP_SOCKETS),
            },
        )
        log = directory / "server.log"
        command = [sys.executable, "-m", "telephony.cli", "serve"]
        process = spawn(command, cwd=directory, env=env, log_path=log)
        base, url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/twilio/media"
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                for _ in range(600):
                    try:
                        if (await http.get(f"{base}/healthz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if process.poll() is not None:
                        raise SystemExit(f"dialgraph serve exited:\n{tail(log)}")
                    await asyncio.sleep(0.2)
                warm = await _open(url, WARM_UP_SOCKETS)
                idle_ms = await _healthz_ms(http, base)
                await asyncio.sleep(1.0)
                before = _rss_kb(process.pid)
                held = await _open(url, sockets)
                await asyncio.sleep(2.0)
                after = _rss_kb(process.pid)
                busy_ms = await _healthz_ms(http, base)
                for ws in warm + held:
                    await ws.close()
        finally:
            stop(process)
    per_socket = (after - before) / sockets
    print(f"server RSS: {before / 1024:.1f} MB -> {after / 1024:.1f} MB with {sockets} more")
    print(
        f"  silent signed sockets (goal <= 64 kB): {per_socket:.1f} kB per unauthenticated socket"
    )
    print(
        f"/healthz: median {statistics.median(idle_ms):.1f} ms, max {max(idle_ms):.1f} ms idle; "
        f"median {statistics.median(busy_ms):.1f} ms, max {max(busy_ms):.1f} ms "
        f"with {sockets + WARM_UP_SOCKETS} silent sockets open"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=200)
    asyncio.run(main(parser.parse_args().sockets))
