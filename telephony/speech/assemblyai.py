"""Cloud speech recognition: AssemblyAI Universal Streaming over its v3 WebSocket API.

How it works, per call::

    Twilio's 20 ms mu-law frames, bytes unchanged (no decoding, no resampling)
      -> 50 ms binary messages                    -> wss://streaming.assemblyai.com/v3/ws
                                                     ?sample_rate=8000&encoding=pcm_mulaw&...
      <- Begin (session id), then Turn messages: partials while the caller speaks
         (``end_of_turn: false``), one ``end_of_turn: true`` per caller turn
         (followed by a formatted copy when ``format_turns`` is on)
      -> {"type": "Terminate"} when the call's audio ends
      <- the turns still in flight, Termination, close 1000

Wire facts relied on (AssemblyAI documentation):

- Endpoint, query parameters (``sample_rate``, ``encoding=pcm_mulaw``,
  ``speech_model``, ``format_turns``, ``keyterms_prompt`` as one JSON array,
  ``end_of_turn_confidence_threshold``, ``min_end_of_turn_silence_when_confident``,
  ``max_turn_silence``) and the API key in the ``Authorization`` header:
  the Streaming API reference, https://www.assemblyai.com/docs/api-reference/streaming
- Audio is raw bytes in binary messages of 50-1000 ms; the session closes
  with 3007 outside that range or when audio comes much faster than real
  time: "Common session errors and closures",
  https://www.assemblyai.com/docs/streaming/common-session-errors-and-closures
- An error ends a session with ``{"type": "Error", "error_code", "error"}``
  followed by a close with the same code (same page).
- ``{"type": "UpdateConfiguration", "keyterms_prompt": [...]}`` changes the
  key terms mid-session (every field optional; a list replaces the one in
  effect): "Updating Configuration Mid-Stream",
  https://www.assemblyai.com/docs/streaming/updating-configuration-mid-stream
  (the SDK's ``set_params`` sends the same message).
- ``transcript`` holds only the finalised words of the turn; ``words`` also
  holds the word still being recognised; with ``format_turns`` an end of
  turn comes twice, unformatted then ``turn_is_formatted: true``; Terminate
  -> in-flight Turns -> Termination -> close 1000: "Message Sequence",
  https://www.assemblyai.com/docs/streaming/message-sequence

Client choice: a ``websockets`` asyncio client, not the SDK's streaming
client. ``assemblyai`` 1.8.2 has an asyncio client that can be pointed at
loopback (``api_host="ws://127.0.0.1:port"``), but it reports failures to
callbacks (``connect`` returns normally when refused), swallows handler
exceptions, and says nothing when the server closes with 1000 before
Termination (``stream`` silently becomes a no-op: the caller would never
be heard again). The protocol is one URL, binary audio out and four JSON
messages in, so following it directly costs less than adapting the SDK,
and every failure surfaces as a :class:`ProviderError` where it happens.
The tests still run the SDK against the same fake server, so the fake is
held to what the vendor's own client accepts.

What a step expects (:meth:`AssemblyAISTT.expect`) reaches the session as
key terms: the flow's own (``keyterms``) plus the step's hints, sent in an
``UpdateConfiguration`` before the next audio chunk whenever they change,
so they apply to the caller's next utterance. A step without hints sends
nothing: a kind's words ("yes", days, digits) are common English, which the
vendor says key terms should not be.

Failures raise :class:`~telephony.speech.base.ProviderError`:
refused or failed handshake, no Begin within ``first_message_timeout``,
an Error message, a close before Termination. ``retryable`` is ``False``
when a reconnect would fail the same way (authorisation, account, a
message we got wrong). Retrying and falling back is the caller's policy
(:class:`telephony.speech.fallback.FallbackSTT`).

The API key only ever travels in the request header: it is not in the URL,
``repr`` or any log line, and the websockets library gets a logger that
cannot log at DEBUG, where it would print every handshake header.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidStatus,
    WebSocketException,
)

from telephony.speech.base import AudioFrame, CallInfo, Expectation, ProviderError, Transcript
from telephony.speech.expectation import ExpectationBoard, Listening, key_terms
from telephony.wire.codec import SAMPLE_RATE, ULAW_SILENCE

__all__ = [
    "DEFAULT_SPEECH_MODEL",
    "DEFAULT_URL",
    "MAX_KEYTERMS",
    "MAX_KEYTERM_CHARS",
    "AssemblyAISTT",
]

logger = logging.getLogger("dialgraph.asr.assemblyai")

_PROVIDER = "assemblyai"
DEFAULT_URL = "wss://streaming.assemblyai.com/v3/ws"
DEFAULT_SPEECH_MODEL = "universal-streaming-english"  # newer docs make speech_model required
_BYTES_PER_MS = SAMPLE_RATE // 1000  # 8 mu-law bytes per millisecond
_MIN_CHUNK_MS, _MAX_CHUNK_MS = 50, 1000  # outside this the session closes with 3007
DEFAULT_CHUNK_MS = 50  # the vendor's recommended chunk; 2.5 Twilio frames
MAX_KEYTERMS = 100  # our bound: the vendor warns long lists cause over-correction
MAX_KEYTERM_CHARS = 50  # our bound on one term (a name or a short phrase)
# One slow attempt (connect + Begin) costs at most 0.6 + 0.4 = 1 s, so an
# attempt and its retry fit in the 2 s a caller may wait before the fallback.
DEFAULT_CONNECT_TIMEOUT_S = 0.6
DEFAULT_FIRST_MESSAGE_TIMEOUT_S = 0.4
DEFAULT_TERMINATION_TIMEOUT_S = 1.0  # after Terminate: the last turn's words, then Termination
DEFAULT_FORMAT_WAIT_S = 0.5  # deliver the unformatted end of turn if its formatted copy is late
_CLOSE_TIMEOUT_S = 1.0  # websockets waits 10 s for the closing handshake by default
_PING_INTERVAL_S = 2.0  # keepalive: a dead network path is noticed within ~4 s, not 40 s
_PING_TIMEOUT_S = 2.0
_TERMINATE = json.dumps({"type": "Terminate"})
# Close/error codes a reconnect would meet again: unauthorised or too many
# sessions (1008), account problems (4001-4003), a message we sent wrong (3006).
_NOT_RETRYABLE_CODES = frozenset({1008, 3006, 4001, 4002, 4003})
_NOT_RETRYABLE_HTTP = frozenset({400, 401, 402, 403, 404})
_ABNORMAL_CLOSE = 1006  # no close frame: the connection just dropped

_closing: set[asyncio.Task[None]] = set()  # background closes, referenced until done


class _NoDebugLogger(logging.LoggerAdapter[logging.Logger]):
    """Hands websockets a logger that never logs at DEBUG.

    At DEBUG websockets logs every handshake header, ``Authorization`` (the
    API key) included, whatever level the application configured.
    """

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


_WS_LOGGER = _NoDebugLogger(logging.getLogger("dialgraph.asr.assemblyai.websocket"), {})


def _clean_keyterms(terms: Iterable[str], *, quiet: bool = False) -> tuple[str, ...]:
    """Strip, de-duplicate (case-insensitively) and bound the key terms (``quiet``: no warning)."""
    unique: dict[str, str] = {}
    for term in terms:
        text = " ".join(str(term).split())
        if text:
            unique.setdefault(text.casefold(), text)
    kept = [t for t in unique.values() if len(t) <= MAX_KEYTERM_CHARS][:MAX_KEYTERMS]
    if len(kept) < len(unique) and not quiet:
        logger.warning(
            "keyterms: kept %d of %d (at most %d terms of at most %d characters)",
            len(kept),
            len(unique),
            MAX_KEYTERMS,
            MAX_KEYTERM_CHARS,
        )
    return tuple(kept)


def _retryable(code: int | None) -> bool:
    return code not in _NOT_RETRYABLE_CODES


class _ChunkBatcher:
    """Regroups 20 ms frames into fixed-size messages (pure, no I/O)."""

    def __init__(self, chunk_bytes: int) -> None:
        self.chunk_bytes = chunk_bytes
        self._buffer = bytearray()

    def feed(self, ulaw: bytes) -> list[bytes]:
        self._buffer += ulaw
        chunks = []
        while len(self._buffer) >= self.chunk_bytes:
            chunks.append(bytes(self._buffer[: self.chunk_bytes]))
            del self._buffer[: self.chunk_bytes]
        return chunks

    def flush(self) -> bytes:
        """The remainder, padded with mu-law silence to the shortest legal message."""
        if not self._buffer:
            return b""
        short = _MIN_CHUNK_MS * _BYTES_PER_MS - len(self._buffer)
        tail = bytes(self._buffer) + bytes([ULAW_SILENCE]) * max(0, short)
        self._buffer.clear()
        return tail


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _mean_confidence(words: list[dict[str, Any]]) -> float | None:
    values = [float(w["confidence"]) for w in words if isinstance(w.get("confidence"), int | float)]
    return round(sum(values) / len(values), 4) if values else None


class _TurnReader:
    """Turns ``Turn`` messages into transcripts (pure, no I/O).

    Partials carry every word heard so far (``words``, including the one
    still being recognised), and are emitted only when the text changes.
    Each turn becomes exactly one final: the first end of turn, or with
    ``format_turns`` the formatted copy that follows it. If that copy does
    not come within ``format_wait`` (``deadline``), or another turn starts,
    the unformatted end of turn is delivered instead.
    """

    def __init__(self, format_turns: bool, format_wait: float) -> None:
        self.format_turns = format_turns
        self.format_wait = format_wait
        self.deadline: float | None = None
        self.finals = 0
        self._pending: tuple[Transcript, Any] | None = None
        self._final_order: Any = None
        self._partial = ""

    def on_turn(self, message: Mapping[str, Any], now: float) -> list[Transcript]:
        order = message.get("turn_order")
        out = []
        if self._pending is not None and self._pending[1] != order:
            out += self.flush()
        if order is not None and order == self._final_order:
            return out  # the formatted copy of a turn already delivered
        words = [w for w in message.get("words") or () if isinstance(w, dict)]
        text = _text(message.get("transcript"))
        confidence = _mean_confidence(words)
        if not message.get("end_of_turn"):
            self._add_partial(out, " ".join(_text(w.get("text")) for w in words).strip() or text)
            return out
        final = Transcript(text, is_final=True, end_of_turn=True, confidence=confidence)
        if self.format_turns and not message.get("turn_is_formatted"):
            self._pending = (final, order)
            self.deadline = now + self.format_wait
            self._add_partial(out, text, confidence)
            return out
        out.append(self._deliver(final, order))
        return out

    def flush(self) -> list[Transcript]:
        """The end of turn still waiting for its formatted copy, if any."""
        if self._pending is None:
            return []
        final, order = self._pending
        return [self._deliver(final, order)]

    def _add_partial(
        self, out: list[Transcript], text: str, confidence: float | None = None
    ) -> None:
        if text and text != self._partial:
            self._partial = text
            out.append(Transcript(text, is_final=False, confidence=confidence))

    def _deliver(self, final: Transcript, order: Any) -> Transcript:
        self._pending, self.deadline = None, None
        self._final_order, self._partial = order, ""
        self.finals += 1
        return final


@dataclass
class _Session:
    """One WebSocket session's progress (one per call, more after a retry)."""

    call_sid: str
    session_id: str = ""
    bytes_sent: int = 0
    terminate_sent: bool = False
    terminated: bool = False
    keyterms: tuple[str, ...] = ()  # in effect: the URL's, then the last update's
    expectation_version: int = 0  # of the call's Listening, when keyterms were last set
    updates: int = 0


class AssemblyAISTT:
    """AssemblyAI Universal Streaming as a :class:`~telephony.speech.base.SpeechToText`.

    One instance serves every call; each ``transcribe`` opens its own session.

    Args:
        api_key: The AssemblyAI API key (sent as the ``Authorization`` header only).
        url: The streaming endpoint (the EU one, or a local fake in tests).
        keyterms: Words and phrases to boost (``keyterms_prompt``): the
            flow's rare words (``PhoneSettings.speech.keyterms``: names,
            products, its jargon), not its whole vocabulary. At most
            :data:`MAX_KEYTERMS` of :data:`MAX_KEYTERM_CHARS`.
        speech_model: ``speech_model`` query parameter.
        format_turns: Ask for punctuated, cased finals (costs latency; the
            vendor advises against it for voice agents).
        end_of_turn_confidence: ``end_of_turn_confidence_threshold`` (0-1);
            ``None`` keeps the vendor's default, as do the two below.
        min_end_of_turn_silence_ms: ``min_end_of_turn_silence_when_confident``.
        max_turn_silence_ms: ``max_turn_silence``.
        connect_timeout: Seconds for TCP, TLS and the WebSocket handshake.
        first_message_timeout: Seconds from the handshake to ``Begin``.
        termination_timeout: Seconds to wait for ``Termination`` after ``Terminate``.
        format_wait: Seconds to wait for a formatted end of turn.
        chunk_ms: Audio per message, 50-1000 ms.
        extra_params: Further query parameters, sent as given (new vendor options).
    """

    name = "assemblyai"

    def __init__(
        self,
        api_key: str,
        *,
        url: str = DEFAULT_URL,
        keyterms: Iterable[str] = (),
        speech_model: str = DEFAULT_SPEECH_MODEL,
        format_turns: bool = False,
        end_of_turn_confidence: float | None = None,
        min_end_of_turn_silence_ms: int | None = None,
        max_turn_silence_ms: int | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        first_message_timeout: float = DEFAULT_FIRST_MESSAGE_TIMEOUT_S,
        termination_timeout: float = DEFAULT_TERMINATION_TIMEOUT_S,
        format_wait: float = DEFAULT_FORMAT_WAIT_S,
        chunk_ms: int = DEFAULT_CHUNK_MS,
        extra_params: Mapping[str, str] | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("AssemblyAISTT needs an API key")
        if urlsplit(url).scheme not in ("ws", "wss"):
            raise ValueError("AssemblyAISTT url must be ws:// or wss://")
        if not _MIN_CHUNK_MS <= chunk_ms <= _MAX_CHUNK_MS:
            raise ValueError(f"chunk_ms must be {_MIN_CHUNK_MS}-{_MAX_CHUNK_MS}, got {chunk_ms}")
        if end_of_turn_confidence is not None and not 0.0 <= end_of_turn_confidence <= 1.0:
            raise ValueError("end_of_turn_confidence must be within 0-1")
        self._api_key = api_key
        self.url = url
        self.keyterms = _clean_keyterms(keyterms)
        self.speech_model = speech_model
        self.format_turns = format_turns
        self.end_of_turn_confidence = end_of_turn_confidence
        self.min_end_of_turn_silence_ms = min_end_of_turn_silence_ms
        self.max_turn_silence_ms = max_turn_silence_ms
        self.connect_timeout = connect_timeout
        self.first_message_timeout = first_message_timeout
        self.termination_timeout = termination_timeout
        self.format_wait = format_wait
        self.chunk_ms = chunk_ms
        self.extra_params = dict(extra_params or {})
        self._board = ExpectationBoard()

    def __repr__(self) -> str:
        return f"AssemblyAISTT(url={self.url!r}, keyterms={len(self.keyterms)})"

    @property
    def session_url(self) -> str:
        """The URL each session opens (holds no secret)."""
        params: dict[str, str] = {
            "sample_rate": str(SAMPLE_RATE),
            "encoding": "pcm_mulaw",
            "speech_model": self.speech_model,
            "format_turns": "true" if self.format_turns else "false",
        }
        if self.keyterms:
            params["keyterms_prompt"] = json.dumps(list(self.keyterms))
        optional = {
            "end_of_turn_confidence_threshold": self.end_of_turn_confidence,
            "min_end_of_turn_silence_when_confident": self.min_end_of_turn_silence_ms,
            "max_turn_silence": self.max_turn_silence_ms,
        }
        params.update({key: str(value) for key, value in optional.items() if value is not None})
        params.update(self.extra_params)
        parts = urlsplit(self.url)
        query = urlencode([*parse_qsl(parts.query), *params.items()])
        return urlunsplit(parts._replace(query=query))

    def expect(self, call: CallInfo, expectation: Expectation | None) -> None:
        """What ``call``'s next turn is expected to be: its hints become key terms.

        Sent with the call's next audio (an ``UpdateConfiguration``), only
        when the key terms change; the flow's own stay in the list.
        """
        self._board.expect(call.call_sid, expectation)

    def _keyterms_for(self, expectation: Expectation | None) -> tuple[str, ...]:
        """The flow's key terms, then the step's, within the bounds."""
        return _clean_keyterms([*self.keyterms, *key_terms(expectation)], quiet=True)

    async def transcribe(
        self, audio: AsyncIterable[AudioFrame], *, call: CallInfo
    ) -> AsyncGenerator[Transcript, None]:
        """Recognise the caller's audio until it ends.

        Yields partial transcripts while the caller speaks and one final
        (``is_final`` and ``end_of_turn``) per turn the service detected.

        Raises:
            ProviderError: The session could not be opened or failed.
        """
        listening = self._board.open(call.call_sid)
        try:
            async with contextlib.aclosing(self._transcribe(audio, call, listening)) as results:
                async for transcript in results:
                    yield transcript
        finally:
            self._board.close(call.call_sid, listening)

    async def _transcribe(
        self, audio: AsyncIterable[AudioFrame], call: CallInfo, listening: Listening
    ) -> AsyncGenerator[Transcript, None]:
        ws, session = await self._open(call)
        reader = _TurnReader(self.format_turns, self.format_wait)
        sender = asyncio.create_task(self._send(ws, audio, session, listening))
        clean = False
        try:
            async with contextlib.aclosing(self._receive(ws, session, reader, sender)) as results:
                async for transcript in results:
                    yield transcript
            clean = True
        finally:
            sender.cancel()
            await asyncio.wait({sender})
            if not sender.cancelled():
                sender.exception()  # retrieved; _receive raised it if it mattered
            if clean:
                await ws.close()
            else:
                _close_soon(ws, terminate=not session.terminate_sent)
            logger.debug(
                "[%s] assemblyai session %s ended: %d bytes sent, %d turns, "
                "%d key term updates, terminated=%s",
                call.call_sid,
                session.session_id,
                session.bytes_sent,
                reader.finals,
                session.updates,
                session.terminated,
            )

    async def _open(self, call: CallInfo) -> tuple[ClientConnection, _Session]:
        """Connect and wait for ``Begin``."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            ws = await connect(
                self.session_url,
                additional_headers={"Authorization": self._api_key},
                open_timeout=self.connect_timeout,
                ping_interval=_PING_INTERVAL_S,
                ping_timeout=_PING_TIMEOUT_S,
                close_timeout=_CLOSE_TIMEOUT_S,
                compression=None,  # mu-law does not compress; deflate only costs CPU
                logger=_WS_LOGGER,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise ProviderError(
                _PROVIDER,
                f"handshake rejected with HTTP {status}",
                retryable=status not in _NOT_RETRYABLE_HTTP,
            ) from exc
        except TimeoutError as exc:
            raise ProviderError(
                _PROVIDER, f"no connection within {self.connect_timeout:g} s", retryable=True
            ) from exc
        except (OSError, WebSocketException) as exc:
            raise ProviderError(
                _PROVIDER, f"could not connect: {type(exc).__name__}: {exc}", retryable=True
            ) from exc
        session = _Session(call.call_sid, keyterms=self.keyterms)
        try:
            async with asyncio.timeout(self.first_message_timeout):
                message = _parse(await ws.recv())
        except TimeoutError as exc:
            _close_soon(ws)
            raise ProviderError(
                _PROVIDER, f"no Begin within {self.first_message_timeout:g} s", retryable=True
            ) from exc
        except ConnectionClosed as exc:
            raise _closed_error(exc, session) from exc
        except ProviderError:
            _close_soon(ws)
            raise
        if message.get("type") != "Begin":
            _close_soon(ws)
            if _is_error(message):  # e.g. 1008: the key was refused
                raise _server_error(message)
            kind = str(message.get("type"))[:40]
            raise ProviderError(_PROVIDER, f"expected Begin, got {kind!r}", retryable=True)
        session.session_id = str(message.get("id", ""))[:64]
        logger.debug(
            "[%s] assemblyai session %s open in %.0f ms",
            call.call_sid,
            session.session_id,
            (loop.time() - started) * 1000,
        )
        return ws, session

    async def _send(
        self,
        ws: ClientConnection,
        audio: AsyncIterable[AudioFrame],
        session: _Session,
        listening: Listening,
    ) -> None:
        """Send the audio, then Terminate; close if Termination does not follow.

        A new expectation's key terms go out before the next chunk, so the
        service has them for the audio that follows (one sender: no
        message is ever interleaved with a chunk).
        """
        batcher = _ChunkBatcher(self.chunk_ms * _BYTES_PER_MS)
        try:
            async for frame in audio:
                for chunk in batcher.feed(frame.ulaw):
                    if listening.version != session.expectation_version:
                        await self._update_keyterms(ws, session, listening)
                    await ws.send(chunk)
                    session.bytes_sent += len(chunk)
            if tail := batcher.flush():
                await ws.send(tail)
                session.bytes_sent += len(tail)
            await ws.send(_TERMINATE)
            session.terminate_sent = True
            await asyncio.sleep(self.termination_timeout)
            logger.debug("[%s] no Termination after Terminate; closing", session.call_sid)
            await ws.close()
        except ConnectionClosed:
            return  # the receiving side reports why
        except Exception:
            await ws.close(code=1011, reason="audio source failed")
            raise

    async def _receive(
        self,
        ws: ClientConnection,
        session: _Session,
        reader: _TurnReader,
        sender: asyncio.Task[None],
    ) -> AsyncGenerator[Transcript, None]:
        loop = asyncio.get_running_loop()
        while True:
            try:
                async with asyncio.timeout_at(reader.deadline):
                    message = _parse(await ws.recv())
            except TimeoutError:  # the formatted copy is late: deliver what we have
                for transcript in reader.flush():
                    yield transcript
                continue
            except ConnectionClosed as exc:
                for transcript in reader.flush():
                    yield transcript
                if sender.done() and not sender.cancelled() and sender.exception() is not None:
                    raise sender.exception() from exc  # type: ignore[misc]
                if isinstance(exc, ConnectionClosedOK) and session.terminate_sent:
                    return  # we closed after Terminate; Termination never came
                raise _closed_error(exc, session) from exc
            kind = message.get("type")
            if kind == "Turn":
                try:
                    transcripts = reader.on_turn(message, loop.time())
                except (TypeError, ValueError, AttributeError) as exc:
                    raise ProviderError(
                        _PROVIDER, "malformed Turn message", retryable=True
                    ) from exc
                for transcript in transcripts:
                    yield transcript
            elif kind == "Termination":
                session.terminated = True
                for transcript in reader.flush():
                    yield transcript
                return
            elif _is_error(message):
                for transcript in reader.flush():
                    yield transcript
                raise _server_error(message)
            elif kind == "Warning":
                logger.info(
                    "[%s] assemblyai warning %s: %.200s",
                    session.call_sid,
                    message.get("warning_code"),
                    message.get("warning"),
                )
            # Begin again, SpeechStarted and newer message types need nothing from us.

    async def _update_keyterms(
        self, ws: ClientConnection, session: _Session, listening: Listening
    ) -> None:
        session.expectation_version = listening.version
        terms = self._keyterms_for(listening.expectation)
        if terms == session.keyterms:
            return
        update = {"type": "UpdateConfiguration", "keyterms_prompt": list(terms)}
        await ws.send(json.dumps(update))
        session.keyterms = terms
        session.updates += 1
        logger.debug("[%s] key terms updated: %d terms", session.call_sid, len(terms))


def _parse(raw: str | bytes) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raise ProviderError(_PROVIDER, "unexpected binary message", retryable=True)
    try:
        message = json.loads(raw)
    except ValueError as exc:
        raise ProviderError(_PROVIDER, "message is not JSON", retryable=True) from exc
    if not isinstance(message, dict):
        raise ProviderError(_PROVIDER, "message is not a JSON object", retryable=True)
    return message


def _is_error(message: Mapping[str, Any]) -> bool:
    # v3 sends "type": "Error"; a bare {"error": ...} is the older shape.
    return message.get("type") == "Error" or ("type" not in message and "error" in message)


def _server_error(message: Mapping[str, Any]) -> ProviderError:
    code = message.get("error_code")
    code = code if isinstance(code, int) else None
    return ProviderError(
        _PROVIDER,
        f"server error {code}: {str(message.get('error', ''))[:200]}",
        retryable=_retryable(code),
    )


def _closed_error(exc: ConnectionClosed, session: _Session) -> ProviderError:
    code = exc.rcvd.code if exc.rcvd is not None else _ABNORMAL_CLOSE
    reason = exc.rcvd.reason if exc.rcvd is not None else ""
    when = "mid-call" if session.session_id else "before Begin"
    return ProviderError(
        _PROVIDER,
        f"connection closed {when} (code {code}{': ' + reason[:120] if reason else ''})",
        retryable=_retryable(code),
    )


def _close_soon(ws: ClientConnection, *, terminate: bool = False) -> None:
    """Close without waiting: a hung peer must not delay the fallback by ``close_timeout``.

    With ``terminate`` the session is ended politely first (the call hung up
    mid-stream): the vendor bills a session until it is closed.
    """
    task = asyncio.get_running_loop().create_task(_close(ws, terminate))
    _closing.add(task)
    task.add_done_callback(_closing.discard)


async def _close(ws: ClientConnection, terminate: bool) -> None:
    if terminate:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(_TERMINATE)
    await ws.close()
