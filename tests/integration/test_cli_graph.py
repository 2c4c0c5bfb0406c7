"""``--graph`` / ``DIALGRAPH_GRAPH`` at the command line: a graph that loads nothing
stops ``dialgraph serve`` and ``dialgraph demo`` at start-up with one line on
stderr (what was wrong, what is accepted), exit status 2, no traceback.

Real processes, as an operator starts them; they run side by side (each
pays the interpreter's and LangGraph's import, several seconds).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORMS = "give a langgraph.json id, path/to/file.py:attr, or package.module:attr"
CASES = [
    # (arguments, extra environment, what the one line says)
    (["serve", "--graph", "nope"], {}, f"--graph: unknown graph 'nope': {FORMS}"),
    (["serve", "--graph", "graphs/x.py:g"], {}, "--graph: graphs/x.py:g: no such file"),
    (
        ["serve", "--graph", "telephony.nothing:graph"],
        {},
        "--graph: telephony.nothing:graph: cannot import 'telephony.nothing'",
    ),
    (["demo", "--graph", "nope"], {}, f"--graph: unknown graph 'nope': {FORMS}"),
    (["serve"], {"DIALGRAPH_GRAPH": "nope"}, "DIALGRAPH_GRAPH: unknown graph 'nope'"),
    (
        ["serve"],
        {"DIALGRAPH_AGENT": "echo"},
        "DIALGRAPH_AGENT is retired: use DIALGRAPH_GRAPH=echo",
    ),
]


def _environment(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIALGRAPH_", "TWILIO_"))}
    return {**env, "ORT_DISABLE_TELEMETRY": "1", **extra}


def test_a_graph_that_loads_nothing_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "telephony.cli", *args],
            cwd=REPO,  # langgraph.json and relative paths are looked up here
            env=_environment({"DIALGRAPH_VAR_DIR": str(tmp_path), **extra}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args, extra, _ in CASES
    ]
    for process, (args, extra, expected) in zip(running, CASES, strict=True):
        stdout, stderr = process.communicate(timeout=180)
        lines = stderr.strip().splitlines()
        assert process.returncode == 2, (args, extra, stderr)
        assert len(lines) == 1 and "Traceback" not in stderr, (args, extra, stderr)
        assert lines[0].startswith("dialgraph: configuration error: "), lines
        assert expected in lines[0], lines
        assert stdout == ""
