"""Run the benchmarks one after another and print what each prints (``make bench``).

Run: ``uv run python bench/run_all.py``; a few minutes. Prints figures, never
pass/fail: each benchmark runs in its own process (so one's imports and
memory never colour the next), its output is passed through as it comes, and
a benchmark that crashes or overruns is reported and the next one still runs.
The exit status is non-zero only if a benchmark could not run to its end.

- ``bench_codec.py``: mu-law, resampling and framing cost per 20 ms frame.
- ``bench_frame.py``: protocol + codec cost per frame, both directions, and
  the share of a core that 1 and 100 calls spend there.
- ``bench_graph_turns.py --quick``: checkpointer designs at turn 1 vs 200.
- ``bench_clinic_turns.py``: the real clinic graph's turn cost at turn 1 vs 200.
- ``bench_understanding.py``: the bundled flows' offline understanding on
  recognised speech: per-intent precision and recall, and its time per turn.
- ``bench_speech.py``: recogniser word error (generic vs domain model, two voices), TTS first audio.
- ``bench_barge_in.py``: VAD onset delay and barge-in reaction on real speech.
- ``bench_calls.py --quick``: concurrent calls against a real server process,
  with its CPU and memory per call and whether any agent audio came late.
- ``bench_preauth.py``: RSS per signed socket that never authenticates, and
  ``/healthz`` latency while a thousand of them are open.
- ``bench_soak.py --calls 2000``: RSS over many short calls (run it alone
  with the default 10,000 for the flat-memory figure).
- ``bench_db_blackhole.py 3``: time from the caller's turn to the apology when
  Postgres stops answering mid-call (needs Postgres).
- ``bench_line.py``: the eval's phone line cost per minute of speech, the
  caller voices' real-time factor, and how well the recogniser hears each
  voice, clean and at 10 dB babble.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS: tuple[tuple[str, tuple[str, ...], float], ...] = (
    # (script, arguments, time limit in seconds)
    ("bench_codec.py", (), 120.0),
    ("bench_frame.py", (), 120.0),
    ("bench_calls.py", ("--quick",), 180.0),
    ("bench_speech.py", (), 180.0),
    ("bench_barge_in.py", (), 180.0),
    ("bench_graph_turns.py", ("--quick",), 180.0),
    ("bench_clinic_turns.py", ("--calls", "1"), 180.0),
    ("bench_understanding.py", (), 120.0),  # the understanding step's own time
    ("bench_preauth.py", ("--sockets", "1000"), 120.0),  # RSS per silent socket, /healthz
    ("bench_soak.py", ("--calls", "2000"), 240.0),  # 10,000 (the figure): run it alone
    ("bench_db_blackhole.py", ("3",), 180.0),
    ("bench_line.py", (), 240.0),  # the simulated phone line and the caller voices
    ("bench_expect.py", (), 420.0),  # answers heard with and without the step's expectation
)


def run(script: str, args: tuple[str, ...], limit_s: float) -> bool:
    """Run one benchmark with its output streamed through; return whether it finished."""
    print(f"== {script} {' '.join(args)}".rstrip(), flush=True)
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(HERE / script), *args],
            check=False,  # a failing benchmark is reported, and the next one still runs
            cwd=HERE.parent,
            timeout=limit_s,  # kills the benchmark; bench_calls' servers exit with it (stdin EOF)
        )
    except subprocess.TimeoutExpired:
        print(f"!! {script} did not finish within {limit_s:.0f} s", flush=True)
        return False
    elapsed = time.monotonic() - started
    if done.returncode:
        print(f"!! {script} exited with {done.returncode} after {elapsed:.0f} s", flush=True)
        return False
    print(f"   ({elapsed:.0f} s)\n", flush=True)
    return True


def main() -> int:
    results = [run(script, args, limit) for script, args, limit in BENCHMARKS]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
