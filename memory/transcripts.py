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
  ``<var_dir>/transcripts/<call_sid>.jsonl`` (this module).
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
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from memory.checkpointer import resolve_database
from memory.redaction import redact_by_patterns

logger = logging.getLogger(__name__)

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

Role = Literal["caller", "agent", "tool", "system", "event"]
Redactor = Callable[[str], str]

# Marks the runtime puts in an AI message's ``response_metadata``
# (graphs.runtime.runner), copied to the entry's ``meta`` under these names.
_MARKS = {"interrupted": "interrupted", "dialgraph_spoken": "runtime"}

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # a lone surrogate: not text any file can hold


def identity(text: str) -> str:
    """The default redactor: returns ``text`` unchanged."""
    return text


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One line of a transcript."""

    seq: int
    """Position in the call, from 1."""
    ts: str
    """When it was written (ISO 8601, UTC)."""
    role: Role
    """``caller``, ``agent``, ``tool``, ``system`` or ``event`` (hang-up, transfer...)."""
    text: str
    """Redacted text."""
    message_id: str | None = None
    """The LangChain message id, when the entry came from a message."""
    name: str | None = None
    """Tool name for ``tool`` entries."""
    tool_calls: tuple[dict[str, str], ...] = ()
    """``{"name", "args"}`` (args as redacted JSON) for an agent line that called tools."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Anything else the runner wants kept (e.g. ``{"interrupted": true}``)."""

    def to_json(self) -> str:
        """Serialise as one JSON line (no trailing newline), omitting empty fields."""
        data: dict[str, Any] = {"seq": self.seq, "ts": self.ts, "role": self.role}
        data["text"] = self.text
        if self.message_id is not None:
            data["message_id"] = self.message_id
        if self.name is not None:
            data["name"] = self.name
        if self.tool_calls:
            data["tool_calls"] = list(self.tool_calls)
        if self.meta:
            data["meta"] = self.meta
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> TranscriptEntry:
        """Parse one line written by :meth:`to_json`."""
        data = json.loads(line)
        return cls(
            seq=int(data["seq"]),
            ts=str(data["ts"]),
            role=data["role"],
            text=str(data.get("text", "")),
            message_id=data.get("message_id"),
            name=data.get("name"),
            tool_calls=tuple(data.get("tool_calls", ())),
            meta=dict(data.get("meta", {})),
        )


def transcript_path(directory: Path, call_sid: str) -> Path:
    """Where the transcript of ``call_sid`` lives (the sid made filename-safe)."""
    if not call_sid:
        raise ValueError("a transcript needs a call sid")
    return Path(directory) / f"{_UNSAFE_NAME.sub('_', call_sid)}.jsonl"


def read_transcript(path: Path) -> list[TranscriptEntry]:
    """Read a transcript file; a missing file reads as empty.

    A torn last line (the process died mid-write) is skipped. A line that
    revises an earlier ``seq`` (a reply cut by barge-in) replaces it in place.
    """
    return _latest(_iter_entries(Path(path)))


class TranscriptRecorder:
    """What both backends share: redaction, message -> entry, numbering, dedup by id.

    Keeps the call's next ``seq``, the ``seq`` of each message id already
    taken and a fingerprint of its content, under a thread lock (redaction
    may run in a worker thread). Subclasses store the numbered entries and
    the revisions.
    """

    def __init__(self, *, redact: Redactor, clock: Callable[[], datetime] | None) -> None:
        """Args: ``redact`` runs on every text first; ``clock`` returns UTC now (tests)."""
        self._redact = redact
        self._clock = clock or _utc_now
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}  # message id -> its seq
        self._prints: dict[str, str] = {}  # message id -> fingerprint of what was written
        self._seq = 0

    def __len__(self) -> int:
        return self._seq

    def _new_entries(
        self, messages: Iterable[BaseMessage]
    ) -> tuple[list[TranscriptEntry], list[TranscriptEntry]]:
        """Redacted entries: unnumbered ones for new messages, and revisions.

        New: messages whose ids are not taken yet, and messages without an id
        (always included). Revisions: messages already written whose content
        has changed since (a reply cut by barge-in), numbered with the ``seq``
        they were written under.
        """
        pending: list[TranscriptEntry] = []
        revised: list[TranscriptEntry] = []
        batch: set[str] = set()
        for message in messages:
            if not message.id:
                pending.append(self._message_entry(message))
                continue
            if message.id in batch:
                continue
            batch.add(message.id)
            fingerprint = _fingerprint(message)
            with self._lock:
                seq = self._seen.get(message.id)
                before = self._prints.get(message.id)
                self._prints[message.id] = fingerprint
            if seq is None:
                # _number checks the id again under the lock (a concurrent append).
                pending.append(self._message_entry(message))
            elif before is not None and before != fingerprint:
                revised.append(self._numbered(self._message_entry(message), seq))
        return pending, revised

    def _numbered(self, entry: TranscriptEntry, seq: int) -> TranscriptEntry:
        """``entry`` as line ``seq``, written now."""
        return TranscriptEntry(
            seq=seq,
            ts=self._clock().isoformat(),
            role=entry.role,
            text=entry.text,
            message_id=entry.message_id,
            name=entry.name,
            tool_calls=entry.tool_calls,
            meta=entry.meta,
        )

    def _number(self, entries: Iterable[TranscriptEntry]) -> list[TranscriptEntry]:
        """Give ``entries`` their ``seq`` and ``ts``, skipping ids already taken.

        Call with ``self._lock`` held; the ids are taken on return.
        """
        numbered: list[TranscriptEntry] = []
        for entry in entries:
            if entry.message_id is not None and entry.message_id in self._seen:
                continue  # a concurrent append got there first
            self._seq += 1
            numbered.append(self._numbered(entry, self._seq))
            if entry.message_id is not None:
                self._seen[entry.message_id] = self._seq
        return numbered

    def _resume(self, seq: int, stored: Iterable[tuple[str, int]]) -> None:
        """Continue after what is already stored: number from ``seq + 1``, skip those ids.

        ``stored`` pairs each message id with its ``seq``. Their content is not
        known here: they are revised only once a change is seen after this.
        """
        with self._lock:
            self._seq = max(self._seq, seq)
            self._seen.update(stored)

    def _taken(self, message_id: str | None) -> bool:
        with self._lock:
            return message_id is not None and message_id in self._seen

    def _entry(
        self,
        role: Role,
        text: str,
        *,
        message_id: str | None,
        name: str | None = None,
        meta: dict[str, Any] | None = None,
        tool_calls: tuple[dict[str, str], ...] = (),
    ) -> TranscriptEntry:
        """Redact and build an entry; ``seq`` and ``ts`` are set when numbered."""
        return TranscriptEntry(
            seq=0,
            ts="",
            role=role,
            text=self._redacted(text),
            message_id=message_id,
            name=name,
            tool_calls=tool_calls,
            meta=meta or {},
        )

    def _redacted(self, text: str) -> str:
        """``text`` through the redactor; a redactor that fails never loses the line.

        The line is then redacted by patterns alone (digit runs, spoken numbers,
        e-mails, "my name is ..."), which cannot fail. Lone surrogates (no
        UTF-8 file can hold one) become U+FFFD, so the write cannot fail either.
        """
        try:
            redacted = self._redact(text)
        except Exception as exc:
            logger.warning(
                "transcript redactor failed (%s); the line is redacted by patterns",
                type(exc).__name__,
            )
            return redact_by_patterns(text)
        return _SURROGATE.sub("\ufffd", str(redacted))

    def _message_entry(self, message: BaseMessage) -> TranscriptEntry:
        role: Role
        tool_calls: tuple[dict[str, str], ...] = ()
        name: str | None = None
        meta: dict[str, Any] = {}
        if isinstance(message, HumanMessage):
            # The call's start, a silence or a note from the phone system
            # ("transfer_failed") is not the caller's words.
            role = "event" if _phone_note(message) else "caller"
        elif isinstance(message, AIMessage):
            role = "agent"
            marks = message.response_metadata or {}
            meta = {name: True for mark, name in _MARKS.items() if marks.get(mark)}
            tool_calls = tuple(
                {
                    "name": call["name"],
                    "args": self._redacted(json.dumps(call["args"], ensure_ascii=False)),
                }
                for call in message.tool_calls
            )
        elif isinstance(message, ToolMessage):
            role = "tool"
            name = message.name
        elif isinstance(message, SystemMessage):
            role = "system"
        else:
            role = "event"
        return self._entry(
            role,
            str(message.text),
            message_id=message.id,
            name=name,
            meta=meta,
            tool_calls=tool_calls,
        )


def _fingerprint(message: BaseMessage) -> str:
    """What a transcript line of ``message`` depends on, hashed (no text is kept)."""
    marks = (message.response_metadata or {}) if isinstance(message, AIMessage) else {}
    calls = [(c["name"], c["args"]) for c in getattr(message, "tool_calls", None) or ()]
    content = json.dumps(
        [message.type, str(message.text), calls, sorted(m for m in _MARKS if marks.get(m))],
        ensure_ascii=False,
        default=str,
        sort_keys=True,
    )
    return hashlib.blake2b(content.encode(errors="surrogatepass"), digest_size=16).hexdigest()


_NOTES = frozenset({"start", "silence", "event"})  # turn sources that are nobody's words


def _phone_note(message: BaseMessage) -> bool:
    """Whether a human message is a note of the phone runtime, not the caller's words.

    The runtime tags each turn it sends in ``additional_kwargs["dialgraph"]``.
    """
    extra = message.additional_kwargs or {}
    tag = extra.get("dialgraph")
    source = tag.get("source") if isinstance(tag, dict) else extra.get("source")
    return source in _NOTES


class Transcript(TranscriptRecorder):
    """The append-only transcript of one call, as a JSON-lines file.

    Not shared between processes: one worker owns a live call. Thread-safe
    within the process (a lock serialises appends).
    """

    def __init__(
        self,
        path: Path,
        *,
        redact: Redactor = identity,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Open (or create) the transcript at ``path``.

        Args:
            path: The JSON-lines file; its directory is created.
            redact: Applied to every text before it is written.
            clock: Returns the current time (UTC); injectable for tests.
        """
        super().__init__(redact=redact, clock=clock)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(self.path)
        stored = read_transcript(self.path)
        self._resume(
            max((entry.seq for entry in stored), default=0),
            ((entry.message_id, entry.seq) for entry in stored if entry.message_id),
        )

    @classmethod
    def open(
        cls,
        call_sid: str,
        *,
        directory: Path = Path("var/transcripts"),
        redact: Redactor = identity,
        clock: Callable[[], datetime] | None = None,
    ) -> Transcript:
        """Open the transcript of ``call_sid`` under ``directory``."""
        return cls(transcript_path(directory, call_sid), redact=redact, clock=clock)

    def append(
        self,
        role: Role,
        text: str,
        *,
        message_id: str | None = None,
        name: str | None = None,
        **meta: Any,
    ) -> TranscriptEntry | None:
        """Append one line; ``text`` is redacted first, ``meta`` is written as given.

        Returns:
            The written entry, or ``None`` when ``message_id`` was already
            written (appending is idempotent by message id).
        """
        if self._taken(message_id):
            return None
        entry = self._entry(role, text, message_id=message_id, name=name, meta=meta)
        written = self._write([entry], [])
        return written[0] if written else None

    def append_messages(self, messages: Iterable[BaseMessage]) -> list[TranscriptEntry]:
        """Append the messages not written yet, in order; returns what was written.

        Messages without an id are always written (give messages ids to make
        this idempotent; ``add_messages`` assigns them in state). A message
        written before whose content changed since (a reply cut by barge-in)
        is written again under its ``seq``: the returned list has those
        revisions first.
        """
        return self._write(*self._new_entries(messages))

    async def aappend_messages(self, messages: Iterable[BaseMessage]) -> list[TranscriptEntry]:
        """:meth:`append_messages` in a worker thread (for slow redactors)."""
        return await asyncio.to_thread(self.append_messages, list(messages))

    def entries(self) -> list[TranscriptEntry]:
        """Everything written so far, oldest first."""
        return read_transcript(self.path)

    async def aentries(self) -> list[TranscriptEntry]:
        """:meth:`entries` in a worker thread."""
        return await asyncio.to_thread(self.entries)

    async def aclose(self) -> None:
        """End of call; nothing to do (every append is on disk when it returns)."""

    # -- internals -------------------------------------------------------------------

    def _write(
        self, entries: list[TranscriptEntry], revised: list[TranscriptEntry]
    ) -> list[TranscriptEntry]:
        if not entries and not revised:
            return []
        with self._lock:
            written = [*revised, *self._number(entries)]
            # One write call per batch: a crash leaves at most one torn line.
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("".join(entry.to_json() + "\n" for entry in written))
        return written


class CallTranscript(Protocol):
    """One call's transcript, whichever backend keeps it (the async surface)."""

    async def aappend_messages(self, messages: Iterable[BaseMessage]) -> list[TranscriptEntry]:
        """Append the messages not appended yet (redacted), in order."""
        ...

    async def aentries(self) -> list[TranscriptEntry]:
        """What is stored so far, oldest first."""
        ...

    async def aclose(self) -> None:
        """End of call: no more appends (must return promptly)."""
        ...


class Transcripts(Protocol):
    """The process-wide transcript backend: opens calls' transcripts, reads them back."""

    async def open(self, call_sid: str) -> CallTranscript:
        """The transcript of ``call_sid``, continuing what is already stored."""
        ...

    async def load(self, call_sid: str) -> list[TranscriptEntry]:
        """Everything stored for ``call_sid``, oldest first (empty if none)."""
        ...


@dataclass(frozen=True, slots=True)
class FileTranscripts:
    """:class:`Transcripts` as one JSON-lines file per call under ``directory``."""

    directory: Path
    redact: Redactor = identity
    clock: Callable[[], datetime] | None = None

    async def open(self, call_sid: str) -> Transcript:
        """Open (or continue) the file of ``call_sid``; the file is read in a thread."""
        path = transcript_path(self.directory, call_sid)
        return await asyncio.to_thread(Transcript, path, redact=self.redact, clock=self.clock)

    async def load(self, call_sid: str) -> list[TranscriptEntry]:
        """Read the file of ``call_sid`` in a thread."""
        return await asyncio.to_thread(read_transcript, transcript_path(self.directory, call_sid))


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
    from memory.transcripts_pg import open_postgres_transcripts

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
    from memory.transcripts_pg import load_postgres_transcript

    return await load_postgres_transcript(database.target, call_sid)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _drop_torn_tail(path: Path) -> None:
    """Cut a half-written last line (crash mid-write) so appends start clean."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def _latest(entries: Iterable[TranscriptEntry]) -> list[TranscriptEntry]:
    """One entry per ``seq``, in order: a later line for a ``seq`` revises it."""
    by_seq: dict[int, TranscriptEntry] = {}
    for entry in entries:
        by_seq[entry.seq] = entry
    return [by_seq[seq] for seq in sorted(by_seq)]


def _iter_entries(path: Path) -> Iterator[TranscriptEntry]:
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # torn final line from a crash mid-write
            if line.strip():
                yield TranscriptEntry.from_json(line)
