"""The ``dialgraph`` command line: ``serve``, ``call``, ``demo``, ``dial``.

Every option has a matching environment variable (listed by ``--help``);
options win over the environment, the environment over ``.env``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from telephony.cli.preflight import check_for_serving
from telephony.settings import (
    GRAPH_FORMS,
    ConfigError,
    Settings,
    load_settings,
    settings_help,
)

__all__ = ["main"]

_EPILOG = "environment variables (also read from ./.env):\n" + settings_help()
_GRAPH_HELP = (
    f"the graph to put on the phone: {GRAPH_FORMS} (DIALGRAPH_GRAPH; default: the first "
    "graph in langgraph.json)"
)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    install_redaction()


def install_redaction() -> None:
    """Redact personal data (names, phone and card numbers, e-mails, Aadhaar,
    SSN) from every log line, on every handler, before it is written. The
    app switches every filter to the flow's rules once it has loaded it."""
    from memory.redaction_logging import install_redaction as install

    install()


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dialgraph",
        description="Put LangGraph agents on the telephone (Twilio Media Streams).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="serve Twilio's voice webhook and media streams",
        description="Serve POST /twilio/voice, POST /twilio/status, WS /twilio/media, "
        "GET /healthz.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--graph", metavar="SPEC", help=_GRAPH_HELP)
    serve.add_argument("--host", help="bind address (DIALGRAPH_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="bind port (DIALGRAPH_PORT, default 8080)")
    serve.add_argument("--public-url", help="base URL Twilio reaches (DIALGRAPH_PUBLIC_URL)")
    serve.add_argument(
        "--drain-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="on SIGTERM/Ctrl-C, wait this long for live calls to end before stopping "
        "(/readyz answers 503 meanwhile; calls still live then hear a goodbye; a second "
        "signal stops at once; 0: stop at once). Default 300",
    )

    call = sub.add_parser(
        "call",
        help="place a scripted call against a Dialgraph URL (plays Twilio's side)",
        description="The softphone: signs the webhook, follows the TwiML, streams the script's "
        "audio in real time, plays and records the agent, prints per-turn timing.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    call.add_argument("url", help="base URL of the Dialgraph server, e.g. http://127.0.0.1:8080")
    call.add_argument("--script", required=True, type=Path, help="caller script (TOML)")
    call.add_argument(
        "--record",
        type=Path,
        default=None,
        help="write the call as a stereo WAV here (left caller, right agent)",
    )
    call.add_argument(
        "--auth-token",
        default=None,
        help="sign requests with this Twilio auth token (default: TWILIO_AUTH_TOKEN)",
    )
    call.add_argument("--caller", default="+15550100123", help="caller number (From)")

    demo = sub.add_parser(
        "demo",
        help="run the server on loopback and place a whole scripted call against it",
        description="Starts the service with the embedded defaults on a free loopback port, "
        "places a scripted call with the softphone, prints the transcript and timings, and "
        "writes var/demo/ (stereo WAV, JSON report). The caller's script: --script, else "
        "demo.toml next to the graph's module, else a short generic call (hello, a "
        "question, goodbye).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--graph", metavar="SPEC", help=_GRAPH_HELP)
    demo.add_argument("--script", type=Path, default=None, help="another caller script (TOML)")
    demo.add_argument("--out", type=Path, default=None, help="output folder (default var/demo)")

    new = sub.add_parser(
        "new",
        help="write a runnable starter flow (graph, phone settings, demo script, tests)",
        description="Writes NAME/ in the working directory: the flow as its own package "
        "(NAME_flow/graph.py with its PhoneSettings), a softphone script, langgraph.json for "
        "Studio, and tests (one conversation as text, one whole call through the softphone) "
        "that pass on the first run: uv run pytest NAME.",
    )
    new.add_argument("name", help="a lower-case Python name, e.g. acme_support")

    transcript = sub.add_parser(
        "transcript",
        help="print a call's (redacted) transcript, from the files or Postgres",
        description="Reads the transcript the service wrote for CALL_SID, from "
        "DIALGRAPH_DATABASE_URL when it is Postgres, else from DIALGRAPH_VAR_DIR/transcripts.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    transcript.add_argument("call_sid", help="the call's CallSid (CA...)")
    transcript.add_argument("--json", action="store_true", help="one JSON object per line")

    sub.add_parser(
        "rekey",
        help="re-encrypt stored checkpoints and caller memory under the newest key",
        description="After putting a new key first (DIALGRAPH_CHECKPOINT_KEY=new,old) and "
        "restarting, re-encrypts every checkpoint and caller-memory item in "
        "DIALGRAPH_DATABASE_URL under the new key (plain rows too); then the old key may be "
        "dropped. Safe while calls run and safe to run again.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    from telephony.cli.eval import add_eval_parser

    add_eval_parser(sub, _GRAPH_HELP)

    dial = sub.add_parser(
        "dial",
        help="ring a number; the answered call talks to the graph (after the compliance gate)",
        description="Checks the do-not-call list and the calling hours in the callee's time "
        "zone, then asks Twilio to ring NUMBER. On answer Twilio fetches "
        "DIALGRAPH_PUBLIC_URL/twilio/voice, so the call streams into the graph served by "
        "`dialgraph serve` there. Prints the new call's SID. Exit status: 0 placed, "
        "1 Twilio refused, 2 configuration error, 3 refused by the compliance gate.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dial.add_argument("number", help="the callee in E.164, e.g. +13125550123")
    dial.add_argument(
        "--from",
        dest="from_",
        metavar="E164",
        default=None,
        help="your Twilio number (DIALGRAPH_OUTBOUND_FROM)",
    )
    dial.add_argument("--public-url", help="base URL Twilio reaches (DIALGRAPH_PUBLIC_URL)")
    dial.add_argument(
        "--dnc-list", type=Path, default=None, help="do-not-call list (DIALGRAPH_DNC_LIST)"
    )
    dial.add_argument(
        "--machine-detection",
        choices=("Enable", "DetectMessageEnd"),
        default=None,
        help="override, for this call, the answering-machine detection Twilio is asked "
        "for (default: from DIALGRAPH_VOICEMAIL; the server acts on its own setting)",
    )
    dial.add_argument(
        "--check",
        action="store_true",
        help="only run the compliance gate and print its decision; place no call",
    )
    return parser


def _with_graph(args: argparse.Namespace, settings: Settings) -> tuple[Settings, str]:
    """``--graph`` over ``DIALGRAPH_GRAPH``, and which of them named it (for messages)."""
    if args.graph is None:
        return settings, "DIALGRAPH_GRAPH"
    if not args.graph.strip():
        raise ConfigError(f"--graph: name a graph: {GRAPH_FORMS}")
    return settings.replace(graph=args.graph.strip()), "--graph"


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from telephony.services import open_flow
    from telephony.web import create_app
    from telephony.web.app import server_protocols
    from telephony.web.drain import DrainingServer

    changes = {
        k: v
        for k, v in {"host": args.host, "port": args.port, "public_url": args.public_url}.items()
        if v
    }
    settings, source = _with_graph(args, settings.replace(**changes))
    problems = check_for_serving(settings)
    if problems:
        print("dialgraph serve: refusing to start:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    flow = open_flow(settings.graph, source=source)  # a bad graph stops here, in one line
    if not settings.twilio_auth_token:
        logging.getLogger("dialgraph").warning(
            "TWILIO_AUTH_TOKEN is not set: requests are NOT signature-checked "
            "(fine on loopback, never on a public URL)"
        )
    app = create_app(settings, graph=flow)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        ws_max_size=settings.max_message_bytes,
        proxy_headers=settings.trust_forwarded,
        lifespan="on",
        # websockets-sansio for the media stream, a header timeout and the idle
        # (keep-alive) timeout: DIALGRAPH_HEADER_TIMEOUT, DIALGRAPH_IDLE_TIMEOUT.
        **server_protocols(settings),
    )
    install_redaction()  # uvicorn's Config just made its own handlers: cover them too
    server = DrainingServer(
        config,
        drain=app.state.drain,
        live_calls=lambda: len(app.state.services.registry),
        end_calls=lambda: app.state.services.registry.end_all_politely(),  # noqa: PLW0108 - services exist only once the lifespan ran
        timeout_s=args.drain_timeout,
    )
    server.run()
    return 0


def _call(args: argparse.Namespace, settings: Settings) -> int:
    from telephony.softphone import main_call

    token = args.auth_token if args.auth_token is not None else settings.twilio_auth_token
    return asyncio.run(main_call(args.url, args.script, args.record, token or None))


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from telephony.cli.demo import run_demo
    from telephony.services import open_flow

    settings, source = _with_graph(args, settings)
    flow = open_flow(settings.graph, source=source)
    return asyncio.run(run_demo(settings, flow=flow, script=args.script, out=args.out))


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from telephony.cli.eval import run_eval
    from telephony.services import open_flow

    settings, source = _with_graph(args, settings)
    return run_eval(args, settings, open_flow(settings.graph, source=source))


def _new(args: argparse.Namespace, settings: Settings) -> int:
    from telephony.cli.starter import StarterError, write_starter

    try:
        root = write_starter(args.name)
    except StarterError as exc:
        print(f"dialgraph: {exc}", file=sys.stderr)
        return 2
    package = f"{args.name}/{args.name}_flow"
    print(f"wrote {root}/")
    print(f"  {package}/graph.py     the graph and its phone settings")
    print(f"  {package}/demo.toml    a whole call, for the softphone")
    print(f"  tests/test_{args.name}.py  the flow as text, and one call through the softphone")
    print("next:")
    print(f"  uv run pytest {args.name}")
    print(f"  uv run dialgraph demo --graph {package}/graph.py:graph")
    return 0


def _transcript(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses
    import json

    from memory.transcripts import load_transcript

    entries = asyncio.run(
        load_transcript(
            args.call_sid,
            database_url=settings.database_url or None,
            var_dir=Path(settings.var_dir),
        )
    )
    if not entries:
        print(f"dialgraph: no transcript for {args.call_sid}", file=sys.stderr)
        return 1
    for entry in entries:
        if args.json:
            print(json.dumps(dataclasses.asdict(entry), ensure_ascii=False))
        else:
            calls = ", ".join(call.get("name", "?") for call in entry.tool_calls)
            text = entry.text or (f"(calls {calls})" if calls else "")
            marks = "".join(
                f" [{mark}]" for mark in ("interrupted", "runtime") if entry.meta.get(mark)
            )
            print(f"{entry.seq:3d} {entry.ts[11:19]} {entry.role:>6}: {text}{marks}")
    return 0


def _rekey(args: argparse.Namespace, settings: Settings) -> int:
    from memory.rekey import rotate

    try:
        report = asyncio.run(
            rotate(
                settings.database_url or None,
                settings.checkpoint_key,
                var_dir=Path(settings.var_dir),
            )
        )
    except ValueError as exc:  # off, or a row under an unlisted key (messages hold no key)
        print(f"dialgraph: {exc}", file=sys.stderr)
        return 2
    print(
        f"re-encrypted {report.checkpoint_rows} checkpoint rows "
        f"and {report.store_items} caller-memory items under the newest key"
    )
    return 0


def _dial(args: argparse.Namespace, settings: Settings) -> int:
    from telephony.admission.compliance import ComplianceGate
    from telephony.outbound.dial import DialRefused, place_outbound_call
    from telephony.speech.base import ProviderError

    if args.public_url:
        settings = settings.replace(public_url=args.public_url.rstrip("/"))
    dnc = args.dnc_list or settings.dnc_list
    if args.check:
        decision = ComplianceGate(dnc, allowed_hours=settings.calling_hours).check(args.number)
        print(decision.reason)
        return 0 if decision.allowed else 3
    try:
        sid = asyncio.run(
            place_outbound_call(
                args.number,
                settings,
                from_=args.from_ or settings.outbound_from,
                dnc_path=dnc,
                calling_hours=settings.calling_hours,
                machine_detection=args.machine_detection,
                api_url=settings.twilio_api_url,
            )
        )
    except DialRefused as exc:
        print(f"dialgraph: not dialling: {exc}", file=sys.stderr)
        return 3
    except ProviderError as exc:
        print(f"dialgraph: the call was not placed: {exc}", file=sys.stderr)
        return 1
    print(sid)
    return 0


def _export_env_file(path: str = ".env") -> None:
    """Put ``.env`` into the process environment (what is already set wins).

    Flows read settings of their own (the bundled ones: ``DIALGRAPH_MODEL``,
    ``OPENAI_API_KEY``) from the environment, as ``langgraph dev`` gives them
    ``.env`` too: one file configures the service and its graph.
    """
    if os.path.isfile(path):
        from dotenv import load_dotenv

        load_dotenv(path, override=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dialgraph`` command."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before onnxruntime loads
    parser = _build_parser()
    args = parser.parse_args(argv)
    _export_env_file()
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"dialgraph: configuration error: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    handlers = {
        "serve": _serve,
        "call": _call,
        "demo": _demo,
        "new": _new,
        "transcript": _transcript,
        "rekey": _rekey,
        "dial": _dial,
        "eval": _eval,
    }
    try:
        return handlers[args.command](args, settings)
    except ConfigError as exc:
        print(f"dialgraph: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `dialgraph transcript CA... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
