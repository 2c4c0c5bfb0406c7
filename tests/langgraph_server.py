"""``langgraph dev`` for tests: the real LangGraph server on loopback, offline.

It runs on the repository's ``langgraph.json`` (paths made absolute, so it
can run in a temporary directory and leave no ``.langgraph_api/`` behind),
or on the same configuration with other graphs, and stops with the block.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from tests.processes import free_port, spawn, stop, tail

__all__ = ["HAS_DEV_SERVER", "OFFLINE_ENV", "langgraph_dev"]

REPO = Path(__file__).resolve().parents[1]
HAS_DEV_SERVER = all(importlib.util.find_spec(m) for m in ("langgraph_cli", "langgraph_api"))
OFFLINE_ENV = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",  # the CLI's usage ping, sent before the config is read
    "LANGGRAPH_NO_VERSION_CHECK": "true",  # the server's "newer version on PyPI?" check
    "LANGSMITH_TRACING": "false",  # no LangSmith traces, no LangSmith org lookup
}
START_TIMEOUT_S = 60.0
_URL_IN_LOG = re.compile(r"API: (?:\x1b\[[0-9;]*m)?(http://127\.0\.0\.1:\d+)")


def _studio_config(directory: Path, graphs: Mapping[str, str] | None) -> Path:
    """The repository's langgraph.json, ``./`` paths made absolute, ``graphs`` if given."""
    config = json.loads((REPO / "langgraph.json").read_text())

    def absolute(spec: str) -> str:
        return str(REPO / spec[2:]) if spec.startswith("./") else spec

    chosen = graphs if graphs is not None else config["graphs"]
    config["graphs"] = {name: absolute(spec) for name, spec in chosen.items()}
    for section in ("checkpointer", "store"):
        config[section]["path"] = absolute(config[section]["path"])
    config["http"]["app"] = absolute(config["http"]["app"])
    config["dependencies"] = [str(REPO) if dep == "." else dep for dep in config["dependencies"]]
    path = directory / "langgraph.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _spawn(
    directory: Path, env: dict[str, str], graphs: Mapping[str, str] | None
) -> tuple[subprocess.Popen, Path]:
    """Start ``langgraph dev``, its output in a log file."""
    config = _studio_config(directory, graphs)
    log_path = directory / "langgraph-dev.log"
    command = [
        *(sys.executable, "-m", "langgraph_cli", "dev"),
        *("--no-browser", "--no-reload", "--host", "127.0.0.1"),
        *("--port", str(free_port()), "--config", str(config)),
    ]
    return spawn(command, cwd=directory, env=env, log_path=log_path), log_path


def _url_in_log(log_path: Path) -> str | None:
    """The server's real URL from its banner (``--port`` moves silently if taken)."""
    found = _URL_IN_LOG.search(log_path.read_text(errors="replace"))
    return found.group(1) if found else None


async def _wait_until_up(process: subprocess.Popen, log_path: Path, started: float) -> str:
    """The server's URL, once ``/ok`` answers there."""
    url = None
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() - started < START_TIMEOUT_S:
            if process.poll() is not None:
                pytest.fail(f"langgraph dev exited ({process.returncode}):\n{tail(log_path)}")
            url = url or _url_in_log(log_path)
            if url is not None:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{url}/ok")).status_code == 200:
                        return url
            await asyncio.sleep(0.1)
    pytest.fail(f"langgraph dev not up within {START_TIMEOUT_S:.0f} s:\n{tail(log_path)}")


@contextlib.asynccontextmanager
async def langgraph_dev(
    directory: Path, env: dict[str, str], *, graphs: Mapping[str, str] | None = None
) -> AsyncIterator[SimpleNamespace]:
    """Run ``langgraph dev`` until the block ends; yield its URL and start-up time.

    Args:
        directory: Its working directory (the thread table lands there).
        env: Its environment (``OFFLINE_ENV`` keeps it off the network).
        graphs: ``id -> path.py:attr`` to serve instead of the repository's graphs.
    """
    started = time.monotonic()
    process, log_path = _spawn(directory, env, graphs)
    try:
        url = await _wait_until_up(process, log_path, started)
        yield SimpleNamespace(url=url, startup_s=time.monotonic() - started, log=log_path)
    finally:
        stop(process)
