"""Call transcripts as JSON-lines files: one append-only file per call.

The default backend (no database URL, or SQLite): a :class:`Transcript` file
per call, ``<var_dir>/transcripts/<call_sid>.jsonl``. How entries are made
(redaction, numbering, revisions) is :mod:`memory.transcripts_base`; how the
backend is picked is :mod:`memory.transcripts`.

File layout: ``<directory>/<call_sid>.jsonl``, one object per line::

    {"seq": 3, "ts": "2025-01-01T10:00:03.120000+00:00", "role": "agent",
     "text": "...", "message_id": "run-...", "tool_calls": [{"name": ..., "args": "..."}]}
    {"seq": 3, "ts": "2025-01-01T10:00:05.410000+00:00", "role": "agent",
     "text": "... (as heard)", "message_id": "run-...", "meta": {"interrupted": true}}

A revision is a new line with the ``seq`` of the line it replaces (the file
stays append-only, so a crash tears at most the last line), and readers keep
the last version of each ``seq``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from memory.transcripts_base import Redactor, Role, TranscriptEntry, TranscriptRecorder, identity

__all__ = [
    "FileTranscripts",
    "Transcript",
    "read_transcript",
    "transcript_path",
]

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


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
