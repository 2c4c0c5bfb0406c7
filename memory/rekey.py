"""Re-encryption: every stored checkpoint and store item under the newest key.

The rotation step of :mod:`memory.encryption`: after the new key is put first
(``DIALGRAPH_CHECKPOINT_KEY=new,old``) and the service restarted,
:func:`rotate` (``dialgraph rekey``) rewrites each row that an older key (or
no key) sealed. It is its own module because it opens the checkpointer and
the store, which both build on the key ring: the ring knows nothing of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memory.checkpointer import open_checkpointer, resolve_database
from memory.encryption import (
    CHECKPOINT_KEY_ENV,
    CIPHER_NAME,
    KeyRing,
    WrongKeyError,
    default_var_dir,
    key_ring,
    split_keys,
)
from memory.store import open_store

__all__ = ["RotationReport", "rotate"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RotationReport:
    """What :func:`rotate` re-encrypted (rows already under the newest key are left)."""

    checkpoint_rows: int
    """Checkpoint, blob and pending-write rows re-encrypted (plaintext ones included)."""
    store_items: int
    """Store items re-encrypted (and moved to their newest namespace label)."""


async def rotate(
    database_url: str | None, keys: str | None = None, *, var_dir: Path | None = None
) -> RotationReport:
    """Re-encrypt every checkpoint and store item under the newest key.

    Run it after putting a new key first (``DIALGRAPH_CHECKPOINT_KEY=new,old``)
    and restarting; afterwards the old key may be dropped. Rows written in
    plain text (before encryption was on) are encrypted too. It is safe
    while calls run (each row is rewritten alone, with a value any listed
    key opens) and safe to run again (rows under the newest key are skipped).

    Args:
        database_url: The service's database (``None``: ``var_dir/dialgraph.db``).
        keys: The ``DIALGRAPH_CHECKPOINT_KEY`` value; ``None`` reads the
            environment; ``""`` the key file.
        var_dir: The var directory (default: as the service resolves it).

    Raises:
        ValueError: encryption is off, or a row was encrypted with a key that
            is not listed (:class:`WrongKeyError`; nothing after it is changed).
    """
    var_dir = default_var_dir() if var_dir is None else var_dir
    ring = key_ring(keys, var_dir=var_dir)
    if ring is None:
        raise ValueError(f"{CHECKPOINT_KEY_ENV}=off: there is no key to encrypt with")
    setting = ",".join(split_keys(keys)) if keys else keys
    database = resolve_database(database_url, var_dir=var_dir)
    async with open_checkpointer(database_url, var_dir=var_dir, encryption_key=setting) as saver:
        rows = await _rekey_checkpoints(saver, ring, database.kind)
    async with open_store(database_url, var_dir=var_dir, encryption_key=setting) as store:
        # A key is set (checked above), so open_store gave an EncryptedStore.
        items = await store.rekey()  # type: ignore[attr-defined]
    logger.info("re-encrypted %d checkpoint rows and %d store items", rows, items)
    return RotationReport(checkpoint_rows=rows, store_items=items)


def _rekeyed(ring: KeyRing, typ: str, data: bytes) -> tuple[str, bytes] | None:
    """``(type, bytes)`` re-encrypted under the newest key, or ``None`` if already so."""
    if typ == "empty" or data is None:
        return None
    if "+" not in typ:  # written before encryption was on
        return f"{typ}+{CIPHER_NAME}", ring.encrypt(data)
    _, _, cipher = typ.partition("+")
    if cipher != CIPHER_NAME:
        raise WrongKeyError(f"unsupported cipher {cipher!r}")
    plaintext, index = ring.decrypt(data)
    if index == 0:
        return None
    return typ, ring.encrypt(plaintext)


_SQLITE_TABLES = (
    ("checkpoints", "checkpoint", ("thread_id", "checkpoint_ns", "checkpoint_id")),
    ("writes", "value", ("thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx")),
)
_PG_TABLES = (
    ("checkpoint_blobs", "blob", ("thread_id", "checkpoint_ns", "channel", "version")),
    (
        "checkpoint_writes",
        "blob",
        ("thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx"),
    ),
)


async def _rekey_checkpoints(saver: Any, ring: KeyRing, kind: str) -> int:
    if kind == "sqlite":
        return await _rekey_sqlite(saver, ring)
    return await _rekey_postgres(saver, ring)


async def _rekey_sqlite(saver: Any, ring: KeyRing) -> int:
    changed = 0
    async with saver.lock:
        conn = saver.conn
        for table, column, keys in _SQLITE_TABLES:
            cols = ", ".join(keys)
            where = " AND ".join(f"{k} = ?" for k in keys)
            async with conn.execute(f"SELECT {cols}, type, {column} FROM {table}") as cur:
                rows = await cur.fetchall()
            for row in rows:
                new = _rekeyed(ring, row[-2], row[-1])
                if new is not None:
                    await conn.execute(
                        f"UPDATE {table} SET type = ?, {column} = ? WHERE {where}",
                        (*new, *row[: len(keys)]),
                    )
                    await conn.commit()
                    changed += 1
    return changed


async def _rekey_postgres(saver: Any, ring: KeyRing) -> int:
    changed = 0
    async with saver.conn.connection() as conn, conn.cursor() as cur:
        for table, column, keys in _PG_TABLES:
            cols = ", ".join(keys)
            where = " AND ".join(f"{k} = %s" for k in keys)
            await cur.execute(f"SELECT {cols}, type, {column} FROM {table}")
            rows = await cur.fetchall()
            for row in rows:
                values = list(row.values()) if isinstance(row, dict) else list(row)
                new = _rekeyed(ring, values[-2], values[-1])
                if new is not None:
                    await cur.execute(
                        f"UPDATE {table} SET type = %s, {column} = %s WHERE {where}",
                        (*new, *values[: len(keys)]),
                    )
                    changed += 1
        changed += await _seal_inline_values(cur, saver, ring)
    return changed


async def _seal_inline_values(cur: Any, saver: Any, ring: KeyRing) -> int:
    """Move plain channel values out of Postgres checkpoint rows into encrypted blobs.

    LangGraph's Postgres saver keeps string, number and boolean channel
    values inside the checkpoint's JSON (no serializer, so no encryption);
    :class:`~memory.checkpointer.SealedPostgresSaver` no longer writes them
    there, and this moves those of older rows.
    """
    from psycopg.types.json import Jsonb

    await cur.execute(
        "SELECT thread_id, checkpoint_ns, checkpoint_id, checkpoint FROM checkpoints "
        "WHERE checkpoint -> 'channel_values' IS NOT NULL "
        "AND checkpoint -> 'channel_values' <> '{}'::jsonb"
    )
    moved = 0
    for row in await cur.fetchall():
        thread_id, ns, checkpoint_id, checkpoint = row.values() if isinstance(row, dict) else row
        inline = dict(checkpoint.get("channel_values") or {})
        versions = checkpoint.get("channel_versions") or {}
        sealed = {k: v for k, v in inline.items() if k in versions and v is not True}
        if not sealed:
            continue
        for channel, value in sealed.items():
            typ, blob = saver.serde.dumps_typed(value)
            await cur.execute(
                "INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, "
                "type, blob) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (thread_id, ns, channel, str(versions[channel]), typ, blob),
            )
        kept = {k: v for k, v in inline.items() if k not in sealed}
        await cur.execute(
            "UPDATE checkpoints SET checkpoint = jsonb_set(checkpoint, '{channel_values}', %s) "
            "WHERE thread_id = %s AND checkpoint_ns = %s AND checkpoint_id = %s",
            (Jsonb(kept), thread_id, ns, checkpoint_id),
        )
        moved += 1
    return moved
