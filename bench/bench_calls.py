"""How many simultaneous calls one server process carries with no late agent audio.

Run: ``uv run python bench/bench_calls.py`` (about 1.5 minutes), ``--quick``
(about 30 s), or e.g. ``--calls 1,50,150 --greeting-s 5``. Prints figures,
never pass/fail.

How it works. For each N in the ramp a fresh server process starts
(``bench/_call_server.py``: the real Litestar app under uvicorn on 127.0.0.1,
``ScriptedAgent`` + ``FakeTTS`` + ``FakeSTT`` test doubles, no auth token),
with one or two client processes (``bench/_call_client.py``). Each client
places one short warm-up call; then the clients place N real softphone calls
together (starts spread over 1 s): wait for the greeting (``--greeting-s`` of
audio), press 1, wait for the reply (``--reply-s``), hang up. This process
only watches: psutil on the server's pid (CPU time before/after, RSS sampled
every 100 ms) and on the whole machine; the clients report their own CPU.
Before the ramp, one burst of calls that hang up at once measures what a
call's set-up and tear-down cost the server.

Reading the table (one row per N, two detail lines under it):

- ``server %core``: server CPU time / wall time of the run, % of one core.
- ``CPU ms/call-s``: server CPU per second of call. At low N it includes the
  event loop waking up for every single frame; at high N wake-ups are shared.
- ``RSS MB`` / ``RSS/call``: server peak RSS during the calls, and
  (peak - RSS after warm-up) / N.
- ``late frames`` / ``worst gap``: agent frames that reached the caller after
  its player had run dry for more than ``--late-ms`` (40 ms), and the longest
  gap. The player is an ideal Twilio: a reply starts playing when its first
  frame arrives, then runs at real time (see ``_call_client.py``; the
  softphone's own ``late_frames`` counts its *sending* slips instead, shown in
  the details). The server sends ``playout_lead_ms`` (120 ms) ahead, so a gap
  means the server, or the client reading it, stalled for longer than that.
- ``played s/call``: agent audio each call played, mean (greeting + reply).
- ``clients``, ``other``: CPU of the client processes, and of everything else
  on the machine (this process, other users), in % of one core.
- details: the server's paced-writer lag (how much later than scheduled it
  woke up: what eats the 120 ms lead) and when the > 40 ms ones happened,
  GC pauses, key press -> first reply audio at the caller, and how many caller
  frames the clients sent > 20 ms late (non-zero: the clients stall too).

The server and the clients share this machine's cores, and a softphone call
costs its client about as much CPU as the server spends on it. The ramp
stops at the first N with late frames or a full machine; the verdict line
says which. The figure that carries to a machine where the server has the
cores to itself is ``CPU ms/call-s`` at the highest clean N.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

HERE = Path(__file__).resolve().parent
SERVER = HERE / "_call_server.py"
CLIENT = HERE / "_call_client.py"
DEFAULT_CALLS = "1,10,25,50,100"
QUICK_CALLS = "1,25,50"
SAMPLE_S = 0.1  # RSS sampling period
START_TIMEOUT_S = 30.0  # a process must be up (imports done) within this
CALLS_PER_CLIENT = 30  # above this many calls, a second client process shares the load
SPREAD_S = 1.0  # default: call starts are spread over this long, not all in the same ms
BURST_CALLS = 40  # calls in the set-up/tear-down burst
BUDGET_S = 170.0  # stop the ramp before a level would end past this (seconds)
MACHINE_FULL = 0.9  # all cores this busy: the clients compete with the server for CPU
CLIENT_LATE_PCT = 0.5  # % of caller frames a client sent > 20 ms late: the client stalls


@dataclass
class _Proc:
    """A child process with its stdout lines read by a thread (so waits can time out)."""

    popen: subprocess.Popen
    stderr_path: Path
    lines: queue.Queue = field(default_factory=queue.Queue)

    @classmethod
    def start(cls, args: list[str], tag: str) -> _Proc:
        fd, name = tempfile.mkstemp(prefix=f"bench-{tag}-", suffix=".log")
        try:
            popen = subprocess.Popen(
                [sys.executable, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=fd,
                text=True,
                cwd=HERE.parent,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        finally:
            os.close(fd)
        proc = cls(popen, Path(name))
        threading.Thread(target=proc._pump, daemon=True).start()
        return proc

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def readline(self, timeout: float) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"pid {self.popen.pid}: no answer within {timeout:.0f} s") from None
        if line is None:
            raise RuntimeError(f"pid {self.popen.pid} exited: {self.stderr_tail()}")
        return line

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def stderr_lines(self) -> list[str]:
        with contextlib.suppress(OSError):
            return [ln for ln in self.stderr_path.read_text(errors="replace").splitlines() if ln]
        return []

    def stderr_tail(self, lines: int = 5) -> str:
        return " | ".join(self.stderr_lines()[-lines:]) or "(no stderr)"

    def stop(self) -> None:
        """End the child (by its own pid) and remove its log."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        with contextlib.suppress(OSError):
            self.stderr_path.unlink()


@dataclass
class _Rig:
    """A running server and its client processes, warmed up."""

    server: _Proc
    clients: list[_Proc]
    base: str
    srv: psutil.Process
    http: httpx.Client


@contextlib.contextmanager
def _rig(shares: list[int], args: argparse.Namespace, call_s: float) -> Iterator[_Rig]:
    """Start a fresh server and one client per share of the calls; stop them all after."""
    server_args = ["--port", "0", "--greeting-s", str(args.greeting_s)]
    server_args += ["--reply-s", str(args.reply_s), "--ws", args.ws]
    server_args += ["--no-stt"] if args.no_stt else []
    server = _Proc.start([str(SERVER), *server_args], "server")
    client_args = ["--spread-s", str(args.spread_s), "--quiet-ms", str(args.quiet_ms)]
    client_args += ["--late-ms", str(args.late_ms), "--call-timeout-s", str(call_s + 30)]
    client_args += ["--command-timeout-s", str(call_s + 90)]
    clients = [
        _Proc.start([str(CLIENT), "--calls", str(share), *client_args], f"client{i}")
        for i, share in enumerate(shares)
    ]
    http = httpx.Client(timeout=10)
    try:
        ready = server.readline(START_TIMEOUT_S).split()
        if len(ready) != 3 or ready[0] != "READY":
            raise RuntimeError(f"{' '.join(ready)} {server.stderr_tail()}")
        base = f"http://127.0.0.1:{ready[1]}"
        for client in clients:
            if client.readline(START_TIMEOUT_S) != "ready":
                raise RuntimeError(f"client did not start: {client.stderr_tail()}")
        for client in clients:  # one at a time: warm-up calls are not measured
            client.send(f"warm {base}")
            client.readline(30)
        http.post(f"{base}/bench/reset")
        yield _Rig(server, clients, base, psutil.Process(int(ready[2])), http)
    finally:
        http.close()
        for proc in (*clients, server):
            proc.stop()


def _log_summary(lines: list[str], limit: int = 4) -> list[str]:
    """Distinct server log messages with their counts (call SIDs and tracebacks left out)."""
    counts: dict[str, int] = {}
    for line in lines:
        if line[:1].isspace() or line.startswith(("Traceback", "During handling")):
            continue
        message = re.sub(r"\b(CA|MZ)[0-9a-f]{32}\b", "<sid>", line)[:140]
        counts[message] = counts.get(message, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return [f"{count}x {message}" for message, count in ranked[:limit]]


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _busy_cores(before, after) -> float:
    """How many cores' worth of time was not idle between two ``psutil.cpu_times()``."""
    total = sum(after) - sum(before)
    idle = (after.idle + after.iowait) - (before.idle + before.iowait)
    return (1 - idle / total) * (psutil.cpu_count() or 1) if total > 0 else 0.0


class _RssSampler:
    """Peak RSS of one process, sampled in a thread."""

    def __init__(self, proc: psutil.Process) -> None:
        self._proc = proc
        self.peak = proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self._proc.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(2)
        return self.peak


def _split(n: int) -> list[int]:
    clients = 1 if n <= CALLS_PER_CLIENT else 2
    return [n // clients + (1 if i < n % clients else 0) for i in range(clients)]


def setup_cost(args: argparse.Namespace) -> str:
    """Server CPU per call for calls that hang up right after ``start``."""
    with _rig([BURST_CALLS], args, 5.0) as rig:
        cpu0 = _cpu_s(rig.srv)
        rig.clients[0].send(f"burst {rig.base}")
        answer = json.loads(rig.clients[0].readline(60))
        time.sleep(0.5)  # let the last tear-downs finish
        cpu = _cpu_s(rig.srv) - cpu0
        server_log = _log_summary(rig.server.stderr_lines())
    per_call = cpu * 1000 / max(1, answer["ok"])
    lines = [
        f"call set-up + tear-down (webhook, TwiML, WebSocket handshake, start, agent, "
        f"stop; {answer['ok']}/{BURST_CALLS} calls in {args.spread_s:.0f} s): "
        f"{per_call:.1f} ms server CPU per call"
    ]
    lines += [f"      server log: {line}" for line in server_log]
    return "\n".join(lines)


def run_level(n: int, args: argparse.Namespace) -> dict:
    """Run N simultaneous calls against a fresh server; return the figures."""
    call_s = args.greeting_s + args.reply_s + 2 * args.quiet_ms / 1000 + args.spread_s
    with _rig(_split(n), args, call_s) as rig:
        srv = rig.srv
        rss0 = srv.memory_info().rss
        sampler = _RssSampler(srv)
        machine0, srv_cpu0 = psutil.cpu_times(), _cpu_s(srv)
        t0 = time.monotonic()
        for client in rig.clients:
            client.send(f"go {rig.base}")
        records: list[dict] = []
        cli_cpu = cli_gc = 0.0
        for client in rig.clients:
            answer = json.loads(client.readline(call_s + 60))
            records.extend(answer["calls"])
            cli_cpu += answer["cpu_s"]  # reported by the client: it exits right after
            cli_gc = max(cli_gc, *answer["gc_max_ms"])
        wall = time.monotonic() - t0
        srv_cpu, machine1 = _cpu_s(srv) - srv_cpu0, psutil.cpu_times()
        peak = sampler.stop()
        stats = rig.http.get(f"{rig.base}/bench/stats").json()
        server_log = _log_summary(rig.server.stderr_lines())
    ok = [r for r in records if r["ok"]]
    call_seconds = sum(r["duration_s"] for r in ok) or 1.0
    replies = [r["reply_ms"] for r in ok if r.get("reply_ms") is not None]
    lag = stats["writer_lag"]
    machine_pct = _busy_cores(machine0, machine1) * 100
    return {
        "n": n,
        "clients": len(_split(n)),
        "ok": len(ok),
        "failed": [r["detail"] or r["outcome"] for r in records if not r["ok"]][:3],
        "srv_pct": srv_cpu / wall * 100,
        "cpu_ms_per_call_s": srv_cpu * 1000 / call_seconds,
        "rss_mb": peak / 1e6,
        "rss0_mb": rss0 / 1e6,
        "rss_per_call_mb": (peak - rss0) / 1e6 / n,
        "late": sum(r["late_frames"] for r in ok),
        "underruns": sum(r["underruns"] for r in ok),
        "worst_gap_ms": max((r["worst_gap_ms"] for r in ok), default=0.0),
        "played_s": statistics.mean(r["agent_s_played"] for r in ok) if ok else 0.0,
        "writer_p50": lag["p50_ms"],
        "writer_p99": lag["p99_ms"],
        "writer_max": lag["max_ms"],
        "writer_late": lag["late"],
        "writer_late_by_s": lag["late_by_second"],
        "srv_gc_ms": max(stats["gc_max_ms"]),
        "srv_gc2": stats["gc_count"][2],
        "cli_gc_ms": cli_gc,
        "reply_p50": statistics.median(replies) if replies else 0.0,
        "reply_max": max(replies, default=0.0),
        "cli_pct": cli_cpu / wall * 100,
        "machine_pct": machine_pct,
        "other_pct": max(0.0, machine_pct - (srv_cpu + cli_cpu) / wall * 100),
        "cli_send_late_pct": 100
        * sum(r["send_late_frames"] for r in ok)
        / max(1, sum(r["frames_sent"] for r in ok)),
        "cli_send_worst": max((r["send_max_lateness_ms"] for r in ok), default=0.0),
        "warnings": sum(r["warnings"] for r in ok),
        "server_log": server_log,
    }


HEADER = (
    f"{'N':>4} {'ok':>4} {'server':>7} {'CPU ms':>8} {'RSS':>6} {'RSS/call':>8} {'late':>6} "
    f"{'worst':>6} {'played':>7} {'clients':>8} {'other':>6}\n"
    f"{'':>4} {'':>4} {'%core':>7} {'/call-s':>8} {'MB':>6} {'MB':>8} {'frames':>6} "
    f"{'gap ms':>6} {'s/call':>7} {'%core':>8} {'%core':>6}"
)


def _row(r: dict) -> str:
    return (
        f"{r['n']:>4} {r['ok']:>4} {r['srv_pct']:>7.1f} {r['cpu_ms_per_call_s']:>8.2f} "
        f"{r['rss_mb']:>6.1f} {r['rss_per_call_mb']:>8.3f} {r['late']:>6} "
        f"{r['worst_gap_ms']:>6.0f} {r['played_s']:>7.2f} {r['cli_pct']:>8.0f} "
        f"{r['other_pct']:>6.0f}"
    )


def _details(r: dict) -> str:
    late_when = (
        f" (by second of the run: {_by_second(r['writer_late_by_s'])})" if r["writer_late"] else ""
    )
    return (
        f"      server: writer lag p50/p99/max {r['writer_p50']:.1f}/{r['writer_p99']:.1f}/"
        f"{r['writer_max']:.0f} ms, {r['writer_late']} wake-ups > 40 ms late{late_when}; "
        f"longest GC pause {r['srv_gc_ms']:.0f} ms ({r['srv_gc2']} full); "
        f"RSS after warm-up {r['rss0_mb']:.1f} MB\n"
        f"      caller: {r['underruns']} underruns of any size; key -> reply audio p50/max "
        f"{r['reply_p50']:.0f}/{r['reply_max']:.0f} ms; {r['clients']} client process(es) sent "
        f"{r['cli_send_late_pct']:.2f} % of frames > 20 ms late (worst "
        f"{r['cli_send_worst']:.0f} ms); longest client GC pause {r['cli_gc_ms']:.0f} ms"
    )


def _by_second(pairs: list[list[int]]) -> str:
    return " ".join(f"{second}s:{count}" for second, count in pairs[:12])


def _saturated(r: dict) -> str | None:
    """Why the clients or the machine, rather than the server, may limit this level."""
    cores = psutil.cpu_count() or 1
    if r["machine_pct"] >= MACHINE_FULL * cores * 100:
        return f"the machine was {r['machine_pct']:.0f} % busy of {cores * 100} %"
    if r["cli_send_late_pct"] > CLIENT_LATE_PCT:
        return f"the clients sent {r['cli_send_late_pct']:.1f} % of their frames late"
    return None


def _verdict(r: dict, late_ms: float) -> tuple[str, bool]:
    """One line on this level, and whether the ramp should stop here."""
    full = _saturated(r)
    busy = (
        f"machine {r['machine_pct']:.0f} % busy of {(psutil.cpu_count() or 1) * 100} % "
        f"(server {r['srv_pct']:.0f}, clients {r['cli_pct']:.0f}, other {r['other_pct']:.0f})"
    )
    if r["ok"] < r["n"]:
        return f"{r['n'] - r['ok']} call(s) failed: {r['failed']}", True
    if r["late"]:
        where = f"while {full}" if full else "with CPU to spare"
        return f"{r['late']} agent frames late by > {late_ms:.0f} ms, {where}; {busy}", True
    if full:
        return f"no late frames, but {full}; the next N would measure the clients", True
    return f"no late frames; {busy}", False


def _summary(clean: list[dict]) -> str:
    """The highest N without late frames, and what a call costs the server there."""
    if not clean:
        return "summary: no N without late frames"
    best = clean[-1]
    text = (
        f"summary: highest N without late frames {best['n']}: server at "
        f"{best['srv_pct']:.0f} % of one core, {best['cpu_ms_per_call_s']:.1f} ms CPU per "
        f"call-second, {best['rss_per_call_mb'] * 1000:.0f} kB RSS per call"
    )
    if len(clean) > 1:
        low = clean[-2]
        marginal = (best["srv_pct"] - low["srv_pct"]) * 10 / (best["n"] - low["n"])
        text += (
            f"; adding calls {low['n']} -> {best['n']} cost {marginal:.1f} ms CPU per "
            "call-second each (the event loop shares wake-ups between calls as N grows)"
        )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default=None, help=f"ramp, comma-separated ({DEFAULT_CALLS})")
    parser.add_argument("--greeting-s", type=float, default=None, help="greeting audio (7)")
    parser.add_argument("--reply-s", type=float, default=None, help="reply to the key (2)")
    parser.add_argument("--quiet-ms", type=int, default=None, help="silence that ends a wait")
    parser.add_argument("--late-ms", type=float, default=40.0, help="underrun counted as late")
    parser.add_argument(
        "--spread-s", type=float, default=SPREAD_S, help="call starts spread over (1 s)"
    )
    parser.add_argument("--no-stt", action="store_true", help="server without a recogniser")
    parser.add_argument(
        "--ws", default="websockets-sansio", help="uvicorn WebSocket implementation"
    )
    parser.add_argument("--no-burst", action="store_true", help="skip the set-up cost burst")
    parser.add_argument("--keep-going", action="store_true", help="do not stop at late frames")
    parser.add_argument("--quick", action="store_true", help="short calls, short ramp (~30 s)")
    args = parser.parse_args()
    quick = args.quick
    args.calls = args.calls or (QUICK_CALLS if quick else DEFAULT_CALLS)
    args.greeting_s = args.greeting_s or (3.0 if quick else 7.0)
    args.reply_s = args.reply_s or (1.0 if quick else 2.0)
    args.quiet_ms = args.quiet_ms or (500 if quick else 1000)
    ramp = [int(n) for n in args.calls.split(",") if n.strip()]

    print(
        f"concurrent calls: greeting {args.greeting_s:g} s, key 1, reply {args.reply_s:g} s; "
        f"late = caller's player ran dry > {args.late_ms:.0f} ms; recogniser: "
        f"{'none' if args.no_stt else 'FakeSTT (decodes every caller frame)'}; "
        f"uvicorn --ws {args.ws}"
    )
    print(
        f"this machine: {psutil.cpu_count()} core(s), shared by the server, the clients and "
        "anything else running (column 'other')",
        flush=True,
    )
    started = time.monotonic()
    if not args.no_burst:
        print(setup_cost(args), flush=True)
    print(HEADER, flush=True)
    level_s = 0.0
    clean: list[dict] = []
    for n in ramp:
        if time.monotonic() - started + level_s > BUDGET_S:
            print(f"stopped before N={n}: time budget ({BUDGET_S:.0f} s)")
            break
        t = time.monotonic()
        r = run_level(n, args)
        level_s = time.monotonic() - t
        print(_row(r))
        print(_details(r))
        for line in r["server_log"]:
            print(f"      server log: {line}")
        if r["warnings"]:
            print(f"      {r['warnings']} softphone warning(s) (waits that timed out)")
        verdict, stop = _verdict(r, args.late_ms)
        print(f"      => {verdict}", flush=True)
        if not r["late"] and r["ok"] == r["n"]:
            clean.append(r)
        if stop and not args.keep_going:
            print(f"stopped at N={n}")
            break
    print(_summary(clean))
    print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
