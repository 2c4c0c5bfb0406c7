"""Start and stop real server processes in tests (``langgraph dev``, ``dialgraph serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Server",
    "dialgraph_servers",
    "free_port",
    "server_env",
    "spawn",
    "stop",
    "tail",
]


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str], log_path: Path
) -> subprocess.Popen:
    """Start ``command`` in its own process group, its output in ``log_path``."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed whole at the end
        )


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass(slots=True)
class Server:
    """A ``dialgraph serve`` process started by :func:`dialgraph_servers`."""

    process: subprocess.Popen
    log: Path
    base: str


def server_env(directory: Path, port: int, settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any Dialgraph or Twilio setting, plus ``settings``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DIALGRAPH_", "TWILIO_"))}
    return {
        **inherited,
        "DIALGRAPH_HOST": "127.0.0.1",
        "DIALGRAPH_PORT": str(port),
        "DIALGRAPH_VAR_DIR": str(directory / f"var-{port}"),
        # The servers run in a scratch directory (no .env, no langgraph.json to look
        # an id up in): name the bundled clinic flow by its module.
        "DIALGRAPH_GRAPH": "graphs.clinic.graph:graph",
        **settings,
    }


@contextlib.asynccontextmanager
async def dialgraph_servers(
    directory: Path,
    settings: Sequence[Mapping[str, str]],
    *,
    args: Sequence[str] = (),
    start_timeout_s: float = 90.0,
) -> AsyncIterator[list[Server]]:
    """Start one real ``dialgraph serve`` per entry of ``settings`` (environment
    variables); yield them once every ``/healthz`` answers; stop them at the end."""
    import httpx
    import pytest

    started = time.monotonic()
    running: list[Server] = []
    try:
        for n, extra in enumerate(settings):
            port = free_port()
            log_path = directory / f"server-{n}.log"
            command = [sys.executable, "-m", "telephony.cli", "serve", *args]
            env = server_env(directory, port, extra)
            process = spawn(command, cwd=directory, env=env, log_path=log_path)
            running.append(Server(process, log_path, f"http://127.0.0.1:{port}"))
        async with httpx.AsyncClient(timeout=2) as http:
            for server in running:
                while True:
                    if server.process.poll() is not None:
                        code = server.process.returncode
                        pytest.fail(f"dialgraph serve exited ({code}):\n{tail(server.log)}")
                    if time.monotonic() - started > start_timeout_s:
                        pytest.fail(f"dialgraph serve not up in time:\n{tail(server.log)}")
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"{server.base}/healthz")).status_code == 200:
                            break
                    await asyncio.sleep(0.2)
        print(f"\n{len(running)} server(s) up in {time.monotonic() - started:.1f} s")
        yield running
    finally:
        for server in running:
            stop(server.process)
