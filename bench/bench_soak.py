"""Server memory over many short calls: RSS must stay flat, not grow per call.

Run: ``uv run python bench/bench_soak.py`` (10,000 calls, a few minutes on two
cores), ``--calls 2000`` for a quick look, ``--concurrency`` to change how many
calls are in flight. Prints figures, never pass/fail.

How it works. One real ``dialgraph serve`` process (the CLI: uvicorn, Litestar,
the whole service with its SQLite checkpointer and store, in-process limits)
runs the echo graph with no speech engines (``DIALGRAPH_TTS/STT/VAD=none``:
the per-call cost of the runtime, not of Piper). This process places short
calls the way Twilio does, ``--concurrency`` at a time: a signed ``POST
/twilio/voice`` (a new caller number each call, as a real line sees), the
media socket with ``connected``, ``start`` with the token the webhook issued,
five 20 ms media frames and ``stop``, then the ``completed`` status callback.
psutil reads the server's RSS (with any child processes) before the first
call, after a warm-up, every ``--report-every`` calls and at the end.

``--callers few`` cycles through eight numbers instead, with the hourly
per-caller limit off: the in-process limits remember every caller of the
last hour (its hourly count), so with a new number per call their memory and
their expiry scan grow for an hour by design; ``few`` shows the rest alone.

Reading it: ``kB/call`` after warm-up is (RSS at the end - RSS after warm-up)
/ calls since. Flat is a few kB/call at most, and shrinking as the run goes
on (allocator arenas and caches filling up once); a leak shows as a steady
slope in every interval. ``failed`` counts calls that did not end with the
server's normal close (1000): a soak that refuses calls measures nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import html
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil
import websockets
from twilio.request_validator import RequestValidator

REPO = Path(__file__).resolve().parent.parent
AUTH_TOKEN = "soak-auth-token"
ACCOUNT = "AC" + "0" * 32
FRAMES = 5  # media frames per call: a short call, but through the audio path
START_TIMEOUT_S = 90.0
FEW_CALLERS = 8  # --callers few: this many numbers, in turn
WARM_UP_CALLS = 200  # caches, allocator arenas and lazy imports fill up once
SILENCE = base64.b64encode(b"\xff" * 160).decode()  # 20 ms of mu-law silence


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(directory: Path, callers: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIALGRAPH_", "TWILIO_"))}
    env |= {
        "DIALGRAPH_HOST": "127.0.0.1",
        "DIALGRAPH_PORT": str(port),
        "DIALGRAPH_VAR_DIR": str(directory / "var"),
        "DIALGRAPH_GRAPH": "graphs.echo:graph",
        "DIALGRAPH_TTS": "none",
        "DIALGRAPH_STT": "none",
        "DIALGRAPH_VAD": "none",
        "DIALGRAPH_LOG_LEVEL": "WARNING",  # 10,000 calls of INFO lines are not the subject
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PYTHONPATH": str(REPO),
    }
    if callers == "few":
        env |= {"DIALGRAPH_CALLS_PER_HOUR": "0", "DIALGRAPH_CONCURRENT_PER_CALLER": "0"}
    log = (directory / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "telephony.cli", "serve"],
        cwd=directory,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, f"http://127.0.0.1:{port}"


def _stop_server(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _rss_mb(process: psutil.Process) -> float:
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total / 2**20


def _signed(url: str, form: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}


async def _call(http: httpx.AsyncClient, base: str, caller: str) -> bool:
    """One short call as Twilio places it; True if the server ended it normally (1000)."""
    call_sid, stream_sid = "CA" + uuid.uuid4().hex, "MZ" + uuid.uuid4().hex
    form = {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT,
        "From": caller,
        "To": "+15550100000",
        "Direction": "inbound",
        "CallStatus": "ringing",
    }
    voice = f"{base}/twilio/voice"
    twiml = (await http.post(voice, data=form, headers=_signed(voice, form))).text
    params = {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(r'<Parameter name="([^"]*)" value="([^"]*)"', twiml)
    }
    media = base.replace("http", "ws") + "/twilio/media"
    seq = 0

    def message(event: str, body: dict) -> str:
        nonlocal seq
        seq += 1
        return json.dumps(
            {"event": event, "sequenceNumber": str(seq), "streamSid": stream_sid, event: body}
        )

    async with websockets.connect(
        media, additional_headers=_signed(media, {}), proxy=None, compression=None
    ) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(
            message(
                "start",
                {
                    "accountSid": ACCOUNT,
                    "streamSid": stream_sid,
                    "callSid": call_sid,
                    "tracks": ["inbound"],
                    "mediaFormat": {
                        "encoding": "audio/x-mulaw",
                        "sampleRate": 8000,
                        "channels": 1,
                    },
                    "customParameters": params,
                },
            )
        )
        for chunk in range(FRAMES):
            body = {
                "track": "inbound",
                "chunk": str(chunk + 1),
                "timestamp": str(chunk * 20),
                "payload": SILENCE,
            }
            await ws.send(message("media", body))
        await ws.send(message("stop", {"accountSid": ACCOUNT, "callSid": call_sid}))
        with contextlib.suppress(websockets.ConnectionClosed):
            async with asyncio.timeout(30):
                async for _ in ws:  # marks and audio, if any, until the server closes
                    pass
        ok = ws.close_code == 1000
    status = f"{base}/twilio/status"
    done = {**form, "CallStatus": "completed", "CallDuration": "1"}
    await http.post(status, data=done, headers=_signed(status, done))
    return ok


async def _soak(base: str, server: psutil.Process, args: argparse.Namespace) -> None:
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        rss0 = _rss_mb(server)
        print(f"RSS before any call: {rss0:.1f} MB", flush=True)
        next_call = 0
        failed = 0

        async def run(count: int) -> None:
            nonlocal next_call, failed

            async def worker() -> None:
                nonlocal next_call, failed
                while next_call < count:
                    n = next_call
                    next_call += 1
                    try:
                        caller = n % FEW_CALLERS if args.callers == "few" else n
                        ok = await _call(http, base, f"+1555{caller % 10**7:07d}")
                    except Exception as exc:  # counted; the first few are shown
                        ok = False
                        if failed < 3:
                            print(f"  call {n} failed: {exc!r}"[:200], flush=True)
                    failed += not ok

            await asyncio.gather(*(worker() for _ in range(args.concurrency)))

        started = time.monotonic()
        await run(WARM_UP_CALLS)
        warm = _rss_mb(server)
        print(f"RSS after {WARM_UP_CALLS} warm-up calls: {warm:.1f} MB", flush=True)
        print(f"{'calls':>7} {'RSS MB':>8} {'kB/call (interval)':>19} {'calls/s':>8} {'failed':>7}")
        last_rss, last_calls, last_t = warm, WARM_UP_CALLS, time.monotonic()
        target = WARM_UP_CALLS
        while target < args.calls:
            target = min(args.calls, target + args.report_every)
            await run(target)
            rss, now = _rss_mb(server), time.monotonic()
            slope = (rss - last_rss) * 1024 / (target - last_calls)
            rate = (target - last_calls) / (now - last_t)
            print(f"{target:>7} {rss:>8.1f} {slope:>19.2f} {rate:>8.1f} {failed:>7}", flush=True)
            last_rss, last_calls, last_t = rss, target, now
        end = _rss_mb(server)
        live = (await http.get(f"{base}/healthz")).json().get("live_calls")
    calls_after = args.calls - WARM_UP_CALLS
    print(f"RSS at the end: {end:.1f} MB after {args.calls} calls in {now - started:.0f} s")
    print(
        f"growth after warm-up: {end - warm:+.1f} MB = {(end - warm) * 1024 / calls_after:.2f} "
        f"kB/call; from the first call: {(end - rss0) * 1024 / args.calls:.2f} kB/call"
    )
    print(f"failed calls: {failed}; live calls at the end: {live}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight at once")
    parser.add_argument("--report-every", type=int, default=1_000)
    parser.add_argument(
        "--callers",
        choices=("distinct", "few"),
        default="distinct",
        help="a new caller number per call, or eight numbers in turn (hourly limit off)",
    )
    args = parser.parse_args()
    if args.calls <= WARM_UP_CALLS:
        parser.error(f"--calls must be more than the {WARM_UP_CALLS} warm-up calls")
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as scratch:
        directory = Path(scratch)
        process, base = _start_server(directory, args.callers)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (directory / "server.log").read_text(errors="replace")
                    sys.exit(f"dialgraph serve did not start:\n{log[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                time.sleep(0.2)
            print(
                f"dialgraph serve (echo graph, no speech engines), {args.calls} calls, "
                f"{args.concurrency} at a time, {FRAMES} media frames each, "
                f"callers: {args.callers}",
                flush=True,
            )
            asyncio.run(_soak(base, psutil.Process(process.pid), args))
            log = (directory / "server.log").read_text(errors="replace")
            print(f"tracebacks in the server log: {log.count('Traceback')}")
        finally:
            _stop_server(process)


if __name__ == "__main__":
    main()
