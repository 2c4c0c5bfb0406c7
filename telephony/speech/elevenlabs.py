"""ElevenLabs streaming text-to-speech over the WebSocket text-input API.

How it works: each phrase gets its own ``stream-input`` WebSocket
(``/v1/text-to-speech/{voice_id}/stream-input``, documented at
https://elevenlabs.io/docs/api-reference/websockets) with
``output_format=ulaw_8000``, Twilio's own format: the audio reaches the caller
byte for byte, never resampled. The client sends the opening message
``{"text": " "}`` (voice settings and generation config are only allowed
there), the phrase ending in one space with ``"flush": true`` (generate now,
not when the chunk schedule fills), and the end of sequence ``{"text": ""}``.
The server answers ``{"audio": <base64>, "alignment": {...}}`` messages, then
``{"isFinal": true}``, then closes. Each chunk is yielded as soon as it is
decoded. With ``sync_alignment=true`` every chunk carries the character
timings of its own audio; shifted by the audio already received (exact with
mu-law: 8 bytes per ms) they form the phrase's :class:`Alignment`, so the
session can cut "what the caller heard" at a word boundary after a barge-in.

One socket per phrase keeps ``isFinal`` unambiguous (on this endpoint it only
follows the end of sequence) and phrases of different calls unable to mix.
Its cost is a TLS + WebSocket handshake per phrase, which ``prewarm`` hides
by keeping a few handshaken sockets ready (one phrase each, dropped before
the server's 20 s inactivity timeout). The vendor's ``multi-stream-input``
endpoint (one socket per call, a ``context_id`` per phrase) is the next step;
it needs a per-call object, which the ``TextToSpeech`` protocol lacks.

The ``elevenlabs`` SDK is not used: its only text-input streaming helper
(``convert_realtime``) runs the synchronous ``websockets`` client, which would
block the event loop all calls share. (Its HTTP client takes ``base_url``,
for a whole-phrase HTTP variant.)

Failures raise :class:`~telephony.speech.base.ProviderError` fast, so the
fallback can switch to the offline voice within the two-second dead-air
budget: refused connection, rejected handshake, a server error message, the
socket closing before ``isFinal``, no first audio within
``first_audio_timeout`` (handshake included), or ``stall_timeout`` without a
message once audio flows. ``retryable`` is ``False`` only when the same
request cannot succeed (authentication, quota, unknown voice).

The API key travels in the ``xi-api-key`` handshake header and never appears
in ``repr``, errors or logs: the WebSocket library's debug log, which prints
every header, goes through a filter that masks it. Phrase text is never
logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from telephony.speech.base import ProviderError
from telephony.wire.codec import duration_ms

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_WS_URL",
    "OUTPUT_FORMAT",
    "Alignment",
    "ElevenLabsTTS",
    "SpeechStream",
    "WordTiming",
]

logger = logging.getLogger(__name__)

DEFAULT_WS_URL = "wss://api.elevenlabs.io"  # API root; the endpoint path is appended
DEFAULT_MODEL = "eleven_flash_v2_5"  # the vendor's lowest-latency model (~75 ms)
OUTPUT_FORMAT = "ulaw_8000"  # Twilio's G.711 mu-law at 8 kHz: no resampling, no transcoding
FIRST_AUDIO_TIMEOUT_S = 1.5  # leaves ~0.5 s of the 2 s dead-air budget for Piper's first sentence
STALL_TIMEOUT_S = 1.5  # same budget once audio flows: the playout buffer covers the rest
SPARE_MAX_AGE_S = 15.0  # the server drops a socket after 20 s without text; go first
SPARE_OPEN_TIMEOUT_S = 5.0  # a background pre-open may be slow; it blocks nobody
CLOSE_TIMEOUT_S = 1.0  # a barge-in must not wait long for the closing handshake
MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # base64 audio of ~6 minutes; far above any phrase
_HTTP_PERMANENT = {400, 401, 402, 403, 404, 422}  # retrying the same handshake fails again
# Words in an error or close reason that mean "this request cannot succeed":
_PERMANENT_MARKERS = ("api key", "api_key", "unauthorized", "quota", "not_found", "not found")
_MASK = "***"
_KEY_HEADER = "xi-api-key"
_MIN_SECRET_CHARS = 8  # shorter is no vendor key; masking it everywhere would garble the log


class _RedactSecrets(logging.Filter):
    """Mask API keys in the wire log, where ``websockets`` prints every header.

    The ``xi-api-key`` header's value is masked whatever it is; known keys
    are also masked wherever else they appear. A "key" shorter than
    :data:`_MIN_SECRET_CHARS` is not searched for in other text: one letter
    would mask that letter in every line of the log (a test's key ``"k"``
    once turned ``websocket`` into ``websoc***et``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def remember(self, secret: str) -> None:
        if len(secret) >= _MIN_SECRET_CHARS:
            self.secrets.add(secret)

    def _mask(self, value: object) -> object:
        if isinstance(value, str) and any(secret in value for secret in self.secrets):
            for secret in self.secrets:
                value = value.replace(secret, _MASK)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).lower() == _KEY_HEADER:
            record.args = (args[0], _MASK)  # websockets: "> %s: %s", name, value
        if self.secrets:
            record.msg = self._mask(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(self._mask(arg) for arg in record.args)
        return True


_wire_logger = logging.getLogger(f"{__name__}.wire")
_redactor = _RedactSecrets()
_wire_logger.addFilter(_redactor)


@dataclass(frozen=True, slots=True)
class WordTiming:
    """One spoken word of a phrase and where it sits in the phrase's audio.

    Attributes:
        text: The word as sent (punctuation attached, no spaces).
        start_ms: When its first character starts, from the phrase's first sample.
        end_ms: When its last character ends.
    """

    text: str
    start_ms: int
    end_ms: int


@dataclass(slots=True)
class Alignment:
    """Character timings of one phrase, measured from its first audio sample.

    ``chars[i]`` is spoken from ``start_ms[i]`` for ``duration_ms[i]``
    milliseconds. The three lists grow as audio arrives, so mid-phrase they
    cover the audio received so far.

    Attributes:
        chars: The characters (spaces and punctuation included; an entry may
            hold more than one character).
        start_ms: Start of each character.
        duration_ms: Duration of each character.
        normalized: ``True`` if the timings are for the vendor's normalised
            text ("3" read as "three") because the original was not given.
    """

    chars: list[str] = field(default_factory=list)
    start_ms: list[int] = field(default_factory=list)
    duration_ms: list[int] = field(default_factory=list)
    normalized: bool = False

    @property
    def text(self) -> str:
        """The aligned text so far."""
        return "".join(self.chars)

    def words(self) -> list[WordTiming]:
        """The words with their start and end times, in order."""
        words: list[WordTiming] = []
        current: list[str] = []
        start = end = 0
        for char, char_start, char_ms in zip(
            self.chars, self.start_ms, self.duration_ms, strict=True
        ):
            if char.isspace():
                if current:
                    words.append(WordTiming("".join(current), start, end))
                    current = []
                continue
            if not current:
                start = char_start
            current.append(char)
            end = char_start + char_ms
        if current:
            words.append(WordTiming("".join(current), start, end))
        return words

    def heard_text(self, played_ms: float) -> str:
        """The words fully played within ``played_ms`` of audio, space separated.

        A word cut off mid-way counts as not heard.
        """
        return " ".join(w.text for w in self.words() if w.end_ms <= played_ms)

    def _extend(self, timings: Mapping[str, Any], offset_ms: float) -> bool:
        """Append one message's timings, shifted by ``offset_ms``; False if malformed."""
        chars = timings.get("chars")
        starts = timings.get("charStartTimesMs", timings.get("charsStartTimesMs"))
        # The reference page shows charDurationsMs; the live service and many
        # clients use charsDurationsMs. Accept both.
        durations = timings.get("charDurationsMs", timings.get("charsDurationsMs"))
        if not (
            isinstance(chars, list)
            and isinstance(starts, list)
            and isinstance(durations, list)
            and len(chars) == len(starts) == len(durations)
        ):
            return False
        try:
            shifted = [round(offset_ms + float(s)) for s in starts]
            lengths = [round(float(d)) for d in durations]
        except (TypeError, ValueError):
            return False
        self.chars.extend(str(c) for c in chars)
        self.start_ms.extend(shifted)
        self.duration_ms.extend(lengths)
        return True


def _is_permanent(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in _PERMANENT_MARKERS)


class ElevenLabsTTS:
    """ElevenLabs as a :class:`~telephony.speech.base.TextToSpeech`.

    One instance serves every call of a process; phrases may be synthesised
    concurrently.

    Args:
        api_key: The ``xi-api-key``; never logged.
        voice_id: The voice to speak with.
        model_id: The model; Flash v2.5 has the lowest latency.
        url: API root (``wss://`` or, for a local fake, ``ws://``); the
            endpoint path and query are appended.
        first_audio_timeout: Seconds from the start of a phrase (handshake
            included) to its first audio before giving up.
        stall_timeout: Seconds without a message, once audio flows, before
            giving up.
        voice_settings: Sent in the opening message, e.g.
            ``{"stability": 0.5, "similarity_boost": 0.8, "speed": 1.0}``.
        chunk_length_schedule: ``generation_config.chunk_length_schedule``;
            by default the vendor's. Whole phrases are flushed, so it only
            shapes long phrases.
        auto_mode: The vendor's ``auto_mode``: no chunk schedule or buffers,
            recommended when sending whole phrases, as the session does.
        alignment: Ask for per-chunk character timings (``sync_alignment``)
            and collect them in :attr:`SpeechStream.alignment`.
        language_code: ISO 639-1 code to enforce a language (Flash/Turbo v2.5).
        prewarm: How many handshaken sockets to keep ready for the next
            phrases (0 disables). Each hides one handshake (one to three
            round trips) from a phrase's first audio.

    Raises:
        ValueError: An empty key or voice, a bad URL, or a non-positive timeout.
    """

    name = "elevenlabs"

    def __init__(
        self,
        api_key: str,
        voice_id: str,
        *,
        model_id: str = DEFAULT_MODEL,
        url: str = DEFAULT_WS_URL,
        first_audio_timeout: float = FIRST_AUDIO_TIMEOUT_S,
        stall_timeout: float = STALL_TIMEOUT_S,
        voice_settings: Mapping[str, float | bool] | None = None,
        chunk_length_schedule: Sequence[int] | None = None,
        auto_mode: bool = True,
        alignment: bool = True,
        language_code: str | None = None,
        prewarm: int = 1,
    ) -> None:
        if not api_key or not voice_id:
            raise ValueError("ElevenLabsTTS needs an API key and a voice id")
        if urlsplit(url).scheme not in ("ws", "wss"):
            raise ValueError(f"ElevenLabsTTS url must be ws:// or wss://, got {url!r}")
        if first_audio_timeout <= 0 or stall_timeout <= 0:
            raise ValueError("ElevenLabsTTS timeouts must be positive")
        if prewarm < 0:
            raise ValueError(f"ElevenLabsTTS prewarm must be >= 0, got {prewarm}")
        self._api_key = api_key
        _redactor.remember(api_key)
        self.voice_id = voice_id
        self.model_id = model_id
        self.first_audio_timeout = first_audio_timeout
        self.stall_timeout = stall_timeout
        self.alignment = alignment
        self.prewarm = prewarm
        query: dict[str, str] = {"model_id": model_id, "output_format": OUTPUT_FORMAT}
        if auto_mode:
            query["auto_mode"] = "true"
        if alignment:
            query["sync_alignment"] = "true"
        if language_code:
            query["language_code"] = language_code
        path = f"/v1/text-to-speech/{quote(voice_id, safe='')}/stream-input"
        self.endpoint = f"{url.rstrip('/')}{path}?{urlencode(query)}"
        self._host = urlsplit(url).netloc
        opening: dict[str, Any] = {"text": " "}
        if voice_settings:
            opening["voice_settings"] = dict(voice_settings)
        if chunk_length_schedule:
            opening["generation_config"] = {"chunk_length_schedule": list(chunk_length_schedule)}
        self._opening = json.dumps(opening)
        self._spares: list[tuple[float, asyncio.AbstractEventLoop, ClientConnection]] = []
        self._refill_task: asyncio.Task[None] | None = None
        self._opening_spares = 0  # handshakes in flight, so concurrent refills do not overshoot
        self._closers: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return (
            f"ElevenLabsTTS(voice_id={self.voice_id!r}, model_id={self.model_id!r}, "
            f"host={self._host!r})"
        )

    def synthesize(self, text: str) -> SpeechStream:
        """Speak ``text``: an async iterator of 8 kHz mu-law bytes.

        Nothing happens until the first ``__anext__``. The returned
        :class:`SpeechStream` also collects the phrase's :class:`Alignment`.
        Closing it early (``aclose()``, or cancelling the consumer) closes
        the socket, which stops the vendor's generation.

        Raises:
            ProviderError: From iteration, on any vendor failure (see module doc).
        """
        return SpeechStream(self, text)

    async def warm_up(self) -> None:
        """Open the ``prewarm`` spare sockets now and wait for them.

        Raises:
            ProviderError: The service cannot be reached or rejects the handshake.
        """
        if self._refill_task is not None and not self._refill_task.done():
            await asyncio.gather(self._refill_task, return_exceptions=True)
        await self._refill(raise_errors=True)

    async def aclose(self) -> None:
        """Close the spare sockets (call once, when the app shuts down)."""
        if self._refill_task is not None:
            self._refill_task.cancel()
            await asyncio.gather(self._refill_task, return_exceptions=True)
            self._refill_task = None
        spares, self._spares = self._spares, []
        await asyncio.gather(*(ws.close() for _, _, ws in spares), return_exceptions=True)
        if self._closers:
            await asyncio.gather(*self._closers, return_exceptions=True)

    # -- sockets -------------------------------------------------------------------
    async def _connect(self) -> ClientConnection:
        """Open one socket (no timeout of its own: callers bound it)."""
        try:
            return await connect(
                self.endpoint,
                additional_headers={"xi-api-key": self._api_key},
                open_timeout=None,
                close_timeout=CLOSE_TIMEOUT_S,
                max_size=MAX_MESSAGE_BYTES,
                compression=None,  # base64 of dense mu-law: deflate saves little, costs CPU
                logger=_wire_logger,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            hint = " (check the API key)" if status in (401, 403) else ""
            raise ProviderError(
                self.name,
                f"{self._host} rejected the WebSocket handshake with HTTP {status}{hint}",
                retryable=status not in _HTTP_PERMANENT,
            ) from None
        except InvalidHandshake as exc:
            raise ProviderError(
                self.name, f"WebSocket handshake with {self._host} failed: {exc}", retryable=True
            ) from None
        except OSError as exc:
            refused = isinstance(exc, ConnectionRefusedError)
            reason = "connection refused" if refused else exc.strerror or str(exc) or repr(exc)
            raise ProviderError(
                self.name, f"cannot connect to {self._host}: {reason}", retryable=True
            ) from None

    def _take_spare(self) -> ClientConnection | None:
        """A ready socket opened on this loop, or None; drops stale ones."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        while self._spares:
            opened, spare_loop, ws = self._spares.pop(0)
            if spare_loop is loop and ws.state is State.OPEN and now - opened < SPARE_MAX_AGE_S:
                return ws
            if spare_loop is loop:
                self._close_later(ws)
        return None

    def _close_later(self, ws: ClientConnection) -> None:
        task = asyncio.get_running_loop().create_task(ws.close())
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    def _schedule_refill(self) -> None:
        if len(self._spares) + self._opening_spares >= self.prewarm:
            return
        if self._refill_task is None or self._refill_task.done():
            self._refill_task = asyncio.get_running_loop().create_task(self._refill())

    async def _refill(self, *, raise_errors: bool = False) -> None:
        """Open spares until there are ``prewarm`` of them."""
        loop = asyncio.get_running_loop()
        while len(self._spares) + self._opening_spares < self.prewarm:
            self._opening_spares += 1
            try:
                async with asyncio.timeout(SPARE_OPEN_TIMEOUT_S):
                    self._spares.append((time.monotonic(), loop, await self._connect()))
            except TimeoutError:
                error = ProviderError(
                    self.name,
                    f"no handshake with {self._host} within {SPARE_OPEN_TIMEOUT_S:.0f} s",
                    retryable=True,
                )
            except ProviderError as exc:
                error = exc
            else:
                continue
            finally:
                self._opening_spares -= 1
            if raise_errors:
                raise error
            # The next phrase connects itself and reports the failure.
            logger.debug("elevenlabs: could not pre-open a socket: %s", error)
            return


class SpeechStream:
    """One phrase being spoken: an async iterator of 8 kHz mu-law bytes.

    Attributes:
        text: The phrase.
        alignment: Character timings received so far, or ``None`` if the
            server sent none (or alignment was not requested). Complete once
            iteration ends.
        audio_ms: Milliseconds of audio yielded so far.
        first_audio_ms: Milliseconds from the first ``__anext__`` to the
            first audio, or ``None`` before it.
    """

    def __init__(self, tts: ElevenLabsTTS, text: str) -> None:
        self.text = text
        self.alignment: Alignment | None = None
        self.audio_ms = 0.0
        self.first_audio_ms: float | None = None
        self._tts = tts
        self._ws: ClientConnection | None = None
        self._chunks = self._run()

    def __aiter__(self) -> SpeechStream:
        return self

    async def __anext__(self) -> bytes:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        """Stop early: closes the socket, so the vendor stops generating."""
        await self._chunks.aclose()

    def _error(self, message: str, *, retryable: bool = True) -> ProviderError:
        return ProviderError(self._tts.name, message, retryable=retryable)

    async def _run(self) -> AsyncGenerator[bytes, None]:
        if not self.text.strip():
            return
        tts = self._tts
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + tts.first_audio_timeout
        try:
            ws = await self._open(deadline)
            while True:
                message = await self._receive(ws, deadline)
                audio = self._audio_of(message)
                if audio:
                    if self.first_audio_ms is None:
                        self.first_audio_ms = (loop.time() - started) * 1000
                        logger.debug("elevenlabs: first audio after %.0f ms", self.first_audio_ms)
                    self._align(message)
                    self.audio_ms += duration_ms(len(audio))
                    yield audio
                if message.get("isFinal"):
                    return
        finally:
            if self._ws is not None:  # also when cancelled mid-handshake or mid-send
                await self._ws.close()

    async def _open(self, deadline: float) -> ClientConnection:
        """A socket with the phrase sent on it, within the first-audio deadline."""
        tts = self._tts
        self._ws = tts._take_spare()
        tts._schedule_refill()
        if self._ws is not None:
            try:
                await self._send_phrase(self._ws)
                return self._ws
            except ConnectionClosed:
                # The spare died while idle (server timeout, network): not
                # this phrase's failure, so connect afresh.
                logger.debug("elevenlabs: spare socket was closed; connecting afresh")
        try:
            async with asyncio.timeout_at(deadline):
                self._ws = await tts._connect()
        except TimeoutError:
            raise self._error(
                f"no audio within {tts.first_audio_timeout:.1f} s "
                f"(WebSocket handshake with {tts._host} not finished)"
            ) from None
        try:
            await self._send_phrase(self._ws)
        except ConnectionClosed as exc:
            raise self._closed_error(exc) from None
        return self._ws

    async def _send_phrase(self, ws: ClientConnection) -> None:
        # The text must end with one space; flush starts generation at once and
        # the empty text ends the sequence, which makes the server send isFinal.
        await ws.send(self._tts._opening)
        await ws.send(json.dumps({"text": self.text.rstrip() + " ", "flush": True}))
        await ws.send('{"text": ""}')

    async def _receive(self, ws: ClientConnection, deadline: float) -> dict[str, Any]:
        """The next server message, as a dict; raises ProviderError on failure."""
        tts = self._tts
        waiting_first = self.first_audio_ms is None
        try:
            if waiting_first:
                async with asyncio.timeout_at(deadline):
                    raw = await ws.recv()
            else:
                async with asyncio.timeout(tts.stall_timeout):
                    raw = await ws.recv()
        except TimeoutError:
            if waiting_first:
                raise self._error(f"no audio within {tts.first_audio_timeout:.1f} s") from None
            raise self._error(
                f"audio stalled for {tts.stall_timeout:.1f} s after {self.audio_ms:.0f} ms"
            ) from None
        except ConnectionClosed as exc:
            raise self._closed_error(exc) from None
        if not isinstance(raw, str):
            raise self._error("unexpected binary message (the protocol sends JSON text)")
        try:
            message = json.loads(raw)
        except ValueError:
            raise self._error("malformed message (not JSON)") from None
        if not isinstance(message, dict):
            raise self._error("malformed message (not a JSON object)")
        if message.get("error") or ("message" in message and "audio" not in message):
            detail = str(message.get("message") or "")
            code = str(message.get("error") or message.get("code") or "error")
            raise self._error(
                f"server error {code!r}: {detail}" if detail else f"server error {code!r}",
                retryable=not _is_permanent(f"{code} {detail}"),
            )
        return message

    def _closed_error(self, exc: ConnectionClosed) -> ProviderError:
        if exc.rcvd is not None:
            how = f"code {exc.rcvd.code}" + (f": {exc.rcvd.reason}" if exc.rcvd.reason else "")
            retryable = not _is_permanent(exc.rcvd.reason)
        else:
            how, retryable = "no closing handshake", True
        return self._error(
            f"connection closed before the phrase ended, after {self.audio_ms:.0f} ms "
            f"of audio ({how})",
            retryable=retryable,
        )

    def _audio_of(self, message: Mapping[str, Any]) -> bytes:
        encoded = message.get("audio")
        if not encoded:
            return b""
        if not isinstance(encoded, str):
            raise self._error("malformed audio (not a base64 string)")
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise self._error("malformed audio (bad base64)") from None

    def _align(self, message: Mapping[str, Any]) -> None:
        """Collect the chunk's timings, shifted to the phrase's timeline."""
        if not self._tts.alignment:
            return
        timings, normalized = message.get("alignment"), False
        if not timings:
            timings, normalized = message.get("normalizedAlignment"), True
        if not isinstance(timings, Mapping):
            return
        if self.alignment is None:
            self.alignment = Alignment(normalized=normalized)
        # Times are relative to this chunk; audio_ms is where it starts.
        if not self.alignment._extend(timings, self.audio_ms):
            logger.debug("elevenlabs: ignored malformed alignment")
