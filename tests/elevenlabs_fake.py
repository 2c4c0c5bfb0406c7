"""A fake ElevenLabs text-to-speech WebSocket server on loopback (a test double).

It follows the documented ``stream-input`` protocol
(https://elevenlabs.io/docs/api-reference/websockets), so a ``websockets``
client written against the vendor's documentation talks to it unchanged:

- Handshake: ``GET /v1/text-to-speech/{voice_id}/stream-input`` with
  ``model_id`` and ``output_format`` (this fake makes only ``ulaw_8000``; other
  formats, a missing model or another path are refused with HTTP 400/404).
  The key comes in the ``xi-api-key`` header (a wrong one is refused with
  HTTP 401) or in the first message as ``xi_api_key`` (the reference page's
  spelling) or ``xi-api-key`` (the SDK models' spelling).
- First message ``{"text": " ", "voice_settings"?, "generation_config"?}``;
  then text messages (``flush`` forces generation) and the end of sequence
  ``{"text": ""}``. ``voice_settings`` that change after the first message
  end the session, as the service does.
- Replies: ``{"audio": <base64 mu-law>, "isFinal": null, "alignment": {...},
  "normalizedAlignment": {...}}`` chunks, then ``{"audio": null, "isFinal":
  true}`` after the end of sequence, then a normal close. Alignment is
  ``chars`` / ``charStartTimesMs`` / ``charDurationsMs`` (the durations key is
  configurable: the live service spells it ``charsDurationsMs``), relative to
  each chunk with ``sync_alignment=true``, else all on a generation's first
  chunk.
- Errors: ``{"message", "error", "code": 1008}`` then close 1008 with the
  message as reason; no text for ``inactivity_timeout`` seconds closes 1008.

The audio is a sine tone, ``ms_per_char`` per character of the phrase, in
``chunk_ms`` chunks, at a pitch derived from the text (:meth:`tone_hz`) so a
test can tell phrases apart. Faults (:class:`Fault`) are scripted per
connection, in order; every session is recorded (:class:`Session`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import socket
import time
import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from telephony.wire.codec import SAMPLE_RATE, pcm_to_ulaw

__all__ = ["FakeElevenLabs", "Fault", "Session", "closed_port_url"]

API_KEY = "test-xi-key"
_PATH = re.compile(r"^/v1/text-to-speech/(?P<voice>[^/]+)/stream-input$")
_POLICY_VIOLATION = 1008  # the close code the service uses for its errors
_TONE_LEVEL = 0.3  # well below full scale, like speech


@dataclass(frozen=True)
class Fault:
    """What goes wrong on one connection.

    - ``error``: answer the phrase with an error message, then close 1008;
    - ``drop``: send ``after_chunks`` audio chunks, then drop the TCP
      connection (no closing handshake), as a network failure would;
    - ``stall``: send ``after_chunks`` chunks, then go quiet for ``seconds``;
    - ``slow_first_audio``: wait ``seconds`` before the first audio.
    """

    kind: Literal["error", "drop", "stall", "slow_first_audio"]
    after_chunks: int = 0
    seconds: float = 0.0
    error: str = "internal_error"
    message: str = "We are sorry, something went wrong. You are not charged for this request."


@dataclass
class Session:
    """One connection as the fake saw it.

    Attributes:
        voice_id: From the path.
        query: The handshake's query parameters.
        header_key: The ``xi-api-key`` header, or ``None``.
        opening: The first message.
        texts: Every later ``text`` value, in order (``""`` is the end of sequence).
        messages: Every later message, parsed.
        audio_bytes: mu-law bytes sent.
        final_sent_at: ``time.monotonic()`` when ``isFinal`` went out.
        closed_by_client: The client closed before the session ended.
    """

    voice_id: str
    query: dict[str, str]
    header_key: str | None
    opening: dict[str, Any] | None = None
    texts: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    audio_bytes: int = 0
    final_sent_at: float | None = None
    closed_by_client: bool = False


def closed_port_url() -> str:
    """A ``ws://`` URL on loopback where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ws://127.0.0.1:{port}"


class _Closed(Exception):
    """The session is over (the fake closed it, or the client went away)."""


class FakeElevenLabs:
    """A scripted ``stream-input`` server on ``127.0.0.1`` (random free port).

    Use as ``async with FakeElevenLabs() as fake:`` and give the client
    :attr:`url` as its API root.

    Args:
        api_key: The key the fake accepts.
        ms_per_char: Audio per character of a phrase.
        chunk_ms: Audio per message.
        chunk_interval: Seconds between messages (generation pace).
        handshake_delay: Seconds before answering the handshake (network RTT).
        inactivity_timeout: Seconds without a message before the fake closes 1008.
        durations_key: How alignment spells the durations list.
        faults: One per connection, in order; later connections behave.
    """

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        ms_per_char: int = 50,
        chunk_ms: int = 100,
        chunk_interval: float = 0.0,
        handshake_delay: float = 0.0,
        inactivity_timeout: float = 20.0,
        durations_key: str = "charDurationsMs",
        faults: Iterable[Fault | None] = (),
    ) -> None:
        self.api_key = api_key
        self.ms_per_char = ms_per_char
        self.chunk_ms = chunk_ms
        self.chunk_interval = chunk_interval
        self.handshake_delay = handshake_delay
        self.inactivity_timeout = inactivity_timeout
        self.durations_key = durations_key
        self.faults: deque[Fault | None] = deque(faults)
        self.sessions: list[Session] = []
        self.handshakes = 0
        self._server: Server | None = None
        self._stopping = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------
    async def __aenter__(self) -> FakeElevenLabs:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._check_handshake,
            compression=None,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening and end every session."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.close()
        await self._server.wait_closed()
        self._server = None

    @property
    def url(self) -> str:
        """The API root to give the client (``ws://127.0.0.1:PORT``)."""
        assert self._server is not None, "start the server first (async with)"
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    # -- what the fake says -----------------------------------------------------------
    @staticmethod
    def tone_hz(text: str) -> float:
        """The pitch the fake speaks ``text`` at: 300-650 Hz, from the text."""
        return 300.0 + 50.0 * (zlib.crc32(text.strip().encode()) % 8)

    def audio_ms(self, text: str) -> int:
        """How long the fake's audio for ``text`` is."""
        return self.ms_per_char * len(text.strip())

    # -- handshake --------------------------------------------------------------------
    async def _check_handshake(self, ws: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        try:
            await self._pause(self.handshake_delay)
        except _Closed:
            return ws.respond(503, "shutting down\n")
        parts = urlsplit(request.path)
        query = dict(parse_qsl(parts.query))
        if not _PATH.match(parts.path):
            return ws.respond(404, f"no route {parts.path}\n")
        if not query.get("model_id"):
            return ws.respond(400, "model_id is required by this fake\n")
        if query.get("output_format") != "ulaw_8000":
            return ws.respond(400, "this fake only speaks output_format=ulaw_8000\n")
        key = request.headers.get("xi-api-key")
        if key is not None and key != self.api_key:
            return _json_response(401, {"detail": {"status": "invalid_api_key"}})
        return None

    # -- one session ------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        parts = urlsplit(ws.request.path)
        match = _PATH.match(parts.path)
        assert match is not None
        session = Session(
            voice_id=match["voice"],
            query=dict(parse_qsl(parts.query)),
            header_key=ws.request.headers.get("xi-api-key"),
        )
        self.sessions.append(session)
        fault = self.faults.popleft() if self.faults else None
        try:
            await self._converse(ws, session, fault)
        except _Closed:
            pass
        except ConnectionClosed:
            session.closed_by_client = session.final_sent_at is None

    async def _converse(self, ws: ServerConnection, session: Session, fault: Fault | None) -> None:
        opening = await self._receive(ws)
        session.opening = opening
        if opening.get("text") != " ":
            await self._fail(ws, "invalid_request", 'the first message must be {"text": " "}')
        key = opening.get("xi_api_key", opening.get("xi-api-key", session.header_key))
        if key != self.api_key:
            await self._fail(ws, "invalid_api_key", "Invalid API key")
        buffer = ""
        chunks_sent = 0
        while True:
            message = await self._receive(ws)
            session.messages.append(message)
            text = message.get("text")
            if not isinstance(text, str):
                await self._fail(ws, "invalid_request", "every message needs a text field")
            session.texts.append(text)
            settings = message.get("voice_settings")
            if settings is not None and settings != opening.get("voice_settings"):
                await self._fail(
                    ws,
                    "invalid_request",
                    "voice_settings field must be provided in the first message and then "
                    "either be not provided or not change.",
                )
            buffer += text
            end_of_sequence = text == ""
            if (end_of_sequence or message.get("flush")) and buffer.strip():
                if fault is not None and fault.kind == "error":
                    await self._fail(ws, fault.error, fault.message)
                chunks_sent = await self._speak(ws, session, buffer, fault, chunks_sent)
                buffer = ""
            if end_of_sequence:
                await ws.send(json.dumps(_message(None, is_final=True)))
                session.final_sent_at = time.monotonic()
                await ws.close()
                raise _Closed

    async def _speak(
        self,
        ws: ServerConnection,
        session: Session,
        text: str,
        fault: Fault | None,
        chunks_sent: int,
    ) -> int:
        """Stream one generation; returns the connection's chunk count so far."""
        phrase = text.strip()
        ulaw = _tone(self.tone_hz(phrase), self.audio_ms(phrase))
        chunk_bytes = self.chunk_ms * SAMPLE_RATE // 1000
        per_chunk = session.query.get("sync_alignment") == "true"
        for start in range(0, len(ulaw), chunk_bytes):
            if fault is not None and chunks_sent == fault.after_chunks:
                if fault.kind == "drop":
                    ws.transport.abort()
                    raise _Closed
                if fault.kind == "stall":
                    await self._pause(fault.seconds, ws)
            if fault is not None and fault.kind == "slow_first_audio" and chunks_sent == 0:
                await self._pause(fault.seconds, ws)
            elif chunks_sent and self.chunk_interval:
                await self._pause(self.chunk_interval, ws)
            piece = ulaw[start : start + chunk_bytes]
            begin_ms = start * 1000 // SAMPLE_RATE
            end_ms = begin_ms + len(piece) * 1000 // SAMPLE_RATE
            if per_chunk:
                timings = self._timings(phrase, begin_ms, end_ms)
            else:
                timings = self._timings(phrase, 0, 1 << 30) if start == 0 else None
            await ws.send(json.dumps(_message(piece, timings=timings)))
            session.audio_bytes += len(piece)
            chunks_sent += 1
        return chunks_sent

    def _timings(self, phrase: str, begin_ms: int, end_ms: int) -> dict[str, list[Any]] | None:
        """Alignment of the characters starting in [begin_ms, end_ms), chunk-relative."""
        chars, starts = [], []
        for i, char in enumerate(phrase):
            at = i * self.ms_per_char
            if begin_ms <= at < end_ms:
                chars.append(char)
                starts.append(at - begin_ms)
        if not chars:
            return None
        return {
            "chars": chars,
            "charStartTimesMs": starts,
            self.durations_key: [self.ms_per_char] * len(chars),
        }

    # -- helpers ----------------------------------------------------------------------
    async def _receive(self, ws: ServerConnection) -> dict[str, Any]:
        try:
            raw = await asyncio.wait_for(ws.recv(), self.inactivity_timeout)
        except TimeoutError:
            await self._fail(
                ws,
                "input_timeout_exceeded",
                f"Have not received a new text input within the timeout of "
                f"{self.inactivity_timeout:g} seconds. Streaming input terminated.",
            )
        message = json.loads(raw)
        if not isinstance(message, dict):
            await self._fail(ws, "invalid_request", "messages are JSON objects")
        return message

    async def _fail(self, ws: ServerConnection, error: str, message: str) -> None:
        """Send the error message and close 1008 (never returns)."""
        with contextlib.suppress(ConnectionClosed):
            await ws.send(
                json.dumps({"message": message, "error": error, "code": _POLICY_VIOLATION})
            )
            await ws.close(_POLICY_VIOLATION, message[:120])
        raise _Closed

    async def _pause(self, seconds: float, ws: ServerConnection | None = None) -> None:
        """Sleep, but wake when the fake stops or the client goes away."""
        if seconds <= 0:
            return
        waits = [asyncio.ensure_future(self._stopping.wait())]
        if ws is not None:
            waits.append(asyncio.ensure_future(ws.wait_closed()))
        _, pending = await asyncio.wait(waits, timeout=seconds, return_when="FIRST_COMPLETED")
        for task in pending:
            task.cancel()
        if self._stopping.is_set():
            raise _Closed


def _message(
    audio: bytes | None, *, timings: dict[str, list[Any]] | None = None, is_final: bool = False
) -> dict[str, Any]:
    return {
        "audio": base64.b64encode(audio).decode("ascii") if audio is not None else None,
        "isFinal": True if is_final else None,
        "normalizedAlignment": timings,
        "alignment": timings,
    }


def _tone(hz: float, ms: int) -> bytes:
    t = np.arange(ms * SAMPLE_RATE // 1000) / SAMPLE_RATE
    return pcm_to_ulaw((np.sin(2 * np.pi * hz * t) * _TONE_LEVEL * 32767).astype(np.int16))


def _json_response(status: int, body: dict[str, Any]) -> Response:
    data = json.dumps(body).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    reasons = {401: "Unauthorized"}
    return Response(status, reasons.get(status, "Error"), headers, data)
