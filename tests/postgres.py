"""The real Postgres the tests use: a fresh schema per test, dropped afterwards.

``DIALGRAPH_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``) names the server; tests skip,
with the reason, only when it cannot be reached, and never in CI (``CI`` set):
there a missing server is a failure, so a green run has used it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

__all__ = ["SERVER_URL", "fresh_schema", "server_address", "unavailable", "via_port"]

SERVER_URL = os.environ.get(
    "DIALGRAPH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def unavailable(reason: str) -> NoReturn:
    """Skip the test for a missing server, or fail it in CI, where the servers must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run it)")
    pytest.skip(reason)


@asynccontextmanager
async def fresh_schema() -> AsyncIterator[tuple[str, str]]:
    """``(url, schema)``: a URL whose tables live in a new schema, dropped on exit.

    Skips the test when the server is unreachable.
    """
    try:
        admin = await psycopg.AsyncConnection.connect(
            SERVER_URL, autocommit=True, connect_timeout=3
        )
    except psycopg.OperationalError as exc:
        unavailable(f"Postgres is not reachable at {SERVER_URL}: {exc}")
    schema = f"dialgraph_test_{uuid.uuid4().hex[:12]}"
    async with admin:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        joiner = "&" if "?" in SERVER_URL else "?"
        try:
            yield f"{SERVER_URL}{joiner}options=-csearch_path%3D{schema}", schema
        finally:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def via_port(url: str, port: int) -> str:
    """``url`` pointed at ``127.0.0.1:port`` (e.g. a :class:`~tests.tcp_proxy.TcpProxy`)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    at = f"{credentials}@" if credentials else ""
    return urlunsplit(parts._replace(netloc=f"{at}127.0.0.1:{port}"))


def server_address() -> tuple[str, int]:
    """The test server's host and port."""
    parts = urlsplit(SERVER_URL)
    return parts.hostname or "127.0.0.1", parts.port or 5432
