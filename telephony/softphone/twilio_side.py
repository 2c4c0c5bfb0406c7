"""What the softphone puts on the wire and reads from it, as Twilio would.

The voice webhook's form fields and signature, the TwiML answer, and the
Media Streams messages in both directions. Message encoding and parsing are
delegated to :mod:`telephony.wire.protocol` (the same wire schema the app uses),
so this module stays a thin, swappable layer.

Pure: no I/O.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field

from twilio.request_validator import RequestValidator

from telephony.wire import protocol
from telephony.wire.protocol import OutboundClear, OutboundMark, OutboundMedia, OutboundMessage

__all__ = [
    "TWILIO_API_VERSION",
    "OutboundClear",
    "OutboundMark",
    "OutboundMedia",
    "OutboundMessage",
    "TwimlAnswer",
    "WireError",
    "build_connected",
    "build_dtmf",
    "build_mark",
    "build_media",
    "build_start",
    "build_stop",
    "new_sid",
    "parse_app_message",
    "parse_twiml",
    "sign",
    "webhook_params",
]

TWILIO_API_VERSION = "2010-04-01"
_DTMF_TRACK = "inbound_track"  # what Twilio writes in dtmf events (media says "inbound")
_MEDIA_TRACK = "inbound"


class WireError(ValueError):
    """The app sent something Twilio would not accept."""


def new_sid(prefix: str) -> str:
    """A random Twilio-style SID: two-letter prefix + 32 hex digits (``CA...``)."""
    return prefix + secrets.token_hex(16)


def sign(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for ``url`` and POST ``params``."""
    signature: str = RequestValidator(auth_token).compute_signature(url, dict(params or {}))
    return signature  # twilio is untyped


def webhook_params(*, call_sid: str, account_sid: str, caller: str, called: str) -> dict[str, str]:
    """The voice webhook's form fields for a ringing inbound call."""
    return {
        "CallSid": call_sid,
        "AccountSid": account_sid,
        "From": caller,
        "To": called,
        "Caller": caller,
        "Called": called,
        "Direction": "inbound",
        "CallStatus": "ringing",
        "ApiVersion": TWILIO_API_VERSION,
    }


@dataclass(frozen=True, slots=True)
class TwimlAnswer:
    """What the webhook's TwiML tells Twilio to do.

    Attributes:
        stream_url: The ``<Connect><Stream url>``, or ``""`` if the call is
            not connected to a stream.
        parameters: The stream's ``<Parameter>`` names and values.
        verbs: Every top-level verb in order, rendered short for reports,
            e.g. ``['Say: "All lines are busy"', 'Hangup']``.
    """

    stream_url: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    verbs: tuple[str, ...] = ()

    @property
    def connects(self) -> bool:
        """Whether Twilio would open a media stream."""
        return bool(self.stream_url)

    def describe(self) -> str:
        """One line for reports: what the caller would hear instead of a stream."""
        return "; ".join(self.verbs) or "empty <Response>"


def parse_twiml(text: str) -> TwimlAnswer:
    """Read a TwiML answer.

    Raises:
        WireError: The body is not XML or its root is not ``<Response>``.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise WireError(f"webhook answer is not XML: {exc}") from None
    if root.tag != "Response":
        raise WireError(f"webhook answer's root is <{root.tag}>, not <Response>")
    verbs = tuple(_describe_verb(el) for el in root)
    stream = root.find("./Connect/Stream")
    if stream is None or not stream.get("url"):
        return TwimlAnswer("", {}, verbs)
    parameters = {
        p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter") if p.get("name")
    }
    return TwimlAnswer(stream.get("url", ""), parameters, verbs)


def _describe_verb(element: ET.Element) -> str:
    described = element.tag
    attrs = " ".join(f"{k}={v!r}" for k, v in element.attrib.items())
    if attrs:
        described += f" ({attrs})"
    children = ", ".join(child.tag for child in element)
    if children:
        described += f" [{children}]"
    text = " ".join((element.text or "").split())
    if text:
        described += f': "{text}"'
    return described


# -- Twilio -> app ------------------------------------------------------------


def build_connected() -> str:
    """``connected``: the first message on every stream."""
    return protocol.encode_twilio_event(protocol.Connected(protocol="Call", version="1.0.0"))


def build_start(
    *,
    stream_sid: str,
    call_sid: str,
    account_sid: str,
    parameters: Mapping[str, str],
    sequence_number: int,
) -> str:
    """``start``: stream identity, audio format and the TwiML parameters."""
    return protocol.encode_twilio_event(
        protocol.Start(
            stream_sid=stream_sid,
            call_sid=call_sid,
            account_sid=account_sid,
            tracks=(_MEDIA_TRACK,),
            media_format=protocol.MediaFormat("audio/x-mulaw", 8000, 1),
            custom_parameters=dict(parameters),
            sequence_number=sequence_number,
        )
    )


def build_media(
    ulaw: bytes, *, stream_sid: str, sequence_number: int, chunk: int, timestamp_ms: int
) -> str:
    """``media``: one frame of caller audio (base64 mu-law)."""
    event = protocol.Media(track=_MEDIA_TRACK, chunk=chunk, timestamp_ms=timestamp_ms, payload=ulaw)
    return protocol.encode_twilio_event(
        event, stream_sid=stream_sid, sequence_number=sequence_number
    )


def build_dtmf(digit: str, *, stream_sid: str, sequence_number: int) -> str:
    """``dtmf``: one key press."""
    return protocol.encode_twilio_event(
        protocol.Dtmf(digit=digit, track=_DTMF_TRACK),
        stream_sid=stream_sid,
        sequence_number=sequence_number,
    )


def build_mark(name: str, *, stream_sid: str, sequence_number: int) -> str:
    """``mark``: the audio before the app's mark ``name`` has been played."""
    return protocol.encode_twilio_event(
        protocol.Mark(name=name), stream_sid=stream_sid, sequence_number=sequence_number
    )


def build_stop(*, stream_sid: str, call_sid: str, account_sid: str, sequence_number: int) -> str:
    """``stop``: the caller hung up."""
    return protocol.encode_twilio_event(
        protocol.Stop(call_sid=call_sid, account_sid=account_sid),
        stream_sid=stream_sid,
        sequence_number=sequence_number,
    )


# -- app -> Twilio --------------------------------------------------------------


def parse_app_message(data: str | bytes) -> OutboundMessage:
    """Parse one message the app sent (``media``, ``mark`` or ``clear``).

    Raises:
        WireError: Binary frame, bad JSON, unknown event or missing fields.
    """
    if isinstance(data, bytes):
        raise WireError("the app sent a binary frame; Twilio accepts only text frames")
    try:
        return protocol.parse_outbound(data)
    except protocol.ProtocolError as exc:
        raise WireError(exc.message) from None
