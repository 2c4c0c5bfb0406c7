"""The real clinic graph's cost per caller turn, at turn 1 and turn 200.

One long call to the Riverside Family Clinic receptionist (the explicit
graph, no chat model), through exactly what the phone service runs: the compiled
graph with the SQLite checkpointer and store (``open_flow_agents``), the
``GraphAgent`` runner, the message window, the transcript and checkpoint
pruning after every turn. The caller cycles through questions (hours,
parking, prices, insurance) and availability, which takes a tool call, so
turns are understand -> answer -> tools -> report runs and
understand -> collect -> check_availability -> tools -> report runs.

Printed (ms, min / median over the calls, and past turn 1 over the ten turns
ending at the one shown):

* TTFT: the caller's text handed to the runner -> the first reply token
  (what the caller waits for, before speech synthesis);
* turn: the whole run including the after-turn upkeep;
* the database after the call (WAL folded in) and the transcript's size.

Run: ``uv run python bench/bench_clinic_turns.py [--turns 200] [--calls 3]``.
Prints figures, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from dialgraph import load_flow
from graphs.runtime.service import open_flow_agents

REPO = Path(__file__).resolve().parents[1]

QUESTIONS = [
    "what time do you close on saturday",
    "is there parking",
    "how much is a checkup",
    "anything free on friday morning",
    "do you take insurance",
    "where are you located",
]
MARKS = (1, 50, 100, 200)


async def one_call(turns: int, workdir: Path, call: int) -> dict[int, tuple[float, float]]:
    timings: dict[int, tuple[float, float]] = {}
    async with open_flow_agents(
        load_flow("clinic", root=REPO), var_dir=workdir, today="2026-11-24T08:00"
    ) as agents:
        agent = await agents(SimpleNamespace(call_sid=f"CAbench{call}", caller="+15550001111"))
        async for _ in agent.respond("", source="start"):
            pass
        for turn, text in zip(range(1, turns + 1), itertools.cycle(QUESTIONS), strict=False):
            started = time.perf_counter()
            first = None
            async for _ in agent.respond(text):
                if first is None:
                    first = time.perf_counter()
            ended = time.perf_counter()
            timings[turn] = ((first or ended) - started, ended - started)
        await agent.aclose()
    return timings


def window(timings: list[dict[int, tuple[float, float]]], turn: int, which: int) -> list[float]:
    lo = 1 if turn == 1 else max(1, turn - 9)
    return [t[n][which] * 1000 for t in timings for n in range(lo, turn + 1) if n in t]


def fmt(values: list[float]) -> str:
    return f"{min(values):6.1f} / {statistics.median(values):6.1f}"


def db_bytes(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


async def main_async(turns: int, calls: int) -> None:
    print(f"clinic graph (no chat model), SQLite: {calls} call(s) of {turns} turns each")
    results = []
    sizes, transcripts = [], []
    for call in range(calls):
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            results.append(await one_call(turns, workdir, call))
            sizes.append(db_bytes(workdir / "dialgraph.db"))
            transcripts.append(sum(p.stat().st_size for p in (workdir / "transcripts").glob("*")))
    print(f"{'turn':>6}  {'TTFT ms (min/med)':>18}  {'turn ms (min/med)':>18}")
    for mark in MARKS:
        if mark <= turns:
            ttft, whole = fmt(window(results, mark, 0)), fmt(window(results, mark, 1))
            print(f"{mark:>6}  {ttft:>18}  {whole:>18}")
    print(
        f"database after {turns} turns: {statistics.median(sizes) / 1e6:.2f} MB "
        f"(checkpoints pruned to the latest 30, messages windowed to 40)"
    )
    print(
        f"transcript: {statistics.median(transcripts) / 1e3:.0f} kB (the whole call, append-only)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main_async(args.turns, args.calls))


if __name__ == "__main__":
    main()
