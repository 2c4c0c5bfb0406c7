"""``dialgraph demo``: a whole simulated phone call on one machine.

Starts the real service (Litestar under uvicorn) on a free loopback port with
the embedded engines, then the softphone calls it over real HTTP and
WebSocket exactly as Twilio would (signed webhook, signed stream, real-time
audio, marks, clear). Prints a live transcript and per-turn timings and
writes ``var/demo/``: ``call.wav`` (left caller, right agent) and
``report.json``.

Any graph can be demonstrated (``dialgraph demo --graph SPEC``). The caller's
script is, first found:

1. ``--script FILE``;
2. ``demo.toml`` next to the graph's module: a team ships the demo call of
   its flow with the flow;
3. :data:`GENERIC_SCRIPT`: hello, a question, goodbye; it fits any flow.

Everything printed or written is redacted with the flow's own rules.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphs.runtime.loader import Flow, module_file
from telephony.call.report import TurnTiming
from telephony.call.services import CallServices
from telephony.services import build_services, load_redactor, open_flow
from telephony.settings import Settings
from telephony.speech.base import TextToSpeech
from telephony.wire.calltoken import CallTokens

if TYPE_CHECKING:
    from telephony.softphone import CallResult, Script

__all__ = [
    "FLOW_SCRIPT_NAME",
    "GENERIC_SCRIPT",
    "DemoCall",
    "place_demo_call",
    "run_demo",
    "script_for",
]

FLOW_SCRIPT_NAME = "demo.toml"  # a flow's own demo call, next to its module
GENERIC_SCRIPT = """
description = "A caller says hello, asks what the line can do, and says goodbye"

[[step]]
wait_for_agent = true   # the greeting

[[step]]
say = "Hello."

[[step]]
wait_for_agent = true

[[step]]
say = "What can you help me with?"

[[step]]
wait_for_agent = true

[[step]]
say = "Goodbye."

[[step]]
wait_for_agent = true
timeout_ms = 8000
"""
"""The demo call for a graph without a script of its own: it fits any flow."""


def _step(label: str) -> float:
    print(f"  {label} ...", end="", flush=True)
    return time.perf_counter()


def _done(started: float) -> None:
    print(f" ready ({time.perf_counter() - started:.1f} s)", flush=True)


async def _warm_tts(tts: TextToSpeech) -> None:
    async for _ in tts.synthesize("Hello."):
        pass


class _Transcript:
    """Prints what is said as the call goes (the server side's view)."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        self.lines: list[dict[str, Any]] = []
        self.turns: list[TurnTiming] = []  # the server's timing of each answered caller input
        self._redact = redact

    def __call__(self, call_sid: str, who: str, text: str, timing: TurnTiming | None) -> None:
        text = self._redact(text)  # printed and written to report.json: never raw
        entry: dict[str, Any] = {"who": who, "text": text}
        if timing is not None and who == "agent" and timing.source in {"speech", "dtmf"}:
            self.turns.append(timing)
        if timing is not None and who == "agent":
            entry["first_token_ms"] = timing.ms(timing.first_token_at)
            entry["first_audio_ms"] = timing.ms(timing.first_audio_at)
        self.lines.append(entry)
        label = "caller" if who == "caller" else "agent "
        extra = ""
        if "first_audio_ms" in entry and timing is not None and timing.source != "start":
            extra = (
                f"   (first token {entry['first_token_ms']} ms,"
                f" first audio {entry['first_audio_ms']} ms)"
            )
        print(f"    {label}: {text}{extra}", flush=True)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


async def _call(
    settings: Settings, flow: Flow, services: CallServices, caller_script: Script, out: Path
) -> CallResult | None:
    """Serve on a free loopback port and place the scripted call against it."""
    import uvicorn

    from telephony.softphone import default_caller_voice, place_call
    from telephony.web import create_app

    started = _step("loading the caller's voice")
    caller_voice = default_caller_voice()
    await _warm_tts(caller_voice)
    _done(started)

    sock = _free_socket()
    port = sock.getsockname()[1]
    token = secrets.token_hex(16)  # the demo signs its own requests, as Twilio would
    settings = settings.replace(twilio_auth_token=token, public_url=f"http://127.0.0.1:{port}")
    services.tokens = CallTokens(token, ttl=settings.call_token_ttl)
    app = create_app(settings, graph=flow, services=services)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            ws="websockets-sansio",
            ws_max_size=settings.max_message_bytes,
            lifespan="on",
            access_log=False,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            print("dialgraph demo: the server failed to start", file=sys.stderr)
            return None
        await asyncio.sleep(0.02)
    print(f"  server listening on {settings.public_url} (graph: {flow.id})")
    print("  calling ...\n")

    try:
        result = await place_call(
            settings.public_url,
            caller_script,
            auth_token=token,
            tts=caller_voice,
            record_to=out / "call.wav",
            print_progress=lambda line: print(f"    {line}", flush=True),
        )
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
    return result


def latency_table(
    result: CallResult,
    server_turns: list[TurnTiming],
    redact: Callable[[str], str] | None = None,
) -> list[dict[str, Any]]:
    """Per caller turn: end of speech -> ASR final -> first token -> first audio.

    The softphone and the server share one clock in the demo, so the caller's
    end of speech (softphone) and the server's stages line up exactly. Each
    caller turn is matched to the first server turn whose input arrived after
    the caller stopped speaking. ``redact`` cleans the caller's words (default:
    the redactor without a flow's rules).
    """
    redact = redact or redact_text
    if result.started_at is None:
        return []
    rows, pool = [], list(server_turns)
    for turn in result.turns:
        if turn.response_ms is None:
            continue
        end = result.started_at + turn.end_ms / 1000
        match = next((t for t in pool if t.input_at >= end - 0.05), None)
        if match is None:
            continue
        pool.remove(match)

        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round((b - a) * 1000)

        rows.append(
            {
                "turn": turn.number,
                "input": turn.kind,
                "text": redact(turn.text),
                "speech_end_to_asr_final": ms(end, match.input_at),
                "asr_final_to_first_token": ms(match.input_at, match.first_token_at),
                "first_token_to_first_audio": ms(match.first_token_at, match.first_audio_at),
                "speech_end_to_first_audio_heard": round(turn.response_ms),
            }
        )
    return rows


def format_latency(rows: list[dict[str, Any]]) -> str:
    """The latency table as the README shows it."""
    header = (
        "| turn | caller | end of speech -> turn ended (ASR final + silence) "
        "| -> first token | -> first audio sent | end of speech -> agent audio at the caller |"
    )
    lines = [header, "| --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        text = row["text"] if len(row["text"]) <= 34 else row["text"][:31] + "..."
        lines.append(
            f"| {row['turn']} | {text} | {row['speech_end_to_asr_final']} ms "
            f"| {row['asr_final_to_first_token']} ms | {row['first_token_to_first_audio']} ms "
            f"| {row['speech_end_to_first_audio_heard']} ms |"
        )
    return "\n".join(lines)


def redact_text(text: str) -> str:
    from memory.redaction import redact_text as redact

    return redact(text)


def script_for(flow: Flow, script: Path | None = None) -> tuple[Script, str]:
    """The caller's script for ``flow``'s demo call, and where it came from.

    See the module doc for the order: ``script``, the flow's own
    ``demo.toml``, the generic call.

    Raises:
        ScriptError: The chosen file is missing or invalid.
    """
    from telephony.softphone import load_script, parse_script

    if script is not None:
        return load_script(script), str(script)
    module = module_file(flow)
    own = module.parent / FLOW_SCRIPT_NAME if module is not None else None
    if own is not None and own.is_file():
        return load_script(own), str(own)
    return parse_script(GENERIC_SCRIPT, source="the generic demo call"), "the generic demo call"


@dataclass
class DemoCall:
    """One demo call, placed: what the softphone saw and what was written.

    Attributes:
        result: The softphone's view (outcome, turns, timings, recording).
        report: What ``report.json`` holds (the redacted transcript included).
        out: The folder with ``call.wav``, ``report.json`` and the transcripts.
        database_url: The call's database (state, side effects), for Studio or a
            test's own look; ``dialgraph.db`` in ``out`` unless one was given.
    """

    result: CallResult
    report: dict[str, Any]
    out: Path
    database_url: str

    @property
    def ok(self) -> bool:
        """Whether the call connected and ended normally."""
        return self.result.outcome in {"completed", "remote_closed"}


async def run_demo(
    settings: Settings,
    *,
    flow: Flow | None = None,
    script: Path | None = None,
    out: Path | None = None,
) -> int:
    """Run the demo call against ``flow`` (default: ``settings.graph``); returns the exit code.

    Raises:
        ConfigError: The graph or a setting is unusable.
        ScriptError: The caller's script is.
    """
    call = await place_demo_call(settings, flow=flow, script=script, out=out)
    return 0 if call is not None and call.ok else 1


async def place_demo_call(
    settings: Settings,
    *,
    flow: Flow | None = None,
    script: Path | None = None,
    out: Path | None = None,
    database_url: str = "",
) -> DemoCall | None:
    """Place the demo call (printing it as it goes); ``None`` if the server did not start.

    The call gets a fresh database in ``out`` unless ``database_url`` names
    one (tests that read several calls in one place, e.g. from Studio).

    Raises:
        ConfigError: The graph or a setting is unusable.
        ScriptError: The caller's script is.
    """
    flow = flow or open_flow(settings.graph)

    # The live transcript below is the demo's view; keep per-request logs quiet.
    for name in ("httpx", "dialgraph"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))
    out = out or settings.var_dir / "demo"
    out.mkdir(parents=True, exist_ok=True)
    # A fresh database each run: the demo's caller is a new caller, and the
    # demo never touches the service's own database under var/.
    for stale in [*out.glob("dialgraph.db*"), *out.glob("transcripts/*.jsonl")]:
        stale.unlink()
    settings = settings.replace(var_dir=out, database_url=database_url)
    caller_script, script_source = script_for(flow, script)
    print(f"Dialgraph demo: {caller_script.description or script_source} (graph: {flow.id})")

    started = _step(f"loading speech ({settings.tts}, {settings.stt}) and the {flow.id} graph")
    redactor = await load_redactor(flow.phone.redaction_rules())
    transcript = _Transcript(redactor.redact)
    async with build_services(
        settings, flow=flow, observer=transcript, warm_decoders=1
    ) as services:
        _done(started)
        result = await _call(settings, flow, services, caller_script, out)
        if result is None:
            return None

    print()
    print(result.summary())
    latency = latency_table(result, transcript.turns, redactor.redact)
    if latency:
        print("\n" + format_latency(latency))
    report = {
        "script": script_source,
        "graph": flow.id,
        "outcome": result.outcome,
        "detail": result.detail,
        "call_sid": result.call_sid,
        "transcript": transcript.lines,
        # The caller's own words stay out of the report (the transcript has them redacted).
        "turns": [{k: v for k, v in asdict(t).items() if k != "text"} for t in result.turns],
        "late_frames": result.late_frames,
        "max_lateness_ms": result.max_lateness_ms,
        "clears_received": result.clears_received,
        "marks_echoed": result.marks_echoed,
        "duration_ms": result.duration_ms,
        "warnings": result.warnings,
        "latency_ms": [{k: v for k, v in row.items() if k != "text"} for row in latency],
    }
    if result.call_sid:
        from graphs.runtime.runner import thread_id_for_call

        thread = thread_id_for_call(result.call_sid)
        report["thread_id"] = thread
        if not settings.database_url:  # a database of the caller's own is theirs to show
            print(
                f"\n  LangGraph Studio: thread {thread} in {out / 'dialgraph.db'}\n"
                f"    DIALGRAPH_DATABASE_URL=sqlite:///{out.resolve() / 'dialgraph.db'} "
                "LANGGRAPH_CLI_NO_ANALYTICS=1 LANGGRAPH_NO_VERSION_CHECK=true "
                "LANGSMITH_TRACING=false uv run langgraph dev --no-browser"
            )
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"  transcript: {out / 'transcripts' / (result.call_sid + '.jsonl')}")
    print(f"  report:     {out / 'report.json'}")
    database = settings.database_url or f"sqlite:///{(out / 'dialgraph.db').resolve()}"
    return DemoCall(result, report, out, database)
