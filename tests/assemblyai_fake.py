"""A fake AssemblyAI Universal Streaming (v3) server on loopback (a test double).

It follows the vendor's documented protocol closely enough that both
:class:`telephony.speech.assemblyai.AssemblyAISTT` and the vendor's own
SDK (``assemblyai.streaming.v3``) talk to it unchanged:

- ``GET /v3/ws`` upgrade; the API key in ``Authorization``. A wrong key gets
  ``{"type": "Error", "error_code": 1008, ...}`` and a close with 1008.
- Query parameters are checked as the service checks them (``sample_rate`` a
  positive integer, a known ``encoding``, booleans, numbers, and
  ``keyterms_prompt`` a JSON array of strings); a bad one gets Error 3006.
- ``Begin`` (``id``, ``expires_at``) first; then binary audio, each message
  50-1000 ms long (else Error 3007, "Input duration violation").
- Speech is found by level (20 ms blocks louder than 1000, like
  :class:`tests.fakes.FakeSTT`). A burst sends ``SpeechStarted`` and, every
  ``partial_ms`` of speech, a ``Turn`` revealing one more word of the
  scripted utterance (``transcript`` = the finalised words, ``words`` also
  the word in progress). ``end_silence_ms`` of silence ends the turn: a
  ``Turn`` with ``end_of_turn: true`` (lower case, no punctuation), then,
  if ``format_turns=true``, its formatted copy (the script's own text).
- ``{"type": "Terminate"}`` ends a turn in progress, sends ``Termination``
  and closes with 1000. ``ForceEndpoint`` ends the turn; ``KeepAlive`` is
  accepted; ``UpdateConfiguration`` changes the session's settings (fields
  as the SDK's ``set_params`` sends them; an unknown field or a wrong type
  gets Error 3006), a ``keyterms_prompt`` list replacing the key terms in
  effect; anything else gets Error 3006.
- Key terms matter as they do to the service: ``misheard`` maps a term to
  what the fake writes for it ("Doctor Nguyen" -> "doctor when") in a turn
  that began while the term was not a key term. A turn uses the key terms in
  effect when its speech started, so an update applies from the next turn.

Utterance texts are taken in order across connections (the n-th turn the
server finalises is ``utterances[n]``), so a client that reconnects in the
middle of an utterance hears it finished by the next connection.

Faults are scripted per connection attempt (:class:`Fault`); a refused
connection is simply a port nobody listens on (:func:`refused_url`).
Everything each connection did is recorded in :class:`Connection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from telephony.wire.codec import ulaw_to_pcm

__all__ = ["API_KEY", "Connection", "FakeAssemblyAI", "Fault", "refused_url", "unformatted"]

API_KEY = "fake-assemblyai-key-0123456789abcdef"  # not a real key; tests check it is never logged
LOUD = 1000  # a 20 ms block whose peak exceeds this is speech (as FakeSTT decides)
BLOCK_MS = 20
MIN_CHUNK_MS, MAX_CHUNK_MS = 50, 1000
ENCODINGS = {"pcm_s16le": 2, "pcm_mulaw": 1}  # bytes per sample
SPEECH_MODELS = {
    "universal-streaming-english",
    "universal-streaming-multilingual",
    "u3-rt-pro",
    "universal-3-5-pro",
}
BOOL_PARAMS = ("format_turns", "language_detection")
NUMBER_PARAMS = (
    "end_of_turn_confidence_threshold",
    "min_end_of_turn_silence_when_confident",
    "min_turn_silence",
    "max_turn_silence",
    "vad_threshold",
    "inactivity_timeout",
)
CLIENT_MESSAGES = {"Terminate", "ForceEndpoint", "KeepAlive", "UpdateConfiguration"}
# UpdateConfiguration's fields (the SDK's RealTimeSessionParameters, the vendor's
# "Updating Configuration Mid-Stream" page) and the type each must have.
UPDATE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "keyterms_prompt": list,
    "prompt": str,
    "agent_context": str,
    "mode": str,
    "end_of_turn_confidence_threshold": (int, float),
    "min_end_of_turn_silence_when_confident": int,
    "min_turn_silence": int,
    "max_turn_silence": int,
    "interruption_delay": int,
    "turn_left_pad_ms": int,
    "vad_threshold": (int, float),
    "format_turns": bool,
    "filter_profanity": bool,
    "session_heartbeat": bool,
    "acknowledge_silence": bool,
    "language_codes": list,
}
# The fake sees the key in every handshake; its websockets logger stays above DEBUG
# so that tests can check the *client* never logs the key.
_WS_LOGGER = logging.getLogger("tests.assemblyai_fake.websocket")
_WS_LOGGER.setLevel(logging.INFO)


@dataclass(frozen=True)
class Fault:
    """What goes wrong on one connection attempt.

    Attributes:
        kind: ``"reject"`` -- refuse the WebSocket upgrade with HTTP ``status``;
            ``"close"`` -- close with ``code`` (no Error message) once ``after_ms``
            of audio arrived; ``"error"`` -- send an Error message with ``code``,
            then close with it; ``"slow_begin"`` -- wait ``delay`` s before Begin.
    """

    kind: Literal["reject", "close", "error", "slow_begin"]
    after_ms: int = 0
    code: int = 3005
    status: int = 503
    delay: float = 1.0


@dataclass
class Connection:
    """What one accepted connection did."""

    index: int
    query: dict[str, str]
    authorization: str | None
    audio: bytearray = field(default_factory=bytearray)
    chunk_ms: list[float] = field(default_factory=list)
    client_messages: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    keyterms: list[str] = field(default_factory=list)  # in effect now
    turn_keyterms: list[list[str]] = field(default_factory=list)  # in effect as each turn began
    close_code: int | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == kind]


def unformatted(text: str) -> str:
    """How the service writes a turn before formatting: lower case, no punctuation."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def refused_url() -> str:
    """A ws:// URL on a loopback port nobody listens on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ws://127.0.0.1:{port}/v3/ws"


class _Listener:
    """Finds turns in one connection's audio and scripts the Turn messages."""

    def __init__(self, server: FakeAssemblyAI, conn: Connection, bytes_per_sample: int) -> None:
        self.server = server
        self.conn = conn
        self.bytes_per_sample = bytes_per_sample
        self.format_turns = conn.query.get("format_turns", "false").lower() == "true"
        self.audio_ms = 0
        self.speech_ms = 0
        self.silence_ms = 0
        self.speaking = False
        self.turn_start_ms = 0
        self._pending = bytearray()

    def blocks(self, chunk: bytes) -> list[bool]:
        """Loudness of each complete 20 ms block (a partial block waits for the next message)."""
        self._pending += chunk
        block_bytes = 8 * BLOCK_MS * self.bytes_per_sample
        whole = len(self._pending) // block_bytes * block_bytes
        data, self._pending = bytes(self._pending[:whole]), self._pending[whole:]
        mulaw = self.bytes_per_sample == 1
        pcm = ulaw_to_pcm(data) if mulaw else np.frombuffer(data, dtype="<i2")
        n = 8 * BLOCK_MS
        return [
            int(np.abs(pcm[i : i + n].astype(np.int32)).max(initial=0)) > LOUD
            for i in range(0, len(pcm), n)
        ]

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for loud in self.blocks(chunk):
            self.audio_ms += BLOCK_MS
            if loud:
                if not self.speaking:
                    self.speaking, self.speech_ms = True, 0
                    self.turn_start_ms = self.audio_ms - BLOCK_MS
                    self.conn.turn_keyterms.append(list(self.conn.keyterms))
                    out.append({"type": "SpeechStarted", "timestamp": self.turn_start_ms})
                self.speech_ms += BLOCK_MS
                self.silence_ms = 0
                if self.speech_ms % self.server.partial_ms == 0:
                    out.append(self.partial())
            elif self.speaking:
                self.silence_ms += BLOCK_MS
                if self.silence_ms >= self.server.end_silence_ms:
                    out += self.end_turn()
        return out

    def _words(self, texts: list[str], final_upto: int) -> list[dict[str, Any]]:
        span = max(1, self.speech_ms // max(1, len(texts)))
        return [
            {
                "start": self.turn_start_ms + i * span,
                "end": self.turn_start_ms + (i + 1) * span,
                "text": word,
                "confidence": 0.9,
                "word_is_final": i < final_upto,
            }
            for i, word in enumerate(texts)
        ]

    def heard(self) -> str:
        """The script's text as heard with the key terms this turn began with."""
        text = self.server.script()
        terms = (
            {t.casefold() for t in self.conn.turn_keyterms[-1]}
            if self.conn.turn_keyterms
            else set()
        )
        for term, instead in self.server.misheard.items():
            if term.casefold() not in terms:
                text = re.sub(re.escape(term), instead, text, flags=re.IGNORECASE)
        return text

    def partial(self) -> dict[str, Any]:
        words = unformatted(self.heard()).split()
        heard = words[: min(len(words), self.speech_ms // self.server.partial_ms)]
        final = heard[:-1]
        return self._turn(" ".join(final), self._words(heard, len(final)), False, False)

    def end_turn(self) -> list[dict[str, Any]]:
        text = self.heard()
        self.server.finalised += 1
        self.speaking = False
        words = unformatted(text).split()
        out = [self._turn(" ".join(words), self._words(words, len(words)), True, False)]
        if self.format_turns and self.server.send_formatted:
            shown = text.split()
            out.append(self._turn(text, self._words(shown, len(shown)), True, True))
        self.server.turn_order += 1
        return out

    def _turn(
        self, transcript: str, words: list[dict[str, Any]], end: bool, formatted: bool
    ) -> dict[str, Any]:
        return {
            "type": "Turn",
            "turn_order": self.server.turn_order,
            "turn_is_formatted": formatted,
            "end_of_turn": end,
            "transcript": transcript,
            "end_of_turn_confidence": 0.9 if end else 0.01,
            "words": words,
            "utterance": transcript if end and not formatted else "",
        }


class FakeAssemblyAI:
    """The fake service; ``async with FakeAssemblyAI(...) as fake:`` serves on ``fake.url``.

    Args:
        utterances: What the caller says, one text per turn, in order.
        api_key: The key the ``Authorization`` header must carry.
        faults: Per connection attempt, a :class:`Fault` or ``None`` (healthy);
            attempts past the end are healthy.
        partial_ms: Speech between two partial Turn messages.
        end_silence_ms: Silence that ends a turn.
        send_formatted: Send the formatted copy when ``format_turns=true``.
        misheard: ``key term -> what is written instead`` in a turn that
            began without that key term in effect.
    """

    def __init__(
        self,
        utterances: Sequence[str] = (),
        *,
        api_key: str = API_KEY,
        faults: Sequence[Fault | None] = (),
        partial_ms: int = 100,
        end_silence_ms: int = 300,
        send_formatted: bool = True,
        misheard: dict[str, str] | None = None,
    ) -> None:
        self.utterances = list(utterances)
        self.api_key = api_key
        self.faults = list(faults)
        self.partial_ms = partial_ms
        self.end_silence_ms = end_silence_ms
        self.send_formatted = send_formatted
        self.misheard = dict(misheard or {})
        self.attempts = 0
        self.connections: list[Connection] = []
        self.finalised = 0
        self.turn_order = 0
        self._server: Server | None = None
        self._attempt_of: dict[int, int] = {}
        self._sessions = itertools.count()

    @property
    def host(self) -> str:
        """``ws://127.0.0.1:port`` (the SDK's ``api_host`` form)."""
        assert self._server is not None, "use `async with FakeAssemblyAI()`"
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    @property
    def url(self) -> str:
        return f"{self.host}/v3/ws"

    def script(self) -> str:
        index = self.finalised
        return self.utterances[index] if index < len(self.utterances) else "unscripted words"

    def fault(self, attempt: int) -> Fault | None:
        return self.faults[attempt] if attempt < len(self.faults) else None

    async def __aenter__(self) -> FakeAssemblyAI:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._process_request, logger=_WS_LOGGER
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        attempt = self.attempts
        self.attempts += 1
        self._attempt_of[id(connection)] = attempt
        if urlsplit(request.path).path != "/v3/ws":
            return connection.respond(404, "Not Found\n")
        fault = self.fault(attempt)
        if fault is not None and fault.kind == "reject":
            return connection.respond(fault.status, "Service Unavailable\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        attempt = self._attempt_of.pop(id(ws))
        request = ws.request
        assert request is not None
        conn = Connection(
            attempt,
            dict(parse_qsl(urlsplit(request.path).query)),
            request.headers.get("Authorization"),
        )
        self.connections.append(conn)
        try:
            await self._session(ws, conn, self.fault(attempt))
        except ConnectionClosed:
            pass
        finally:
            conn.close_code = ws.close_code
            conn.closed.set()

    async def _send(self, ws: ServerConnection, conn: Connection, message: dict[str, Any]) -> None:
        conn.sent.append(message)
        await ws.send(json.dumps(message))

    async def _fail(self, ws: ServerConnection, conn: Connection, code: int, error: str) -> None:
        await self._send(ws, conn, {"type": "Error", "error_code": code, "error": error})
        await ws.close(code, error[:120])

    def _invalid(self, query: dict[str, str]) -> str | None:
        """What the service would reject in the query, or ``None``."""
        rate = query.get("sample_rate", "")
        if not rate.isdigit() or int(rate) <= 0:
            return "Sample rate must be a positive integer"
        if query.get("encoding", "pcm_s16le") not in ENCODINGS:
            return f"Invalid encoding: {query['encoding'][:40]}"
        if "speech_model" in query and query["speech_model"] not in SPEECH_MODELS:
            return f"Invalid speech_model: {query['speech_model'][:40]}"
        for name in BOOL_PARAMS:
            if name in query and query[name].lower() not in ("true", "false"):
                return f"Invalid {name}: must be a boolean"
        for name in NUMBER_PARAMS:
            if name in query:
                try:
                    float(query[name])
                except ValueError:
                    return f"Invalid {name}: must be a number"
        if "keyterms_prompt" in query:
            try:
                terms = json.loads(query["keyterms_prompt"])
            except ValueError:
                return "Invalid keyterms_prompt: not JSON"
            if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
                return "Invalid keyterms_prompt: must be a list of strings"
        return None

    @staticmethod
    def _invalid_update(request: dict[str, Any]) -> str | None:
        """What the service would reject in an ``UpdateConfiguration``, or ``None``."""
        for name, value in request.items():
            if name == "type":
                continue
            expected = UPDATE_FIELDS.get(name)
            if expected is None:
                return f"Unknown UpdateConfiguration field: {name[:40]}"
            if isinstance(value, bool) and expected is not bool:
                return f"Invalid {name}: wrong type"
            if not isinstance(value, expected):
                return f"Invalid {name}: wrong type"
            if isinstance(value, list) and not all(isinstance(v, str) for v in value):
                return f"Invalid {name}: must be a list of strings"
        return None

    async def _session(self, ws: ServerConnection, conn: Connection, fault: Fault | None) -> None:
        started = time.monotonic()
        if conn.authorization != self.api_key:
            await self._fail(ws, conn, 1008, "Unauthorized Connection: Invalid API key")
            return
        if (problem := self._invalid(conn.query)) is not None:
            await self._fail(ws, conn, 3006, f"Input validation error: {problem}")
            return
        if fault is not None and fault.kind == "slow_begin":
            with contextlib.suppress(TimeoutError):  # a client that gave up ends the wait
                await asyncio.wait_for(ws.wait_closed(), fault.delay)
        await self._send(
            ws,
            conn,
            {
                "type": "Begin",
                "id": str(uuid.UUID(int=next(self._sessions))),
                "expires_at": int(time.time()) + 3600,
            },
        )
        conn.keyterms = json.loads(conn.query.get("keyterms_prompt", "[]"))
        encoding = conn.query.get("encoding", "pcm_s16le")
        rate = int(conn.query["sample_rate"])
        bytes_per_ms = rate * ENCODINGS[encoding] / 1000
        listener = _Listener(self, conn, ENCODINGS[encoding])
        if await self._fault_due(ws, conn, fault, 0):
            return
        async for message in ws:
            if isinstance(message, bytes):
                ms = len(message) / bytes_per_ms
                if not MIN_CHUNK_MS <= ms <= MAX_CHUNK_MS:
                    await self._fail(
                        ws,
                        conn,
                        3007,
                        f"Input duration violation: {ms:.0f} ms. Expected between "
                        f"{MIN_CHUNK_MS} and {MAX_CHUNK_MS} ms",
                    )
                    return
                conn.audio += message
                conn.chunk_ms.append(ms)
                for event in listener.feed(message):
                    await self._send(ws, conn, event)
                if await self._fault_due(ws, conn, fault, listener.audio_ms):
                    return
                continue
            try:
                request = json.loads(message)
            except ValueError:
                await self._fail(ws, conn, 3006, f"Invalid JSON: {message[:40]}")
                return
            kind = request.get("type") if isinstance(request, dict) else None
            if kind not in CLIENT_MESSAGES:
                await self._fail(ws, conn, 3006, f"Invalid Message Type: {str(kind)[:40]}")
                return
            conn.client_messages.append(request)
            if kind == "UpdateConfiguration":
                if (problem := self._invalid_update(request)) is not None:
                    await self._fail(ws, conn, 3006, f"Input validation error: {problem}")
                    return
                if "keyterms_prompt" in request:
                    conn.keyterms = list(request["keyterms_prompt"])
            if kind in ("Terminate", "ForceEndpoint") and listener.speaking:
                for event in listener.end_turn():
                    await self._send(ws, conn, event)
            if kind == "Terminate":
                await self._send(
                    ws,
                    conn,
                    {
                        "type": "Termination",
                        "audio_duration_seconds": listener.audio_ms // 1000,
                        "session_duration_seconds": int(time.monotonic() - started),
                    },
                )
                await ws.close(1000)
                return

    async def _fault_due(
        self, ws: ServerConnection, conn: Connection, fault: Fault | None, audio_ms: int
    ) -> bool:
        if fault is None or fault.kind not in ("close", "error") or audio_ms < fault.after_ms:
            return False
        reason = "Session Cancelled: An error occurred"
        if fault.kind == "error":
            await self._fail(ws, conn, fault.code, reason)
        else:
            with contextlib.suppress(ConnectionClosed):
                await ws.close(fault.code, reason)
        return True
