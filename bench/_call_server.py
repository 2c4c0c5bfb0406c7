"""The server side of ``bench/bench_calls.py``: the real app in its own process.

Run by bench_calls (not by hand, though it works):
``uv run python bench/_call_server.py --port 0 --greeting-s 7``. It serves the
real Litestar app (``create_app``) under uvicorn on 127.0.0.1 with test-double
engines (``ScriptedAgent``, ``FakeTTS``, ``FakeSTT`` from ``tests/fakes.py``),
no Twilio auth token, and prints ``READY <port> <pid>`` on stdout once it
accepts connections. It stops on SIGTERM/SIGINT, or when its stdin (the
parent's pipe) reaches end of file, so it never outlives bench_calls.

Besides the app it answers ``GET /bench/stats`` (``POST /bench/reset``
clears first) with the writer's pacing lag and the longest garbage-collector
pauses. The session's clock is wrapped so that every ``sleep`` the paced
writer asks for records how much later than asked it woke up: how late the
server put a frame on the wire compared with its own schedule. Above
``playout_lead_ms`` (120 ms) the caller hears a gap.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import threading
from collections import deque
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fakes, run as a script

from _probes import GcPauses, LagClock

from telephony.admission.limits import CallLimits, MemoryLimitStore
from telephony.admission.registry import CallRegistry
from telephony.call.services import CallServices
from telephony.settings import Settings
from telephony.speech.base import CallInfo
from telephony.web import create_app
from telephony.wire.calltoken import CallTokens
from tests.fakes import FAKE_TTS_MS_PER_CHAR, FakeSTT, FakeTTS, ScriptedAgent

__all__ = ["reply_text"]

LISTEN_BACKLOG = 1024  # a ramp opens up to a few hundred connections at once
SENTENCES = (
    "Thank you for calling the benchmark line, this greeting is deliberately long.",
    "It keeps the paced writer busy for several seconds on every call at once.",
    "Each sentence becomes one phrase, one mark, and many twenty millisecond frames.",
    "Nothing here is recognised, so the only input is a key the caller presses.",
    "The fake voice speaks ten milliseconds of tone for every character of text.",
)


def reply_text(seconds: float) -> str:
    """Text that ``FakeTTS`` speaks in about ``seconds`` seconds, in whole sentences."""
    chars = int(seconds * 1000 / FAKE_TTS_MS_PER_CHAR)
    out: list[str] = []
    i = 0
    while sum(len(s) + 1 for s in out) < chars:
        out.append(SENTENCES[i % len(SENTENCES)])
        i += 1
    return " ".join(out)


def _with_stats(app, clock: LagClock, registry: CallRegistry, pauses: GcPauses):
    """Wrap the ASGI app: ``/bench/stats`` and ``/bench/reset`` here, the rest to the app."""

    async def asgi(scope, receive, send):
        if scope["type"] == "http" and scope["path"] in ("/bench/stats", "/bench/reset"):
            if scope["path"] == "/bench/reset":
                clock.reset()
                pauses.reset()
            stats = {
                "writer_lag": clock.stats(),
                "gc_max_ms": pauses.max_ms,
                "gc_count": pauses.count,
                "live_calls": len(registry),
            }
            body = json.dumps(stats).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return asgi


async def serve(port: int, greeting_s: float, reply_s: float, stt: bool, ws: str) -> None:
    greeting, reply = reply_text(greeting_s), reply_text(reply_s)
    clock = LagClock()
    registry = CallRegistry()

    async def agent_factory(_call: CallInfo) -> ScriptedAgent:
        # Not tests.fakes.AgentFactoryFor: it keeps every agent, which would grow RSS per call.
        return ScriptedAgent({"1": reply}, greeting=greeting)

    tts = FakeTTS()
    tts.spoken = deque(maxlen=16)  # FakeTTS keeps every phrase; a long ramp must not grow RSS
    services = CallServices(
        agent_factory=agent_factory,
        registry=registry,
        tokens=CallTokens(""),  # random key: the webhook issues, the stream checks
        tts=tts,
        stt=FakeSTT([]) if stt else None,  # decodes every caller frame, never hears speech
        clock=clock,
        # Every bench call comes from the script's one caller number: the per-caller
        # limits (2 at once by default) would refuse all but two. Capacity, not admission.
        limit_store=MemoryLimitStore(
            CallLimits(calls_per_hour_per_caller=0, concurrent_per_caller=0, concurrent_total=0)
        ),
    )
    settings = Settings(twilio_auth_token="")
    app = _with_stats(create_app(settings, services=services), clock, registry, GcPauses())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(LISTEN_BACKLOG)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            ws=ws,
            ws_max_size=settings.max_message_bytes,
            lifespan="on",
            access_log=False,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    loop = asyncio.get_running_loop()

    def stop() -> None:
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    if not sys.stdin.isatty():
        # Run by bench_calls: stdin is its pipe. EOF means the parent is gone (even killed),
        # and the server must not outlive it.
        def watch_parent() -> None:
            sys.stdin.read()
            loop.call_soon_threadsafe(stop)

        threading.Thread(target=watch_parent, daemon=True).start()
    for _ in range(500):  # 10 s at most
        if server.started or serving.done():
            break
        await asyncio.sleep(0.02)
    if not server.started:
        failure = serving.exception() if serving.done() else None
        print(f"FAILED server did not start: {failure!r}", flush=True)
        return
    print(f"READY {sock.getsockname()[1]} {os.getpid()}", flush=True)
    await serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--greeting-s", type=float, default=7.0, help="greeting length, seconds")
    parser.add_argument("--reply-s", type=float, default=2.0, help="reply to the key, seconds")
    parser.add_argument("--no-stt", action="store_true", help="no recogniser: skip decoding")
    parser.add_argument(
        "--ws", default="websockets-sansio", help="uvicorn WebSocket implementation (as `serve`)"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.greeting_s, args.reply_s, not args.no_stt, args.ws))


if __name__ == "__main__":
    main()
