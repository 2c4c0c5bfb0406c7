"""Make LangGraph Studio list the threads of calls placed through the service.

Why this exists. ``langgraph dev`` (the in-memory LangGraph server) keeps its
own table of threads, apart from the checkpointer. A thread that exists only
in the checkpointer -- every call, since live turns run in-process and only
share the checkpointer (DESIGN section 4) -- is invisible to it:
``threads.search`` does not list it and ``threads.get_state`` answers 404.
The server reads a registered thread's state from the shared checkpointer
with the graph named by the thread's ``graph_id`` metadata.

How it works. Each call's thread is registered through the server's public
API (``threads.create(thread_id=..., if_exists="do_nothing")``) with the
metadata ``graph_id`` and ``call_sid`` (taken from the checkpoints' run
metadata) and ``last_checkpoint_id``. A call with new checkpoints gets its
metadata updated, which moves it to the top of Studio's list. Threads of
graphs the server does not serve are skipped. Registering is idempotent and
never writes a checkpoint; the server keeps its thread table in
``.langgraph_api/`` under its working directory.

Two ways to run it:

- inside ``langgraph dev``: ``langgraph.json`` names :data:`app` as
  ``"http": {"app": "graphs.studio:app"}`` (a module path: loaded from a file
  path this module would be missing from ``sys.modules`` and its dataclass
  would not build). Its lifespan registers every call in the database
  (``DIALGRAPH_DATABASE_URL``) before the server answers, then looks for new
  calls every ``DIALGRAPH_STUDIO_SYNC_SECONDS`` (default 2; ``0`` = at start only);
- from outside, against any running server: :func:`sync_to_server` (what a
  ``dialgraph studio-sync --url ...`` command would call), or
  :class:`StudioThreads` with your own ``langgraph_sdk`` client.

Starlette (there through ``langgraph-cli[inmem]``) is imported only when
:data:`app` is first read, so the rest of this module works without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from memory.checkpointer import database_url_from_env, open_checkpointer
from memory.encryption import WrongKeyError, default_var_dir

__all__ = [
    "DEFAULT_GRAPH_ID",
    "SYNC_INTERVAL_ENV",
    "CallThread",
    "StudioThreads",
    "list_call_threads",
    "studio_lifespan",
    "sync_to_server",
]

logger = logging.getLogger("dialgraph.studio")

DEFAULT_GRAPH_ID = "clinic"  # threads whose checkpoints name no graph (the bundled flow)
SYNC_INTERVAL_ENV = "DIALGRAPH_STUDIO_SYNC_SECONDS"
DEFAULT_SYNC_INTERVAL_S = 2.0  # a new call shows up in Studio within this; one query per tick

# The newest root checkpoint of every thread. Checkpoint ids are time-ordered
# (UUIDv6), so MAX is the latest and ordering by it lists calls oldest first.
_LATEST_SQL = (
    "SELECT thread_id, MAX(checkpoint_id) AS checkpoint_id FROM checkpoints "
    "WHERE checkpoint_ns = '' GROUP BY thread_id ORDER BY 2"
)


@dataclass(frozen=True, slots=True)
class CallThread:
    """A thread in the checkpointer and its newest root checkpoint."""

    thread_id: str
    checkpoint_id: str


async def list_call_threads(saver: BaseCheckpointSaver[Any]) -> list[CallThread]:
    """Every thread in ``saver``, least recently active first.

    One indexed query on the SQLite and Postgres savers; other savers are
    walked checkpoint by checkpoint (fine for tests and small databases).
    """
    if isinstance(saver, AsyncSqliteSaver):
        await saver.setup()
        async with saver.lock, saver.conn.execute(_LATEST_SQL) as cursor:
            rows = [(str(t), str(c)) for t, c in await cursor.fetchall()]
    elif isinstance(saver, AsyncPostgresSaver):
        rows = await _postgres_latest(saver)
    else:
        latest: dict[str, str] = {}
        async for item in saver.alist(None):
            configurable = item.config["configurable"]
            if configurable.get("checkpoint_ns", ""):
                continue
            thread_id, checkpoint_id = str(configurable["thread_id"]), item.checkpoint["id"]
            latest[thread_id] = max(latest.get(thread_id, ""), checkpoint_id)
        rows = sorted(latest.items(), key=lambda row: row[1])
    return [CallThread(thread_id, checkpoint_id) for thread_id, checkpoint_id in rows]


async def _postgres_latest(saver: AsyncPostgresSaver) -> list[tuple[str, str]]:
    async with contextlib.AsyncExitStack() as stack:
        if isinstance(saver.conn, AsyncConnectionPool):
            conn = await stack.enter_async_context(saver.conn.connection())
        else:
            await stack.enter_async_context(saver.lock)
            conn = saver.conn
        cursor = await stack.enter_async_context(conn.cursor(row_factory=dict_row))
        await cursor.execute(_LATEST_SQL)
        return [(str(r["thread_id"]), str(r["checkpoint_id"])) for r in await cursor.fetchall()]


class StudioThreads:
    """Registers a database's call threads with one LangGraph server.

    Remembers which checkpoint it last registered per thread, so calling
    :meth:`sync` again only touches calls that are new or have new turns.

    Args:
        client: A ``langgraph_sdk`` async client (``get_client(url=...)``;
            ``url=None`` inside the server itself).
        saver: The checkpointer the service writes (the same database).
        default_graph_id: The graph of threads whose checkpoints name none.
    """

    def __init__(
        self,
        client: Any,
        saver: BaseCheckpointSaver[Any],
        *,
        default_graph_id: str = DEFAULT_GRAPH_ID,
    ) -> None:
        self._client = client
        self._saver = saver
        self._default_graph_id = default_graph_id
        self._registered: dict[str, str] = {}  # thread id -> last checkpoint id registered
        self._served: dict[str, bool] = {}  # graph id -> does this server have it

    async def sync(self) -> list[str]:
        """Register new calls and refresh changed ones; return their thread ids."""
        touched = []
        for thread in await list_call_threads(self._saver):
            if self._registered.get(thread.thread_id) == thread.checkpoint_id:
                continue
            if await self._register(thread):
                touched.append(thread.thread_id)
            self._registered[thread.thread_id] = thread.checkpoint_id
        if touched:
            logger.info("studio: registered or refreshed %d call thread(s)", len(touched))
        return touched

    async def keep_synced(self, interval: float) -> None:
        """Call :meth:`sync` every ``interval`` seconds until cancelled; errors are logged."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database or server hiccup: the next round retries
                logger.warning(
                    "studio: thread sync failed (%s: %s); retrying in %.1f s",
                    type(exc).__name__,
                    str(exc)[:200],
                    interval,
                )

    async def _register(self, thread: CallThread) -> bool:
        config: RunnableConfig = {
            "configurable": {"thread_id": thread.thread_id, "checkpoint_ns": ""}
        }
        try:
            found = await self._saver.aget_tuple(config)
        except WrongKeyError:
            # Written under a key this process does not list: the other calls still show.
            logger.warning("studio: %s is encrypted with a key not listed here; skipped", thread)
            return False
        if found is None:  # deleted since it was listed
            return False
        metadata = self._metadata(thread, found.metadata or {})
        if not await self._serves(metadata["graph_id"]):
            logger.debug(
                "studio: graph %r not served here; %s skipped", metadata["graph_id"], thread
            )
            return False
        existing = await self._client.threads.create(
            thread_id=thread.thread_id, metadata=metadata, if_exists="do_nothing"
        )
        if (existing.get("metadata") or {}).get("last_checkpoint_id") != thread.checkpoint_id:
            await self._client.threads.update(thread.thread_id, metadata=metadata)
        return True

    def _metadata(self, thread: CallThread, checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "graph_id": checkpoint.get("graph_id") or self._default_graph_id,
            "last_checkpoint_id": thread.checkpoint_id,
            "source": "dialgraph",
        }
        if checkpoint.get("call_sid"):
            metadata["call_sid"] = checkpoint["call_sid"]
        return metadata

    async def _serves(self, graph_id: str) -> bool:
        """Whether the server has the graph (it makes one assistant per graph at start)."""
        if graph_id not in self._served:
            found = await self._client.assistants.search(graph_id=graph_id, limit=1)
            self._served[graph_id] = bool(found)
        return self._served[graph_id]


async def sync_to_server(
    url: str, *, database_url: str | None = None, api_key: str | None = None
) -> list[str]:
    """Register the database's calls with the LangGraph server at ``url`` once.

    Args:
        url: The server, e.g. ``http://127.0.0.1:2024`` (``langgraph dev``).
        database_url: The service's database; ``None`` reads ``DIALGRAPH_DATABASE_URL``.
        api_key: For a deployed server; a local ``langgraph dev`` needs none.

    Returns:
        The thread ids registered or refreshed.
    """
    from langgraph_sdk import get_client

    client = get_client(url=url, api_key=api_key)
    async with open_checkpointer(
        database_url or database_url_from_env(), var_dir=default_var_dir()
    ) as saver:
        try:
            return await StudioThreads(client, saver).sync()
        finally:
            await client.aclose()


def _sync_interval() -> float:
    raw = os.environ.get(SYNC_INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_SYNC_INTERVAL_S
    try:
        return max(0.0, float(raw))
    except ValueError:
        logger.warning(
            "studio: %s=%r is not a number; using %.1f s",
            SYNC_INTERVAL_ENV,
            raw,
            DEFAULT_SYNC_INTERVAL_S,
        )
        return DEFAULT_SYNC_INTERVAL_S


@asynccontextmanager
async def studio_lifespan(_app: Any) -> AsyncIterator[None]:
    """The lifespan of :data:`app`: keep the server's thread list in step with the calls."""
    from langgraph_sdk import get_client

    interval = _sync_interval()
    client = get_client(url=None, api_key=None)  # in-process, through the server's own app
    async with open_checkpointer(database_url_from_env(), var_dir=default_var_dir()) as saver:
        threads = StudioThreads(client, saver)
        try:
            await threads.sync()
        except Exception:
            logger.exception("studio: initial thread sync failed")
        task = asyncio.create_task(threads.keep_synced(interval)) if interval > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await client.aclose()


@functools.cache
def _studio_app() -> Any:
    from starlette.applications import Starlette

    return Starlette(lifespan=studio_lifespan)


def __getattr__(name: str) -> Any:
    """``app``: the Starlette app ``langgraph.json``'s ``http.app`` names (built on first use)."""
    if name == "app":
        return _studio_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
