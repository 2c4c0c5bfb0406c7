"""Append-only call transcripts: one JSON-lines file per call, or Postgres rows.

The checkpoint keeps only a window of recent messages (:mod:`memory.window`);
the transcript keeps everything the call said, redacted, in order. The turn
runner appends each finished turn's messages, and again after a barge-in cut
or a repair, so the agent's line is what the caller actually heard::

    async with open_transcripts(database_url, var_dir=var_dir, redact=redactor) as transcripts:
        transcript = await transcripts.open(call_sid)  # one per call
        ...
        state = await graph.aget_state(config)
        await transcript.aappend_messages(state.values["messages"])  # only new ids are written
        ...
        await transcript.aclose()  # at hang-up

    entries = await load_transcript(call_sid, database_url=database_url, var_dir=var_dir)

Where they live follows the database URL (as :mod:`memory.checkpointer`):

* unset or ``sqlite:///...``: a :class:`Transcript` file per call,
  ``<var_dir>/transcripts/<call_sid>.jsonl`` (:mod:`memory.transcripts_file`).
* ``postgresql://...``: rows of the ``call_transcripts`` table, so every
  worker's calls are in one place (:mod:`memory.transcripts_pg`; writes go
  to the database in the background and a database error never reaches the
  call).

Appending is idempotent by message id, so the runner can pass the whole
window every turn. A message must be appended before it leaves the window:
pass the state after every turn, and keep the window longer than one turn.

The transcript follows the checkpoint by message id. A reply is written when
its turn ends, usually before the caller has heard all of it; if a barge-in
then cuts it, the runner stores what was heard under the same id, and the
next append *revises* that line: same ``seq``, the heard text, and
``meta["interrupted"]``. A revision is a new line with the ``seq`` of the
line it replaces (the file stays append-only, so a crash tears at most the
last line), and readers keep the last version of each ``seq``; in Postgres
it updates the row. Changes are noticed by a fingerprint of each message
kept in memory, so a revision needs no extra redaction; a transcript
reopened by another process revises only what it saw change itself.

Speech the phone runtime said on its own (a question of ``interrupt()``, the
configured greeting, a goodbye, an apology) is marked ``meta["runtime"]``:
the graph did not produce it, the caller heard it.

Redaction (``redact``, identity by default; the service passes Presidio) runs
on every text before it is written anywhere: message text, tool-call
arguments and tool results. File writes are small synchronous appends; when
``redact`` is slow, use :meth:`Transcript.aappend_messages`, which runs in a
worker thread.

File layout: ``<directory>/<call_sid>.jsonl``, one object per line::

    {"seq": 3, "ts": "2025-01-01T10:00:03.120000+00:00", "role": "agent",
     "text": "...", "message_id": "run-...", "tool_calls": [{"name": ..., "args": "..."}]}
    {"seq": 3, "ts": "2025-01-01T10:00:05.410000+00:00", "role": "agent",
     "text": "... (as heard)", "message_id": "run-...", "meta": {"interrupted": true}}
The shared types live in :mod:`memory.transcripts_base`, the file backend in
:mod:`memory.transcripts_file`, the Postgres one in :mod:`memory.transcripts_pg`;
this module picks one and keeps every public name importable from here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from memory.checkpointer import resolve_database
from memory.transcripts_base import (
    CallTranscript,
    Redactor,
    Role,
    TranscriptEntry,
    TranscriptRecorder,
    Transcripts,
    identity,
)
from memory.transcripts_file import FileTranscripts, Transcript, read_transcript, transcript_path
from memory.transcripts_pg import load_postgres_transcript, open_postgres_transcripts

__all__ = [
    "CallTranscript",
    "FileTranscripts",
    "Redactor",
    "Role",
    "Transcript",
    "TranscriptEntry",
    "TranscriptRecorder",
    "Transcripts",
    "identity",
    "load_transcript",
    "open_transcripts",
    "read_transcript",
    "transcript_path",
]


@asynccontextmanager
async def open_transcripts(
    database_url: str | None = None,
    *,
    var_dir: Path = Path("var"),
    redact: Redactor = identity,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[Transcripts]:
    """Open the transcript backend the database URL implies (see the module docstring).

    Args:
        database_url: ``None``/``""`` or ``sqlite:///...``: files under
            ``var_dir/transcripts``; ``postgresql://...``: the
            ``call_transcripts`` table (created if missing).
        var_dir: The service's var directory.
        redact: Applied to every text before it is written.
        clock: Returns the current time (UTC); injectable for tests.

    Yields:
        The backend; on exit, Postgres writes still pending get a last chance
        (see :func:`memory.transcripts_pg.open_postgres_transcripts`).
    """
    database = resolve_database(database_url, var_dir=var_dir)
    if database.kind == "sqlite":
        yield FileTranscripts(Path(var_dir) / "transcripts", redact=redact, clock=clock)
        return
    async with open_postgres_transcripts(database.target, redact=redact, clock=clock) as pg:
        yield pg


async def load_transcript(
    call_sid: str, *, database_url: str | None = None, var_dir: Path = Path("var")
) -> list[TranscriptEntry]:
    """Read back the transcript of ``call_sid``, wherever the service keeps it.

    For operators and tools: pass the service's ``DIALGRAPH_DATABASE_URL`` and
    ``DIALGRAPH_VAR_DIR`` (``None`` = the default SQLite set-up, i.e. files).
    Entries are already redacted. Postgres is read on one short-lived
    connection; an unknown call reads as empty.
    """
    database = resolve_database(database_url, var_dir=var_dir)
    if database.kind == "sqlite":
        return await FileTranscripts(Path(var_dir) / "transcripts").load(call_sid)
    return await load_postgres_transcript(database.target, call_sid)
