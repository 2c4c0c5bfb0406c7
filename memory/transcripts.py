"""Append-only call transcripts: one JSON-lines file per call.

The checkpoint keeps only a window of recent messages (:mod:`memory.window`);
the transcript keeps everything the call said, redacted, in order. The turn
runner appends each finished turn's messages (after any barge-in cut or
repair, so the agent's line is what the caller actually heard)::

    transcript = Transcript.open(call_sid, directory=var_dir / "transcripts", redact=redactor)
    ...
    state = await graph.aget_state(config)
    transcript.append_messages(state.values["messages"])  # only new ids are written

Appending is idempotent by message id, so the runner can pass the whole
window every turn. A message must be appended before it leaves the window:
pass the state after every turn, and keep the window longer than one turn.

Redaction (``redact``, identity by default; Presidio arrives later) runs on
every text before it touches the disk: message text, tool-call arguments and
tool results. Writes are small synchronous appends; when ``redact`` is slow,
use :meth:`Transcript.aappend_messages`, which runs in a worker thread.

File layout: ``<directory>/<call_sid>.jsonl``, one object per line::

    {"seq": 3, "ts": "2025-01-01T10:00:03.120000+00:00", "role": "agent",
     "text": "...", "message_id": "run-...", "tool_calls": [{"name": ..., "args": "..."}]}
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

__all__ = [
    "Redactor",
    "Role",
    "Transcript",
    "TranscriptEntry",
    "identity",
    "read_transcript",
    "transcript_path",
]

Role = Literal["caller", "agent", "tool", "system", "event"]
Redactor = Callable[[str], str]

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


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

    A torn last line (the process died mid-write) is skipped.
    """
    return list(_iter_entries(Path(path)))


class Transcript:
    """The append-only transcript of one call.

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
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._redact = redact
        self._clock = clock or _utc_now
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._seq = 0
        _drop_torn_tail(self.path)
        for entry in _iter_entries(self.path):
            self._seq = max(self._seq, entry.seq)
            if entry.message_id:
                self._seen.add(entry.message_id)

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

    def __len__(self) -> int:
        return self._seq

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
        with self._lock:
            if message_id is not None and message_id in self._seen:
                return None
        entry = self._entry(role, text, message_id=message_id, name=name, meta=meta)
        written = self._write([entry])
        return written[0] if written else None

    def append_messages(self, messages: Iterable[BaseMessage]) -> list[TranscriptEntry]:
        """Append the messages not written yet, in order; returns what was written.

        Messages without an id are always written (give messages ids to make
        this idempotent; ``add_messages`` assigns them in state).
        """
        pending: list[TranscriptEntry] = []
        batch: set[str] = set()
        for message in messages:
            if message.id:
                # Unlocked read is fine: _write checks again under the lock.
                if message.id in self._seen or message.id in batch:
                    continue
                batch.add(message.id)
            pending.append(self._message_entry(message))
        return self._write(pending)

    async def aappend_messages(self, messages: Iterable[BaseMessage]) -> list[TranscriptEntry]:
        """:meth:`append_messages` in a worker thread (for slow redactors)."""
        return await asyncio.to_thread(self.append_messages, list(messages))

    def entries(self) -> list[TranscriptEntry]:
        """Everything written so far, oldest first."""
        return read_transcript(self.path)

    # -- internals -------------------------------------------------------------------

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
        """Redact and build an entry; ``seq`` and ``ts`` are set when written."""
        return TranscriptEntry(
            seq=0,
            ts="",
            role=role,
            text=self._redact(text),
            message_id=message_id,
            name=name,
            tool_calls=tool_calls,
            meta=meta or {},
        )

    def _message_entry(self, message: BaseMessage) -> TranscriptEntry:
        role: Role
        tool_calls: tuple[dict[str, str], ...] = ()
        name: str | None = None
        if isinstance(message, HumanMessage):
            # A note from the phone system ("transfer_failed") is not the caller's words.
            event = (message.additional_kwargs or {}).get("source") == "event"
            role = "event" if event else "caller"
        elif isinstance(message, AIMessage):
            role = "agent"
            tool_calls = tuple(
                {
                    "name": call["name"],
                    "args": self._redact(json.dumps(call["args"], ensure_ascii=False)),
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
            role, str(message.text), message_id=message.id, name=name, tool_calls=tool_calls
        )

    def _write(self, entries: list[TranscriptEntry]) -> list[TranscriptEntry]:
        if not entries:
            return []
        written: list[TranscriptEntry] = []
        with self._lock:
            lines = []
            for entry in entries:
                if entry.message_id is not None and entry.message_id in self._seen:
                    continue  # a concurrent append got there first
                self._seq += 1
                numbered = TranscriptEntry(
                    seq=self._seq,
                    ts=self._clock().isoformat(),
                    role=entry.role,
                    text=entry.text,
                    message_id=entry.message_id,
                    name=entry.name,
                    tool_calls=entry.tool_calls,
                    meta=entry.meta,
                )
                if numbered.message_id is not None:
                    self._seen.add(numbered.message_id)
                lines.append(numbered.to_json() + "\n")
                written.append(numbered)
            # One write call per batch: a crash leaves at most one torn line.
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("".join(lines))
        return written


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
