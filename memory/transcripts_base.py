"""What every transcript backend shares: the entry, the recorder, the protocols.

A transcript line is a :class:`TranscriptEntry`; :class:`TranscriptRecorder`
turns LangChain messages into redacted, numbered entries (dedup by message
id, revisions of a reply cut by barge-in); :class:`CallTranscript` and
:class:`Transcripts` are the async surface the phone runtime holds.

The backends import this module and nothing here imports a backend:
:mod:`memory.transcripts_file` (JSON-lines files) and
:mod:`memory.transcripts_pg` (Postgres rows). :mod:`memory.transcripts`
picks one from the database URL and re-exports the public names. See
:mod:`memory.transcripts` for how appends, revisions and redaction work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from memory.redaction import redact_by_patterns

logger = logging.getLogger(__name__)

__all__ = [
    "CallTranscript",
    "Redactor",
    "Role",
    "TranscriptEntry",
    "TranscriptRecorder",
    "Transcripts",
    "identity",
]

Role = Literal["caller", "agent", "tool", "system", "event"]
Redactor = Callable[[str], str]

# Marks the runtime puts in an AI message's ``response_metadata``
# (graphs.runtime.runner), copied to the entry's ``meta`` under these names.
_MARKS = {"interrupted": "interrupted", "dialgraph_spoken": "runtime"}

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


def _utc_now() -> datetime:
    return datetime.now(UTC)
