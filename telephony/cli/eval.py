"""``dialgraph eval``: run a suite of simulated callers against a flow and report.

Picks the suite (``SUITE`` or the flow's own ``evals/`` folder next to its
module), runs it (:mod:`telephony.eval.runner`), prints a line per call and
the summary table, writes the reports (``report.json``, JUnit ``report.xml``,
``report.html``; redacted) in the output folder, and exits 1
when the success rate is under ``--min-success``.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from telephony.eval.scenario import Scenario, ScenarioError, load_suite

if TYPE_CHECKING:  # the runner loads LangGraph: only when a suite runs, not for --help
    from graphs.runtime.loader import Flow
    from telephony.settings import Settings

__all__ = ["add_eval_parser", "run_eval"]

EVALS_FOLDER = "evals"  # a flow's own suite, next to its module
_QUIET_LOGGERS = ("memory", "tools", "graphs", "dialgraph", "httpx")


def add_eval_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], graph_help: str
) -> None:
    """The ``eval`` subcommand's arguments."""
    parser = sub.add_parser(
        "eval",
        help="run simulated callers against a flow and report what they achieved",
        description="Plays each scenario of SUITE (YAML files; default: the flow's own evals/ "
        "folder) against the flow, judges each call by its outcome (tools called, how it "
        "ended, what the agent said), prints a line per call and a summary, and writes "
        "report.json, report.xml (JUnit) and report.html to --out, redacted. Exit status 1 "
        "when the success rate is under --min-success.",
    )
    parser.add_argument("suite", nargs="?", type=Path, help="a folder of scenarios or one file")
    parser.add_argument("--graph", metavar="SPEC", help=graph_help)
    parser.add_argument(
        "--mode",
        choices=("text", "audio", "both"),
        default="text",
        help="text: the caller's words reach the flow as perfect transcripts (default); "
        "audio: whole phone calls through the server and the speech engines; both",
    )
    parser.add_argument(
        "--voices",
        default="",
        metavar="NAMES",
        help="audio mode: caller voices, comma-separated (default: each scenario's, else "
        "the softphone's own)",
    )
    parser.add_argument(
        "--noise-snr",
        default="",
        metavar="DBS",
        help="audio mode: also play every scenario over a noisy line at these SNRs, "
        "comma-separated (e.g. 20,10; babble where the scenario names no noise)",
    )
    parser.add_argument(
        "--noise-tag",
        default=None,
        metavar="TAG",
        help="audio mode: play only the scenarios with this tag on the --noise-snr lines "
        "(default: all of them; noisy calls run longest)",
    )
    parser.add_argument(
        "--caller-model",
        default=None,
        metavar="SPEC",
        help="a chat model that plays the scenarios with a goal, e.g. openai:gpt-4.1-mini "
        "(default: DIALGRAPH_EVAL_CALLER_MODEL; none: those scenarios are skipped)",
    )
    parser.add_argument("--parallel", type=int, default=4, help="calls at once (default 4)")
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="GLOB",
        help="only scenarios whose name matches (repeatable)",
    )
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        help="only scenarios with this tag (repeatable; e.g. smoke)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default var/eval/<flow>-<time>)"
    )
    parser.add_argument(
        "--min-success",
        type=float,
        default=0.0,
        metavar="RATE",
        help="exit 1 when fewer than RATE (0-1) of the calls pass (default 0)",
    )


def _suite_for(flow: Flow, suite: Path | None) -> Path:
    from graphs.runtime.loader import module_file

    if suite is not None:
        return suite
    module = module_file(flow)
    if module is None or not (module.parent / EVALS_FOLDER).is_dir():
        raise ScenarioError(
            f"the {flow.id} flow has no {EVALS_FOLDER}/ folder next to its module: "
            "name a suite (dialgraph eval path/to/scenarios)"
        )
    return module.parent / EVALS_FOLDER


def _selected(scenarios: list[Scenario], names: list[str], tags: list[str]) -> list[Scenario]:
    chosen = [
        s
        for s in scenarios
        if (not names or any(fnmatch.fnmatch(s.name, n) for n in names))
        and (not tags or set(tags) & set(s.tags))
    ]
    return chosen


def run_eval(args: argparse.Namespace, settings: Settings, flow: Flow) -> int:
    """Run ``dialgraph eval``; the exit status."""
    if not 0.0 <= args.min_success <= 1.0:
        print("dialgraph eval: --min-success is a rate between 0 and 1", file=sys.stderr)
        return 2
    try:
        scenarios = _selected(load_suite(_suite_for(flow, args.suite)), args.scenario, args.tag)
    except ScenarioError as exc:
        print(f"dialgraph eval: {exc}", file=sys.stderr)
        return 2
    if not scenarios:
        print("dialgraph eval: no scenario matches the filters", file=sys.stderr)
        return 2
    # The per-call lines below are the run's view; each call's own start-up lines are noise.
    quieted = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))
    try:
        return _run(args, settings, flow, scenarios)
    finally:
        for name, level in quieted.items():
            logging.getLogger(name).setLevel(level)


def _run(
    args: argparse.Namespace, settings: Settings, flow: Flow, scenarios: list[Scenario]
) -> int:
    from telephony.eval.report import write_reports
    from telephony.eval.runner import RunOptions, Variant, format_summary, run_suite, summary_rows

    out = args.out or settings.var_dir / "eval" / f"{flow.id}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    variants: list[Variant] = []
    if args.mode in ("text", "both"):
        variants.append(Variant("text"))
    if args.mode in ("audio", "both"):
        voices = [v.strip() for v in args.voices.split(",") if v.strip()] or [""]
        try:
            levels = [float(x) for x in args.noise_snr.split(",") if x.strip()]
        except ValueError:
            print(
                f"dialgraph eval: --noise-snr takes numbers, got {args.noise_snr!r}",
                file=sys.stderr,
            )
            return 2
        for voice in voices:
            variants.append(Variant("audio", voice))
            variants.extend(Variant("audio", voice, snr, args.noise_tag) for snr in levels)
    spec = settings.eval_caller_model if args.caller_model is None else args.caller_model
    caller_model = None
    if spec:
        from telephony.eval.model_caller import load_caller_model

        try:
            caller_model = load_caller_model(spec)
        except ValueError as exc:
            print(f"dialgraph eval: --caller-model: {exc}", file=sys.stderr)
            return 2
    options = RunOptions(
        out=out, parallel=args.parallel, variants=tuple(variants), caller_model=caller_model
    )
    if args.noise_tag and not any(args.noise_tag in s.tags for s in scenarios):
        print(
            f"dialgraph eval: --noise-tag {args.noise_tag}: no scenario has that tag",
            file=sys.stderr,
        )
        return 2
    playable = [s for s in scenarios if caller_model is not None or not s.goal]
    calls = sum(v.plays(s) for v in variants for s in playable)
    print(
        f"dialgraph eval: {len(playable)} scenario(s), {len(variants)} variant(s), "
        f"{calls} call(s) of the {flow.id} flow -> {out}"
    )
    results = asyncio.run(run_suite(scenarios, flow, options, settings=settings))
    if not results:
        print("dialgraph eval: no call was played", file=sys.stderr)
        return 2
    rows = summary_rows(results)
    print()
    print(format_summary(rows))
    for r in results:
        if not r.passed:
            print(f"  FAIL {r.call.scenario}: " + "; ".join(str(f) for f in r.failures))
    print("\nreports (redacted):")
    for path in write_reports(out, flow.id, results):
        print(f"  {path}")
    overall = next(row for row in rows if row["variant"] == "all")
    return 0 if overall["success"] >= args.min_success else 1
