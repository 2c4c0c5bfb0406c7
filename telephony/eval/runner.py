"""A suite run: every scenario (in every voice and line condition asked for), judged, reported.

Calls run concurrently (``parallel`` at a time); each gets a folder of its own
under the run's output folder (its database, transcripts and, in audio mode,
its recording). One line is printed as each call finishes, and the summary
table at the end gives the success rate per mode, voice and line condition
(the reports themselves: :mod:`telephony.eval.report`).
A call that crashes fails its scenario with the error in one line; the run
goes on.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from graphs.runtime.loader import Flow
from memory.encryption import load_or_create_key_file
from telephony.eval.caller import EXACT, HEARD
from telephony.eval.judges import judge
from telephony.eval.results import CallRecord, ScenarioResult
from telephony.eval.scenario import Scenario
from telephony.eval.text_mode import run_text
from telephony.settings import Settings
from telephony.speech.base import TextToSpeech

if TYPE_CHECKING:
    from telephony.eval.audio_mode import AudioRig

__all__ = ["RunOptions", "Variant", "format_summary", "run_suite", "summary_rows"]

Mode = Literal["text", "audio"]


@dataclass(frozen=True, slots=True)
class Variant:
    """One way to play a scenario: text, or audio in a voice (``""``: the scenario's).

    ``noise_snr_db`` puts every scenario on a noisy line at that SNR (babble
    unless the scenario names its noise); ``None``: the scenario's own line.
    ``tag`` plays only the scenarios with that tag (``None``: all of them),
    e.g. a subset on noisy lines, where every call takes its longest.
    """

    mode: Mode
    voice: str = ""
    noise_snr_db: float | None = None
    tag: str | None = None

    def plays(self, scenario: Scenario) -> bool:
        """Whether this variant plays ``scenario``."""
        return self.tag is None or self.tag in scenario.tags


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run a suite.

    Attributes:
        out: The run's output folder (reports, and a folder per call).
        parallel: Calls at once.
        variants: The ways to play each scenario.
        caller_model: A chat model that plays the scenarios with a ``goal``
            (:mod:`telephony.eval.model_caller`); ``None``: those are skipped.
    """

    out: Path
    parallel: int = 4
    variants: tuple[Variant, ...] = (Variant("text"),)
    caller_model: Any = None


async def run_suite(
    scenarios: Sequence[Scenario],
    flow: Flow,
    options: RunOptions,
    *,
    settings: Settings | None = None,
    progress: Callable[[str], None] = print,
) -> list[ScenarioResult]:
    """Play every scenario in every variant, judge each call, return the results in order.

    Audio variants start one server for the run (:class:`AudioRig`) with
    ``settings``' engines (default: the embedded ones). A scenario played by
    a model (a ``goal``) is skipped, with a line saying so, when
    ``options`` has no caller model.
    """
    if options.caller_model is None and (skipped := [s.name for s in scenarios if s.goal]):
        progress(
            f"  skipping {len(skipped)} scenario(s) a chat model plays ({', '.join(skipped)}):"
            " no caller model (--caller-model or DIALGRAPH_EVAL_CALLER_MODEL)"
        )
        scenarios = [s for s in scenarios if not s.goal]
    jobs = [(s, v) for v in options.variants for s in scenarios if v.plays(s)]
    options.out.mkdir(parents=True, exist_ok=True)
    # Each call starts from a fresh database: a previous run's calls in this folder go.
    shutil.rmtree(options.out / "calls", ignore_errors=True)
    key = load_or_create_key_file(options.out)  # one key for the run's databases, kept with them
    async with AsyncExitStack() as stack:
        rig = None
        if any(v.mode == "audio" for v in options.variants):
            from telephony.eval.audio_mode import AudioRig

            progress("  starting the server and loading the speech engines ...")
            rig = await stack.enter_async_context(
                AudioRig(
                    settings or Settings(),
                    flow,
                    out=options.out,
                    encryption_key=key,
                    parallel=options.parallel,
                    voice=caller_voice,
                    caller_model=options.caller_model,
                )
            )
        return await _run_jobs(jobs, flow, options, key=key, rig=rig, progress=progress)


async def _run_jobs(
    jobs: list[tuple[Scenario, Variant]],
    flow: Flow,
    options: RunOptions,
    *,
    key: str,
    rig: AudioRig | None,
    progress: Callable[[str], None],
) -> list[ScenarioResult]:
    gate = asyncio.Semaphore(max(1, options.parallel))
    done = 0
    width = len(str(len(jobs)))

    async def one(index: int, scenario: Scenario, variant: Variant) -> ScenarioResult:
        nonlocal done
        async with gate:
            folder = options.out / "calls" / f"{index:03d}-{scenario.name}"
            folder.mkdir(parents=True, exist_ok=True)
            if variant.mode == "text":
                call = await run_text(
                    scenario,
                    flow,
                    var_dir=folder,
                    encryption_key=key,
                    caller_model=options.caller_model,
                )
                similarity = EXACT
            else:
                assert rig is not None  # started above for any audio variant
                voice = variant.voice or scenario.caller.voice
                call = await rig.play(scenario, voice, folder, snr_db=variant.noise_snr_db)
                similarity = HEARD
            result = ScenarioResult(call, judge(scenario, call, similarity=similarity))
        done += 1
        verdict = "pass" if result.passed else "FAIL"
        progress(
            f"  {done:>{width}}/{len(jobs)}  {verdict}  {scenario.name:<32} {_label(call):<18}"
            f" {len(call.exchanges):>2} replies {call.duration_s:6.1f} s"
            + (f"  {result.reason}" if result.reason else "")
        )
        return result

    return list(await asyncio.gather(*(one(i, s, v) for i, (s, v) in enumerate(jobs, 1))))


def caller_voice(name: str) -> TextToSpeech:
    """The caller's voice by name (``""``: the softphone's default, Piper pitched up)."""
    if not name or name == "default":
        from telephony.softphone import default_caller_voice

        return default_caller_voice()
    from telephony.eval.voices import caller_voice as named

    return named(name)


# -- the summary -------------------------------------------------------------------


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def summary_rows(results: Iterable[ScenarioResult]) -> list[dict[str, Any]]:
    """Per variant (mode, voice, line) and overall: calls, passed, success rate, latency."""
    groups: dict[str, list[ScenarioResult]] = defaultdict(list)
    everything = list(results)
    for r in everything:
        groups[_label(r.call)].append(r)
    groups["all"] = everything  # last
    rows = []
    for label, items in groups.items():
        if not items:
            continue
        latencies = [
            e.voice_to_voice_ms
            for r in items
            for e in r.call.exchanges
            if e.voice_to_voice_ms is not None
        ]
        passed = sum(r.passed for r in items)
        rows.append(
            {
                "variant": label,
                "calls": len(items),
                "passed": passed,
                "success": passed / len(items),
                "voice_to_voice_p50_ms": _percentile(latencies, 50),
                "voice_to_voice_p95_ms": _percentile(latencies, 95),
            }
        )
    return rows


def _label(call: CallRecord) -> str:
    """The variant a call was played in, as the summary names it (the scenario's voice included)."""
    return "text" if call.mode == "text" else f"{call.voice or 'default'} / {_noise_of(call.line)}"


def _noise_of(line: str) -> str:
    """The report's rows are per voice and noise level: ``babble 10 dB`` counts as ``10 dB``."""
    parts = line.split(",", maxsplit=1)[0].split()
    return "clean" if parts[:1] == ["clean"] else " ".join(parts[-2:])


def format_summary(rows: Sequence[dict[str, Any]]) -> str:
    """The summary as a Markdown table (what the terminal and a note show)."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} ms"

    lines = [
        "| variant | calls | passed | success | voice-to-voice p50 | p95 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['variant']} | {row['calls']} | {row['passed']} | {row['success']:.0%} |"
            f" {ms(row['voice_to_voice_p50_ms'])} | {ms(row['voice_to_voice_p95_ms'])} |"
        )
    return "\n".join(lines)
