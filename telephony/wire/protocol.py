"""Sans-I/O Twilio Media Streams protocol, app side.

How it works:
    :class:`MediaStreamProtocol` owns no socket. The web layer feeds it each
    WebSocket message (``receive``) and the close (``receive_eof``), drains
    ``events()``, queues output (``send_media``/``send_mark``/``send_clear``)
    and writes the frames ``data_to_send()`` returns. Each message is decoded
    once by msgspec into a tagged-union wire struct (base64 included), checked
    against the one transition table ``_TRANSITIONS`` and turned into a frozen
    event dataclass.

    ``RemoteProtocolError``: Twilio sent something illegal; state becomes
    FAILED. ``LocalProtocolError``: this object was misused; state unchanged.
    ``close_code``: 1002 order/identity (media before start, second start,
    streamSid mismatch); 1003 binary frame, or not 8 kHz mono mu-law; 1007
    invalid JSON or schema, bad base64, nesting too deep, a number out of
    range; 1009 over ``max_message_bytes``; 1011 local misuse. Whatever the
    input, ``receive`` raises nothing but these errors.

    End of stream: a :class:`Stop` event, or ``receive_eof()`` without one
    (hang-up, network). ``state`` becomes STOPPED; later input is dropped
    unread (counted in ``ignored_after_stop``): the call is over.

Softphone helpers (Twilio's side): :func:`encode_twilio_event` builds the frame
Twilio sends for an event (numbers as strings, like Twilio); :func:`parse_outbound`
parses an app frame into :class:`OutboundMedia` (payload as bytes),
:class:`OutboundMark` or :class:`OutboundClear`.
"""

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Final, NamedTuple, Union, cast

import msgspec

# fmt: off
__all__ = [
    "CLOSE_INTERNAL_ERROR", "CLOSE_INVALID_PAYLOAD", "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_PROTOCOL_ERROR", "CLOSE_UNSUPPORTED_DATA", "MULAW_8K_MONO", "Connected",
    "Dtmf", "Event", "LocalProtocolError", "Mark", "Media", "MediaFormat",
    "MediaStreamProtocol", "OutboundClear", "OutboundMark", "OutboundMedia",
    "OutboundMediaBody", "OutboundMessage", "ProtocolError", "RemoteProtocolError",
    "Start", "Stop", "StreamState", "UnknownEvent", "encode_twilio_event", "parse_outbound",
]
# fmt: on

logger = logging.getLogger(__name__)

# WebSocket close codes (RFC 6455, section 7.4.1) used as hints on errors.
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_UNSUPPORTED_DATA: Final = 1003
CLOSE_INVALID_PAYLOAD: Final = 1007
CLOSE_MESSAGE_TOO_BIG: Final = 1009
CLOSE_INTERNAL_ERROR: Final = 1011


class StreamState(enum.Enum):
    """Lifecycle of one media stream."""

    CONNECTING = "connecting"  # socket open, waiting for start
    STREAMING = "streaming"  # start received; media flows both ways
    STOPPED = "stopped"  # stop received or socket closed: the call is over
    FAILED = "failed"  # Twilio broke the protocol; close the socket


class ProtocolError(Exception):
    """A Media Streams protocol violation.

    Attributes:
        message: What happened, readable by an operator.
        close_code: The WebSocket close code to close the socket with.
    """

    default_close_code: int = CLOSE_PROTOCOL_ERROR

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.close_code = self.default_close_code if close_code is None else close_code


class RemoteProtocolError(ProtocolError):
    """Twilio (the peer) sent something illegal. The protocol is now FAILED."""


class LocalProtocolError(ProtocolError):
    """This object was misused (e.g. ``send_media`` before start). State is unchanged."""

    default_close_code = CLOSE_INTERNAL_ERROR


@dataclass(frozen=True, slots=True)
class MediaFormat:
    """Audio format announced in ``start``."""

    encoding: str
    sample_rate: int
    channels: int


# The only audio a bidirectional <Connect><Stream> carries.
MULAW_8K_MONO: Final = MediaFormat("audio/x-mulaw", 8000, 1)


@dataclass(frozen=True, slots=True)
class Connected:
    """Twilio's optional greeting, before ``start``."""

    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class Start:
    """The stream started. ``custom_parameters`` is a read-only copy, so Start is unhashable."""

    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...]
    media_format: MediaFormat
    custom_parameters: Mapping[str, str]
    sequence_number: int

    def __post_init__(self) -> None:
        proxy = MappingProxyType(dict(self.custom_parameters))
        object.__setattr__(self, "custom_parameters", proxy)


@dataclass(frozen=True, slots=True)
class Media:
    """Caller audio: raw 8 kHz mu-law, normally 20 ms (160 bytes), any length."""

    track: str
    chunk: int
    timestamp_ms: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Dtmf:
    """The caller pressed a key."""

    digit: str
    track: str


@dataclass(frozen=True, slots=True)
class Mark:
    """Twilio played all audio sent before mark ``name`` (or it was cleared)."""

    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    """Twilio ended the stream."""

    call_sid: str
    account_sid: str


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """A message whose ``event`` this module does not know: surfaced, not fatal."""

    name: str


Event = Connected | Start | Media | Dtmf | Mark | Stop | UnknownEvent


# Wire schema. Inbound is decoded with strict=False: numbers sent as strings become ints.
# Unknown fields are ignored. Every field an event carries is required, except
# customParameters (may be missing) and start.streamSid.

# Twilio's sequence numbers, chunk numbers and millisecond timestamps are never
# negative and never near 2**53 (285,000 years of audio); a string of 30 digits
# would otherwise decode to a Python int and reach the audio clock's arithmetic.
_Count = Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)]


class _InConnected(msgspec.Struct, tag_field="event", tag="connected", frozen=True):
    protocol: str
    version: str


class _InMessage(msgspec.Struct, tag_field="event", rename="camel", frozen=True):
    stream_sid: str  # every message but connected names its stream


class _WireFormat(msgspec.Struct, rename="camel", frozen=True):
    encoding: str
    sample_rate: int
    channels: int


class _StartBody(msgspec.Struct, rename="camel", frozen=True):
    account_sid: str
    call_sid: str
    tracks: tuple[str, ...]
    media_format: _WireFormat
    custom_parameters: dict[str, str] = {}
    stream_sid: str | None = None


class _InStart(_InMessage, tag="start", frozen=True):
    sequence_number: _Count
    start: _StartBody


class _MediaBody(msgspec.Struct, frozen=True):
    track: str
    chunk: _Count
    timestamp: _Count
    payload: bytes  # msgspec decodes the base64 string


class _InMedia(_InMessage, tag="media", frozen=True):
    media: _MediaBody


class _InDtmf(_InMessage, tag="dtmf", frozen=True):
    dtmf: Dtmf  # the wire object has the event's fields: decoded straight into it


class _InMark(_InMessage, tag="mark", frozen=True):
    mark: Mark


class _StopBody(msgspec.Struct, rename="camel", frozen=True):
    account_sid: str
    call_sid: str


class _InStop(_InMessage, tag="stop", frozen=True):
    stop: _StopBody


class _Envelope(msgspec.Struct):  # second look at a message the union rejected
    event: str


_IN_TYPES: Final = (_InMedia, _InConnected, _InStart, _InDtmf, _InMark, _InStop)
_KIND: Final[dict[type, str]] = {t: cast(str, t.__struct_config__.tag) for t in _IN_TYPES}
_KIND[UnknownEvent] = "unknown"
_INBOUND_DECODER: Final[msgspec.json.Decoder[_InMessage | _InConnected]] = msgspec.json.Decoder(
    Union[_IN_TYPES],  # noqa: UP007
    strict=False,
)
_ENVELOPE_DECODER: Final = msgspec.json.Decoder(_Envelope)


class _OutMessage(msgspec.Struct, tag_field="event", rename="camel", frozen=True):
    stream_sid: str


class OutboundMediaBody(msgspec.Struct, frozen=True):
    """``media`` object of an outbound media message; ``payload`` is raw mu-law."""

    payload: bytes


class OutboundMedia(_OutMessage, tag="media", frozen=True):
    """``{"event":"media","streamSid":..,"media":{"payload":"<base64>"}}``."""

    media: OutboundMediaBody


class OutboundMark(_OutMessage, tag="mark", frozen=True):
    """``{"event":"mark","streamSid":..,"mark":{"name":..}}``."""

    mark: Mark


class OutboundClear(_OutMessage, tag="clear", frozen=True):
    """``{"event":"clear","streamSid":..}``: Twilio drops its buffered audio."""


OutboundMessage = OutboundMedia | OutboundMark | OutboundClear

_ENCODER: Final = msgspec.json.Encoder()
_OUTBOUND_DECODER: Final[msgspec.json.Decoder[OutboundMessage]] = msgspec.json.Decoder(
    OutboundMessage
)


class _Rule(NamedTuple):
    next_state: StreamState
    ignore: bool = False  # True: drop the input unread


_RECEIVE: Final = "receive()"  # gate: may receive() look at a message at all?
_SEND: Final = "send"  # send_media / send_mark / send_clear
_EOF: Final = "eof"  # the socket closed
_REMOTE_ERROR: Final = "remote-error"  # Twilio broke the protocol
_S = StreamState

# Rule 1: everything that affects the state machine lives here. Inputs are
# Twilio event names plus the four above. A missing (state, input) pair is
# illegal: RemoteProtocolError for a Twilio event, else LocalProtocolError.
_TRANSITIONS: Final[dict[tuple[StreamState, str], _Rule]] = {
    (_S.CONNECTING, _RECEIVE): _Rule(_S.CONNECTING),
    (_S.STREAMING, _RECEIVE): _Rule(_S.STREAMING),
    (_S.STOPPED, _RECEIVE): _Rule(_S.STOPPED, ignore=True),
    (_S.CONNECTING, "connected"): _Rule(_S.CONNECTING),  # optional, only before start
    (_S.CONNECTING, "start"): _Rule(_S.STREAMING),
    (_S.CONNECTING, "stop"): _Rule(_S.STOPPED),  # still ends the call; nothing to check
    (_S.CONNECTING, "unknown"): _Rule(_S.CONNECTING),
    (_S.STREAMING, "media"): _Rule(_S.STREAMING),
    (_S.STREAMING, "dtmf"): _Rule(_S.STREAMING),
    (_S.STREAMING, "mark"): _Rule(_S.STREAMING),
    (_S.STREAMING, "unknown"): _Rule(_S.STREAMING),
    (_S.STREAMING, "stop"): _Rule(_S.STOPPED),
    (_S.STREAMING, _SEND): _Rule(_S.STREAMING),
    (_S.CONNECTING, _EOF): _Rule(_S.STOPPED),
    (_S.STREAMING, _EOF): _Rule(_S.STOPPED),
    (_S.STOPPED, _EOF): _Rule(_S.STOPPED),
    (_S.FAILED, _EOF): _Rule(_S.FAILED),
    (_S.CONNECTING, _REMOTE_ERROR): _Rule(_S.FAILED),
    (_S.STREAMING, _REMOTE_ERROR): _Rule(_S.FAILED),
}

_WHEN: Final = {
    _S.CONNECTING: "before start",
    _S.STREAMING: "after start",
    _S.STOPPED: "after stop",
    _S.FAILED: "after the protocol failed",
}


class MediaStreamProtocol:
    """The app's side of one Twilio Media Streams WebSocket, without I/O.

    Args:
        max_message_bytes: Largest accepted inbound message, in UTF-8 bytes.
        debug: Log every message at DEBUG level (off in production: 50 msg/s/call).

    Attributes:
        dropped_empty_media: Inbound media messages with an empty payload, dropped.
        ignored_after_stop: Messages received after STOPPED, dropped unread.
    """

    def __init__(self, *, max_message_bytes: int = 64 * 1024, debug: bool = False) -> None:
        self.max_message_bytes = max_message_bytes
        self.debug = debug
        self.dropped_empty_media = 0
        self.ignored_after_stop = 0
        self._state = StreamState.CONNECTING
        self._start: Start | None = None
        self._stream_sid: str | None = None
        self._events: list[Event] = []
        self._outgoing: list[str] = []

    @property
    def state(self) -> StreamState:
        """Current state."""
        return self._state

    @property
    def start(self) -> Start | None:
        """The ``start`` event, once received."""
        return self._start

    @property
    def stream_sid(self) -> str | None:
        """Stream SID (``MZ...``) from ``start``, once received."""
        return self._stream_sid

    @property
    def call_sid(self) -> str | None:
        """Call SID (``CA...``) from ``start``, once received."""
        return None if self._start is None else self._start.call_sid

    def receive(self, data: str | bytes) -> None:
        """Feed one WebSocket message; its event (if any) queues up for :meth:`events`.

        Args:
            data: A text frame as ``str``; ``bytes`` means a binary frame.

        Raises:
            RemoteProtocolError: The message is illegal; state is now FAILED.
            LocalProtocolError: Called after the protocol already FAILED.
        """
        gate = _TRANSITIONS.get((self._state, _RECEIVE))
        if gate is None:
            raise LocalProtocolError(f"receive() {_WHEN[self._state]}")
        if gate.ignore:
            self.ignored_after_stop += 1
            return
        try:
            self._receive(data)
        except RemoteProtocolError as exc:
            self._state = _TRANSITIONS[(self._state, _REMOTE_ERROR)].next_state
            if self.debug:
                logger.debug("%s failed: %s (close %d)", self._stream_sid, exc, exc.close_code)
            raise

    def receive_eof(self) -> None:
        """Tell the protocol the socket closed (with or without ``stop``)."""
        self._state = _TRANSITIONS[(self._state, _EOF)].next_state
        if self.debug:
            logger.debug("%s eof, state %s", self._stream_sid, self._state.name)

    def events(self) -> list[Event]:
        """Return and clear the events parsed so far, oldest first."""
        events, self._events = self._events, []
        return events

    def _receive(self, data: str | bytes) -> None:
        if not isinstance(data, str):
            raise RemoteProtocolError("binary frame (expected JSON text)", CLOSE_UNSUPPORTED_DATA)
        # Twilio sends ASCII, and str.isascii() is O(1): encode only other text to count bytes.
        size = len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))
        if size > self.max_message_bytes:
            raise RemoteProtocolError(
                f"message of {size} bytes, limit {self.max_message_bytes}", CLOSE_MESSAGE_TOO_BIG
            )
        msg = _decode_inbound(data)
        kind = _KIND[type(msg)]
        rule = _TRANSITIONS.get((self._state, kind))
        if rule is None:
            if kind == "start":
                raise RemoteProtocolError(f"second start (stream {self._stream_sid} started)")
            raise RemoteProtocolError(f"{kind} {_WHEN[self._state]}")
        event = self._to_event(msg)
        self._state = rule.next_state
        if self.debug:
            logger.debug("%s < %s, state %s", self._stream_sid, kind, self._state.name)
        if event is not None:
            self._events.append(event)

    def _to_event(self, msg: _InMessage | _InConnected | UnknownEvent) -> Event | None:
        """Check a legal message against the stream and build its event (None: drop it)."""
        if type(msg) is UnknownEvent:
            return msg
        if type(msg) is _InConnected:
            return Connected(msg.protocol, msg.version)
        assert isinstance(msg, _InMessage)  # for mypy: `type(msg) is` does not narrow the rest
        # No SID yet: this is start, or a stop before start.
        if self._stream_sid is not None and msg.stream_sid != self._stream_sid:
            raise RemoteProtocolError(f"streamSid mismatch: {msg.stream_sid} != {self._stream_sid}")
        if type(msg) is _InMedia:  # the hot path: 50 messages a second
            body = msg.media
            if not body.payload:
                self.dropped_empty_media += 1
                return None
            return Media(body.track, body.chunk, body.timestamp, body.payload)
        if type(msg) is _InStart:
            return self._on_start(msg)
        if type(msg) is _InDtmf:
            return msg.dtmf
        if type(msg) is _InMark:
            return msg.mark
        assert type(msg) is _InStop  # the last of _IN_TYPES
        return Stop(msg.stop.call_sid, msg.stop.account_sid)

    def _on_start(self, msg: _InStart) -> Start:
        body, wire = msg.start, msg.start.media_format
        if body.stream_sid is not None and body.stream_sid != msg.stream_sid:
            raise RemoteProtocolError(f"start.streamSid {body.stream_sid} != {msg.stream_sid}")
        fmt = MediaFormat(wire.encoding, wire.sample_rate, wire.channels)
        if fmt != MULAW_8K_MONO:
            raise RemoteProtocolError(
                f"unsupported media format {fmt}, expected {MULAW_8K_MONO}", CLOSE_UNSUPPORTED_DATA
            )
        start = Start(
            msg.stream_sid,
            body.call_sid,
            body.account_sid,
            body.tracks,
            fmt,
            body.custom_parameters,
            msg.sequence_number,
        )
        # Identity is set only here, after every check passed.
        self._start, self._stream_sid = start, start.stream_sid
        return start

    def send_media(self, ulaw: bytes) -> None:
        """Queue raw 8 kHz mu-law audio; pace it near real time (Twilio can only clear it).

        Raises:
            LocalProtocolError: Not STREAMING, or ``ulaw`` is empty.
        """
        stream_sid = self._check_can_send("send_media")
        if not ulaw:
            raise LocalProtocolError("send_media() with an empty payload")
        self._queue(OutboundMedia(stream_sid, OutboundMediaBody(ulaw)))

    def send_mark(self, name: str) -> None:
        """Queue mark ``name`` (e.g. ``"turn-3:1"``); Twilio echoes it once audio before it played.

        Raises:
            LocalProtocolError: Not STREAMING, or ``name`` is not a non-empty str.
        """
        stream_sid = self._check_can_send("send_mark")
        if not isinstance(name, str) or not name:
            raise LocalProtocolError(f"send_mark() needs a non-empty str name, got {name!r}")
        self._queue(OutboundMark(stream_sid, Mark(name)))

    def send_clear(self) -> None:
        """Queue a clear: Twilio drops its buffered audio and echoes pending marks.

        Raises:
            LocalProtocolError: Not STREAMING.
        """
        self._queue(OutboundClear(self._check_can_send("send_clear")))

    def data_to_send(self) -> list[str]:
        """Return and clear the queued outbound text frames (JSON), oldest first."""
        frames, self._outgoing = self._outgoing, []
        return frames

    def _check_can_send(self, method: str) -> str:
        rule = _TRANSITIONS.get((self._state, _SEND))
        if rule is None or self._stream_sid is None:
            raise LocalProtocolError(f"{method}() {_WHEN[self._state]}")
        self._state = rule.next_state
        return self._stream_sid

    def _queue(self, message: OutboundMessage) -> None:
        if self.debug:
            logger.debug("%s > %s", self._stream_sid, message.__struct_config__.tag)
        self._outgoing.append(_ENCODER.encode(message).decode("ascii"))


# Every way decoding text can fail. msgspec raises DecodeError (ValidationError
# is a subclass) for bad JSON or shape, UnicodeEncodeError for a lone surrogate
# in the str, and RecursionError for nesting deeper than the interpreter's
# recursion limit, even inside a field it would skip ("[" * 100000 as an unknown
# key's value). ValueError is there in case a later msgspec reports a limit so.
_UNDECODABLE: Final = (msgspec.DecodeError, UnicodeError, RecursionError, ValueError)
_MAX_REASON_CHARS: Final = 200  # an error message quotes input: keep log lines short


def _invalid(what: str, exc: BaseException) -> RemoteProtocolError:
    """The 1007 error for a message that could not be decoded, with a one-line reason."""
    if isinstance(exc, RecursionError):
        reason = "nested too deeply"
    else:
        reason = " ".join(str(exc).split())[:_MAX_REASON_CHARS] or type(exc).__name__
    return RemoteProtocolError(f"{what}: {reason}", CLOSE_INVALID_PAYLOAD)


def _decode_inbound(data: str) -> _InMessage | _InConnected | UnknownEvent:
    """Decode one inbound message, once; an unknown ``event`` becomes UnknownEvent.

    Raises:
        RemoteProtocolError: Close code 1007, whatever went wrong in decoding.
    """
    try:
        return _INBOUND_DECODER.decode(data)
    except msgspec.ValidationError as exc:
        error = exc  # valid JSON so far, wrong shape: maybe just an event we do not know
    except _UNDECODABLE as exc:
        raise _invalid("invalid JSON", exc) from None
    try:
        name = _ENVELOPE_DECODER.decode(data).event
    except msgspec.ValidationError as exc:
        raise _invalid("invalid message", exc) from None
    except _UNDECODABLE as exc:  # the shape failed first, then the JSON further on
        raise _invalid("invalid JSON", exc) from None
    if name not in _KIND.values():
        return UnknownEvent(name)
    raise _invalid(f"invalid {name} message", error)


def encode_twilio_event(
    event: Event, *, stream_sid: str | None = None, sequence_number: int | None = None
) -> str:
    """Build the JSON text frame Twilio sends for ``event``, numbers as strings.

    Args:
        event: The event.
        stream_sid: ``streamSid``; required except for Connected and Start (uses its own).
        sequence_number: ``sequenceNumber`` to include, if any (Start uses its own).

    Raises:
        ValueError: ``stream_sid`` is missing where it is needed.
    """
    wire: dict[str, object]
    if isinstance(event, Connected):
        wire = {"event": "connected", "protocol": event.protocol, "version": event.version}
    elif isinstance(event, Start):
        fmt = event.media_format
        wire = {
            "event": "start",
            "sequenceNumber": str(event.sequence_number),
            "streamSid": event.stream_sid,
            "start": _StartBody(  # the wire structs encode with Twilio's camelCase keys
                event.account_sid,
                event.call_sid,
                event.tracks,
                _WireFormat(fmt.encoding, fmt.sample_rate, fmt.channels),
                dict(event.custom_parameters),
                event.stream_sid,
            ),
        }
    elif stream_sid is None:
        raise ValueError(f"encode_twilio_event({type(event).__name__}) needs stream_sid")
    else:
        # Media, Dtmf, Mark, Stop are named like their wire event.
        name = event.name if isinstance(event, UnknownEvent) else type(event).__name__.lower()
        wire = {"event": name}
        if sequence_number is not None:
            wire["sequenceNumber"] = str(sequence_number)
        wire["streamSid"] = stream_sid
        if isinstance(event, Media):
            wire["media"] = {
                "track": event.track,
                "chunk": str(event.chunk),
                "timestamp": str(event.timestamp_ms),
                "payload": event.payload,  # msgspec writes bytes as base64
            }
        elif isinstance(event, Stop):
            wire["stop"] = _StopBody(event.account_sid, event.call_sid)
        elif isinstance(event, Dtmf | Mark):
            wire[name] = event  # its fields are the wire object's keys
    return _ENCODER.encode(wire).decode()


def parse_outbound(data: str | bytes) -> OutboundMessage:
    """Parse one frame the app sent to Twilio.

    Raises:
        RemoteProtocolError: Not a valid media, mark or clear message (close code 1007).
    """
    try:
        return _OUTBOUND_DECODER.decode(data)
    except _UNDECODABLE as exc:
        raise _invalid("invalid outbound", exc) from None
