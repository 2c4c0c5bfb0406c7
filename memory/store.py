"""Long-term caller memory: what the service remembers about a phone number.

Checkpoints hold one call; the store holds what outlives it, keyed by the
caller's number: their name, when they last called, and any other small
facts the graph chooses to keep. It lives in the same database as the
checkpoints (:mod:`memory.checkpointer` parses the URL the same way):
``AsyncSqliteStore`` on the SQLite file by default, ``AsyncPostgresStore``
when a Postgres URL is configured.

In a graph node (``Runtime[Context]`` gives the store and the caller)::

    memory = CallerMemory(runtime.store)
    profile = await memory.get(runtime.context.caller)  # None for a first call
    ...
    await memory.remember(runtime.context.caller, name="Maria Lopez")

and at hang-up a flow's ``PhoneSettings.on_call_end`` hook can record the visit::

    await CallerMemory(store).record_visit(facts.caller)

``langgraph.json`` can point ``langgraph dev`` at the same store::

    "store": {"path": "./memory/store.py:make_store"}

Numbers that are not E.164 (Twilio sends ``Anonymous`` or a SIP address for
withheld caller ID) are never stored: :meth:`CallerMemory.get` returns
``None`` and :meth:`CallerMemory.remember` writes nothing.

Encrypted at rest by default, with the checkpoints' keys
(:mod:`memory.encryption`): :class:`EncryptedStore` seals every item's value
(its namespace inside, so it reads back whole) and stores a caller's number
in the namespace only as a keyed HMAC label, ``("callers", "h:3f9a...")``.
A copied database then shows neither who called nor what is remembered, and
whoever holds the key still finds a caller by number. The trade-off: Studio's
store browser lists namespaces by label, not number, and a search that
filters on a value's fields decrypts and filters in the process (caller
memory is looked up by number, never searched).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import orjson
from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)
from langgraph.store.postgres.aio import AsyncPostgresStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

from memory.callerid import normalise_caller
from memory.checkpointer import (
    POOL_MAX_SIZE,
    database_url_from_env,
    open_postgres_pool,
    open_sqlite,
    resolve_database,
)
from memory.encryption import KeyRing, default_var_dir, key_ring
from memory.resilience import no_deadline

__all__ = [
    "CALLERS_NAMESPACE",
    "PROFILE_KEY",
    "CallerMemory",
    "EncryptedStore",
    "make_store",
    "open_store",
]

logger = logging.getLogger(__name__)

CALLERS_NAMESPACE = "callers"
PROFILE_KEY = "profile"


@asynccontextmanager
async def open_store(
    url: str | None = None,
    *,
    var_dir: Path = Path("var"),
    pool_max_size: int = POOL_MAX_SIZE,
    encryption_key: str | None = None,
) -> AsyncIterator[BaseStore]:
    """Open the long-term store for ``url``, tables created.

    Args:
        url: ``None``/``""`` (SQLite ``var_dir/dialgraph.db``), ``sqlite:///...``
            or ``postgresql://...``, as for :func:`memory.checkpointer.open_checkpointer`.
        var_dir: Directory of the default SQLite file and of the key file.
        pool_max_size: Postgres connections at most.
        encryption_key: The ``DIALGRAPH_CHECKPOINT_KEY`` value, as for the
            checkpointer (``None`` reads the variable; ``""`` the key file;
            ``off`` plain text).

    Yields:
        A ready :class:`~langgraph.store.base.BaseStore` (an
        :class:`EncryptedStore` unless encryption is off), closed on exit.
    """
    database = resolve_database(url, var_dir=var_dir)
    ring = key_ring(encryption_key, var_dir=var_dir)
    logger.info("store: %s%s", database.describe(), "" if ring is None else " (encrypted at rest)")
    if database.kind == "sqlite":
        # The SQLite store manages its own transactions: autocommit connection.
        async with open_sqlite(database.target, isolation_level=None) as conn:
            store = AsyncSqliteStore(conn)
            try:
                await store.setup()
                yield store if ring is None else await EncryptedStore(store, ring).checked()
            finally:
                await _stop_batching(store)
    else:
        async with open_postgres_pool(database.target, max_size=pool_max_size) as pool:
            store_pg = AsyncPostgresStore(conn=pool)
            try:
                with no_deadline():  # a migration at start-up may take longer than a turn's cap
                    await store_pg.setup()
                yield store_pg if ring is None else await EncryptedStore(store_pg, ring).checked()
            finally:
                await _stop_batching(store_pg)


async def _stop_batching(store: BaseStore) -> None:
    """Stop the store's background batching task before its connection closes.

    LangGraph's async stores run one task that batches operations, and only
    cancel it when the store is garbage-collected; a store closed in a running
    loop (each call of ``dialgraph eval``, every test) then logged "Task was
    destroyed but it is pending!" at ERROR when the collector got there first.
    """
    task = getattr(store, "_task", None)
    if isinstance(task, asyncio.Task) and not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def make_store() -> AsyncIterator[BaseStore]:
    """The ``langgraph.json`` ``store.path`` factory (no arguments).

    Opens the database named by ``DIALGRAPH_DATABASE_URL`` (default
    ``var/dialgraph.db``) with the service's keys: ``DIALGRAPH_CHECKPOINT_KEY``,
    else the key file under ``DIALGRAPH_VAR_DIR`` (default ``var``).
    """
    async with open_store(database_url_from_env(), var_dir=default_var_dir()) as store:
        yield store


SEALED_FIELD = "__sealed__"  # the one field of an encrypted item's stored value
SCAN_LIMIT = 10_000  # items read per prefix for a search the database cannot filter
KEY_CHECK = (("dialgraph",), "key_check")  # a sealed item that proves the keys at start-up
_REKEY_PAGE = 500


class EncryptedStore(BaseStore):
    """A store whose item values are encrypted at rest, and callers' numbers pseudonymous.

    Every value is stored as ``{"__sealed__": "aes:<base64>"}``, the AES-EAX
    encryption (newest key of the ring) of ``{"n": namespace, "v": value}``;
    reads return the value and the namespace as they were put. In a
    namespace under :data:`CALLERS_NAMESPACE` the second label (the phone
    number) is stored as a keyed HMAC (:meth:`KeyRing.labels`). A read tries
    the label of each key of the ring, newest first, then the plain label:
    items written under an older key or before encryption was on are found,
    and a put moves the item to the newest label and removes the others.

    Semantics kept: get, put, delete, list_namespaces (labels as stored),
    search by namespace prefix with offset and limit. A search with a
    ``filter`` (or under one caller) reads up to :data:`SCAN_LIMIT` items,
    decrypts and filters them here. Items are never indexed for semantic
    search (the embedding would leak the text).
    """

    def __init__(
        self,
        store: BaseStore,
        ring: KeyRing,
        *,
        pseudonymous: Iterable[str] = (CALLERS_NAMESPACE,),
    ) -> None:
        """Wrap ``store``; values are sealed with ``ring``.

        Args:
            store: The store that holds the sealed items.
            ring: The keys, newest first.
            pseudonymous: First namespace labels whose second label is
                personal (a phone number) and is stored as an HMAC.
        """
        self.store = store
        self._ring = ring
        self._pseudonymous = frozenset(pseudonymous)
        self.supports_ttl = store.supports_ttl
        self.ttl_config = store.ttl_config

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ``ops`` on the wrapped store, sealing and opening values."""
        plans = [self._plan(op) for op in ops]
        return _finish(plans, self.store.batch([o for inner, _ in plans for o in inner]))

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ``ops`` on the wrapped store, sealing and opening values."""
        plans = [self._plan(op) for op in ops]
        return _finish(plans, await self.store.abatch([o for inner, _ in plans for o in inner]))

    async def checked(self) -> EncryptedStore:
        """This store, once its keys are known to open the database's data.

        A sealed marker item is written on first use; later starts open it.
        So a worker with another key (say, one it generated itself against a
        shared Postgres) fails at start-up with a clear error, instead of
        taking every caller for a new one (their labels differ) mid-call.

        Raises:
            WrongKeyError: the database was encrypted with a key not in the ring.
        """
        namespace, key = KEY_CHECK
        stored = await self.store.aget(namespace, key)
        if stored is None:
            await self.aput(namespace, key, {"purpose": "proves the encryption key"}, index=False)
        else:
            self._open(stored)
        return self

    async def rekey(self) -> int:
        """Re-seal every item not under the newest key and label; return how many.

        Plain items (written before encryption was on) are sealed too.
        """
        items: list[Item] = []
        while page := await self.store.asearch((), limit=_REKEY_PAGE, offset=len(items)):
            items.extend(page)
            if len(page) < _REKEY_PAGE:
                break
        changed = 0
        for stored in items:
            item = self._open(stored)
            if item is None or self._is_current(stored, item.namespace):
                continue
            await self.aput(item.namespace, item.key, item.value, index=False)
            changed += 1
        return changed

    # -- planning: each outer op becomes inner ops and a function of their results

    def _plan(self, op: Op) -> tuple[list[Op], Callable[[list[Result]], Result]]:
        if isinstance(op, GetOp):
            spaces = self._stored_namespaces(op.namespace)
            gets: list[Op] = [GetOp(ns, op.key, op.refresh_ttl) for ns in spaces]
            return gets, lambda found: self._open(next((i for i in found if i), None))
        if isinstance(op, PutOp):
            spaces = self._stored_namespaces(op.namespace)
            deletes: list[Op] = [PutOp(ns, op.key, None) for ns in spaces[1:]]
            if op.value is None:
                return [PutOp(spaces[0], op.key, None), *deletes], lambda _: None
            sealed = {SEALED_FIELD: self._seal(op.namespace, op.value)}
            put = PutOp(spaces[0], op.key, sealed, index=False, ttl=op.ttl)
            return [put, *deletes], lambda _: None
        if isinstance(op, SearchOp):
            return self._plan_search(op)
        if isinstance(op, ListNamespacesOp):
            return [op], lambda found: found[0]
        raise TypeError(f"unknown store operation {type(op).__name__}")

    def _plan_search(self, op: SearchOp) -> tuple[list[Op], Callable[[list[Result]], Result]]:
        prefixes = self._stored_namespaces(op.namespace_prefix)
        if op.filter is None and len(prefixes) == 1:
            return [op], lambda found: [self._open(i) for i in _page(found[0])]
        scans: list[Op] = [
            op._replace(namespace_prefix=p, filter=None, limit=SCAN_LIMIT, offset=0)
            for p in prefixes
        ]

        def finish(found: list[Result]) -> Result:
            items = [self._open(i) for page in found for i in _page(page)]
            kept = [i for i in items if i is not None and _matches(i.value, op.filter or {})]
            kept.sort(key=lambda i: i.updated_at, reverse=True)
            return kept[op.offset : op.offset + op.limit]

        return scans, finish

    def _stored_namespaces(self, namespace: tuple[str, ...]) -> list[tuple[str, ...]]:
        """Where ``namespace`` may be stored: newest label first, the plain one last."""
        if (
            len(namespace) < 2
            or namespace[0] not in self._pseudonymous
            or namespace[1].startswith("h:")  # already a label (from list_namespaces)
        ):
            return [namespace]
        head, personal, *rest = namespace
        labelled = [(head, label, *rest) for label in self._ring.labels(personal)]
        return [*labelled, namespace]

    def _seal(self, namespace: tuple[str, ...], value: Any) -> str:
        return self._ring.seal_text(orjson.dumps({"n": list(namespace), "v": dict(value)}))

    def _open(self, item: Any) -> Any:
        """``item`` with its value opened and its namespace as put; plain items as stored."""
        if item is None or not _is_sealed(item.value):
            return item
        plaintext, _ = self._ring.open_text(item.value[SEALED_FIELD])
        doc = orjson.loads(plaintext)
        fields = {
            "namespace": tuple(doc["n"]),
            "key": item.key,
            "value": doc["v"],
            "created_at": item.created_at,
            "updated_at": item.updated_at,
        }
        if isinstance(item, SearchItem):
            return SearchItem(**fields, score=item.score)
        return Item(**fields)

    def _is_current(self, stored: Item, namespace: tuple[str, ...]) -> bool:
        if not _is_sealed(stored.value):
            return False
        _, key_index = self._ring.open_text(stored.value[SEALED_FIELD])
        return key_index == 0 and stored.namespace == self._stored_namespaces(namespace)[0]


def _finish(
    plans: Sequence[tuple[list[Op], Callable[[list[Result]], Result]]], results: list[Result]
) -> list[Result]:
    out: list[Result] = []
    at = 0
    for inner, finish in plans:
        out.append(finish(results[at : at + len(inner)]))
        at += len(inner)
    return out


def _page(result: Result) -> list[SearchItem]:
    """A search's result: its page of items (``Result`` is the union over every kind of op)."""
    return cast("list[SearchItem]", result)


def _is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(SEALED_FIELD), str)


def _matches(value: dict[str, Any], conditions: dict[str, Any]) -> bool:
    """LangGraph's filter semantics: equality, or ``$eq``/``$ne``/``$gt``/... per field."""
    for field, wanted in conditions.items():
        actual = value.get(field)
        if isinstance(wanted, dict) and wanted and all(k.startswith("$") for k in wanted):
            if not all(_compare(actual, k, v) for k, v in wanted.items()):
                return False
        elif actual != wanted:
            return False
    return True


def _compare(actual: Any, operator: str, wanted: Any) -> bool:
    try:
        match operator:
            case "$eq":
                return bool(actual == wanted)
            case "$ne":
                return bool(actual != wanted)
            case "$gt":
                return bool(actual > wanted)
            case "$gte":
                return bool(actual >= wanted)
            case "$lt":
                return bool(actual < wanted)
            case "$lte":
                return bool(actual <= wanted)
    except TypeError:  # None or another type: no match, as in the database
        return False
    raise ValueError(f"unsupported filter operator {operator!r}")


class CallerMemory:
    """Facts about callers, one small document per phone number.

    Stored under namespace ``("callers", <E.164 number>)``, key ``"profile"``
    (the number kept as a keyed HMAC label when encrypted: :class:`EncryptedStore`).
    The document always has ``name`` (``None`` until learned) and
    ``last_visit`` (ISO 8601 UTC, ``None`` until a call is recorded); other
    keys are whatever the graph remembered.
    """

    def __init__(self, store: BaseStore, *, clock: Callable[[], datetime] | None = None) -> None:
        """Wrap ``store``; ``clock`` returns the current UTC time (injectable for tests)."""
        self._store = store
        self._clock = clock or (lambda: datetime.now(UTC))

    @staticmethod
    def is_storable(phone: str) -> bool:
        """Whether ``phone`` is a caller's own E.164 number (only those are remembered).

        A withheld caller ID that looks like a number (``+266696687`` is
        ANONYMOUS on a keypad) is not: every hidden caller would share it.
        """
        return bool(phone) and normalise_caller(phone) == phone

    async def get(self, phone: str) -> dict[str, Any] | None:
        """The caller's profile, or ``None`` for an unknown or withheld number."""
        if not self.is_storable(phone):
            return None
        item = await self._store.aget(_namespace(phone), PROFILE_KEY)
        if item is None:
            return None
        return {"name": None, "last_visit": None, **item.value}

    async def remember(self, phone: str, **facts: Any) -> dict[str, Any] | None:
        """Merge ``facts`` into the caller's profile; a ``None`` value forgets a fact.

        ``name`` and ``last_visit`` are kept in the document even when set to
        ``None``. Facts must be JSON-serialisable.

        Returns:
            The stored profile, or ``None`` when ``phone`` is not storable.
        """
        if not self.is_storable(phone):
            return None
        current = await self.get(phone) or {"name": None, "last_visit": None}
        for key, value in facts.items():
            if value is None and key not in {"name", "last_visit"}:
                current.pop(key, None)
            else:
                current[key] = value
        current["updated_at"] = self._clock().isoformat()
        # Profiles are looked up by number, never searched by meaning: no index.
        await self._store.aput(_namespace(phone), PROFILE_KEY, current, index=False)
        return current

    async def record_visit(self, phone: str, *, when: datetime | None = None) -> None:
        """Set ``last_visit`` (default: now); call it when a call ends."""
        await self.remember(phone, last_visit=(when or self._clock()).isoformat())

    async def forget(self, phone: str) -> None:
        """Delete everything remembered about ``phone`` (a caller's erasure request)."""
        if self.is_storable(phone):
            await self._store.adelete(_namespace(phone), PROFILE_KEY)


def _namespace(phone: str) -> tuple[str, str]:
    return (CALLERS_NAMESPACE, phone)
