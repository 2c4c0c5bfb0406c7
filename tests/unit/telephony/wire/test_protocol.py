"""Tests for the sans-I/O Twilio Media Streams protocol: strings in, events out."""

import base64
import json
import logging
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.wire.protocol import (
    MULAW_8K_MONO,
    Connected,
    Dtmf,
    Event,
    LocalProtocolError,
    Mark,
    Media,
    MediaStreamProtocol,
    OutboundClear,
    OutboundMark,
    OutboundMedia,
    OutboundMediaBody,
    ProtocolError,
    RemoteProtocolError,
    Start,
    Stop,
    StreamState,
    UnknownEvent,
    encode_twilio_event,
    parse_outbound,
)

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
OTHER_SID = "MZ99999999999999999999999999999999"
CALL = "CA5f5d8b3d1a3c4e8f9a0b1c2d3e4f5a6b"
ACCOUNT = "AC25e16e9a716a4a1786a7c83f58e30482"
AUDIO = bytes(range(160))  # 20 ms of mu-law
B64 = base64.b64encode(AUDIO).decode()

START = Start(
    stream_sid=SID,
    call_sid=CALL,
    account_sid=ACCOUNT,
    tracks=("inbound",),
    media_format=MULAW_8K_MONO,
    custom_parameters={"caller": "+15551230000"},
    sequence_number=1,
)
START_WIRE: dict[str, Any] = {
    "event": "start",
    "sequenceNumber": "1",
    "streamSid": SID,
    "start": {
        "accountSid": ACCOUNT,
        "streamSid": SID,
        "callSid": CALL,
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"caller": "+15551230000"},
    },
}


def media_wire(payload: str = B64, **media: Any) -> dict[str, Any]:
    body = {"track": "inbound", "chunk": "2", "timestamp": "40", "payload": payload, **media}
    return {"event": "media", "sequenceNumber": "3", "streamSid": SID, "media": body}


# Twilio's messages as TWILIO.md shows them (numbers as strings), one per event.
TWILIO: dict[str, dict[str, Any]] = {
    "connected": {"event": "connected", "protocol": "Call", "version": "1.0.0"},
    "start": START_WIRE,
    "media": media_wire(),
    "dtmf": {
        "event": "dtmf",
        "sequenceNumber": "5",
        "streamSid": SID,
        "dtmf": {"track": "inbound_track", "digit": "1"},
    },
    "mark": {
        "event": "mark",
        "sequenceNumber": "6",
        "streamSid": SID,
        "mark": {"name": "turn-3:1"},
    },
    "stop": {
        "event": "stop",
        "sequenceNumber": "9",
        "streamSid": SID,
        "stop": {"accountSid": ACCOUNT, "callSid": CALL},
    },
    "unknown": {"event": "transcription", "sequenceNumber": "7", "streamSid": SID},
}


def with_start(wire: dict[str, Any], **start: Any) -> dict[str, Any]:
    return {**wire, "start": {**wire["start"], **start}}


def drop(wire: dict[str, Any], *path: str) -> dict[str, Any]:
    """A deep copy of ``wire`` without the field at ``path``."""
    wire = json.loads(json.dumps(wire))
    target = wire
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return wire


def streaming(**kwargs: Any) -> MediaStreamProtocol:
    proto = MediaStreamProtocol(**kwargs)
    proto.receive(json.dumps(START_WIRE))
    assert proto.events() == [START]
    return proto


def feed(proto: MediaStreamProtocol, wire: dict[str, Any] | str) -> list[Event]:
    proto.receive(wire if isinstance(wire, str) else json.dumps(wire))
    return proto.events()


# -- one table of (wire, event), checked both ways -----------------------------
# (id, Twilio's JSON, event, needs start first, kwargs for encode_twilio_event)
WIRE_CASES = [
    ("connected", TWILIO["connected"], Connected(protocol="Call", version="1.0.0"), False, {}),
    ("start", START_WIRE, START, False, {}),
    (
        "media",
        TWILIO["media"],
        Media(track="inbound", chunk=2, timestamp_ms=40, payload=AUDIO),
        True,
        {"stream_sid": SID, "sequence_number": 3},
    ),
    (
        "media odd length (mu-law is 1 byte a sample)",
        media_wire(base64.b64encode(b"\x7f\xff\x00").decode()),
        Media(track="inbound", chunk=2, timestamp_ms=40, payload=b"\x7f\xff\x00"),
        True,
        {"stream_sid": SID, "sequence_number": 3},
    ),
    (
        "dtmf",
        TWILIO["dtmf"],
        Dtmf(digit="1", track="inbound_track"),
        True,
        {"stream_sid": SID, "sequence_number": 5},
    ),
    (
        "mark",
        TWILIO["mark"],
        Mark(name="turn-3:1"),
        True,
        {"stream_sid": SID, "sequence_number": 6},
    ),
    (
        "stop",
        TWILIO["stop"],
        Stop(call_sid=CALL, account_sid=ACCOUNT),
        True,
        {"stream_sid": SID, "sequence_number": 9},
    ),
    (
        "unknown event is surfaced",
        TWILIO["unknown"],
        UnknownEvent(name="transcription"),
        True,
        {"stream_sid": SID, "sequence_number": 7},
    ),
]
WIRE_IDS = [case[0] for case in WIRE_CASES]


@pytest.mark.parametrize(("name", "wire", "event", "after_start", "kw"), WIRE_CASES, ids=WIRE_IDS)
def test_twilio_message_parses_to_event(name, wire, event, after_start, kw):
    proto = streaming() if after_start else MediaStreamProtocol()
    assert feed(proto, wire) == [event]


@pytest.mark.parametrize(("name", "wire", "event", "after_start", "kw"), WIRE_CASES, ids=WIRE_IDS)
def test_event_encodes_to_twilio_message(name, wire, event, after_start, kw):
    assert json.loads(encode_twilio_event(event, **kw)) == wire


@pytest.mark.parametrize(("name", "wire", "event", "after_start", "kw"), WIRE_CASES, ids=WIRE_IDS)
def test_softphone_frames_round_trip_through_protocol(name, wire, event, after_start, kw):
    proto = streaming() if after_start else MediaStreamProtocol()
    assert feed(proto, encode_twilio_event(event, **kw)) == [event]


def test_encode_without_stream_sid_is_refused():
    with pytest.raises(ValueError, match="stream_sid"):
        encode_twilio_event(Mark("m"))


def test_start_without_connected_sets_stream_identity():
    proto = MediaStreamProtocol()
    assert (proto.state, proto.stream_sid, proto.call_sid, proto.start) == (
        StreamState.CONNECTING,
        None,
        None,
        None,
    )
    feed(proto, START_WIRE)
    assert (proto.state, proto.stream_sid, proto.call_sid, proto.start) == (
        StreamState.STREAMING,
        SID,
        CALL,
        START,
    )


# -- tolerance: variants Twilio may send that mean the same event ---------------
TOLERATED = [
    ("numbers as ints", media_wire(chunk=2, timestamp=40) | {"sequenceNumber": 3}, True),
    ("extra fields ignored", media_wire(extra=1) | {"future": {"x": [1]}}, True),
    ("start sequenceNumber as int", START_WIRE | {"sequenceNumber": 1}, False),
    (
        "sampleRate/channels as str",
        with_start(
            START_WIRE,
            mediaFormat={"encoding": "audio/x-mulaw", "sampleRate": "8000", "channels": "1"},
        ),
        False,
    ),
    ("start without inner streamSid", drop(START_WIRE, "start", "streamSid"), False),
]


@pytest.mark.parametrize(("name", "wire", "after_start"), TOLERATED, ids=[t[0] for t in TOLERATED])
def test_tolerated_variants_parse_like_the_canonical_message(name, wire, after_start):
    canonical = media_wire() if after_start else START_WIRE
    proto_a = streaming() if after_start else MediaStreamProtocol()
    proto_b = streaming() if after_start else MediaStreamProtocol()
    assert feed(proto_a, wire) == feed(proto_b, canonical) != []


def test_missing_custom_parameters_means_empty():
    (start,) = feed(MediaStreamProtocol(), drop(START_WIRE, "start", "customParameters"))
    assert isinstance(start, Start)
    assert dict(start.custom_parameters) == {}


def test_start_custom_parameters_are_a_read_only_copy():
    params = {"caller": "+1"}
    start = Start(SID, CALL, ACCOUNT, ("inbound",), MULAW_8K_MONO, params, 1)
    params["caller"] = "+2"
    assert start.custom_parameters == {"caller": "+1"}
    with pytest.raises(TypeError):
        start.custom_parameters["caller"] = "+3"  # type: ignore[index]


def test_empty_media_is_dropped_and_counted():
    proto = streaming()
    assert feed(proto, media_wire("")) == []
    assert proto.dropped_empty_media == 1
    assert proto.state is StreamState.STREAMING
    assert len(feed(proto, media_wire())) == 1


# -- bad input: (id, needs start first, frame, close code, message fragment) -----
def _bad_media(**media: Any) -> str:
    return json.dumps(media_wire(**media))


def _without(wire: dict[str, Any], *path: str) -> str:
    return json.dumps(drop(wire, *path))


BAD_INPUT = [
    ("invalid JSON", True, '{"event": "media",', 1007, "invalid JSON"),
    ("JSON array", True, "[1, 2]", 1007, "object"),
    ("JSON string", False, '"start"', 1007, "object"),
    ("missing event", True, json.dumps({"streamSid": SID}), 1007, "`event`"),
    ("event not a string", True, json.dumps({"event": 5}), 1007, "`$.event`"),
    ("media without payload", True, _without(media_wire(), "media", "payload"), 1007, "payload"),
    ("media without streamSid", True, _without(media_wire(), "streamSid"), 1007, "streamSid"),
    ("media not an object", True, json.dumps(media_wire() | {"media": "x"}), 1007, "media"),
    ("chunk not a number", True, _bad_media(chunk="two"), 1007, "chunk"),
    ("timestamp wrong type", True, _bad_media(timestamp=[40]), 1007, "timestamp"),
    ("track wrong type", True, _bad_media(track=1), 1007, "track"),
    ("bad base64", True, _bad_media(payload="not base64!"), 1007, "base64"),
    ("truncated base64", True, _bad_media(payload=B64[:-1]), 1007, "base64"),
    (
        "dtmf digit not a string",
        True,
        json.dumps({"event": "dtmf", "streamSid": SID, "dtmf": {"track": "t", "digit": 1}}),
        1007,
        "digit",
    ),
    (
        "mark without name",
        True,
        json.dumps({"event": "mark", "streamSid": SID, "mark": {}}),
        1007,
        "name",
    ),
    ("stop without callSid", True, _without(TWILIO["stop"], "stop", "callSid"), 1007, "callSid"),
    ("start without callSid", False, _without(START_WIRE, "start", "callSid"), 1007, "callSid"),
    (
        "start with non-str parameter",
        False,
        json.dumps(with_start(START_WIRE, customParameters={"n": 1})),
        1007,
        "customParameters",
    ),
    # Deeper than the recursion limit (msgspec raises RecursionError), under the size limit.
    ("nested arrays", True, "[" * 10_000, 1007, "object"),
    (
        "nested in a skipped field",
        True,
        '{"event":"x","y":' + "[" * 10_000,
        1007,
        "nested too deeply",
    ),
    (
        "nested in start",
        False,
        '{"event":"start","start":' + '{"a":' * 10_000,
        1007,
        "nested too deeply",
    ),
    ("wrong shape, then bad JSON", True, '{"event":"media","streamSid":5, x', 1007, "invalid JSON"),
    ("unknown event, then bad JSON", False, '{"event":"nope", x', 1007, "invalid JSON"),
    ("lone surrogate", True, '{"event": "\ud800"}', 1007, "invalid JSON"),
    ("timestamp out of range", True, _bad_media(timestamp="9" * 30), 1007, "timestamp"),
    ("timestamp of 5000 digits", True, _bad_media(timestamp="9" * 5000), 1007, "timestamp"),
    ("negative chunk", True, _bad_media(chunk="-1"), 1007, "chunk"),
    (
        "sequenceNumber out of range",
        False,
        json.dumps(START_WIRE | {"sequenceNumber": "1e400"}),
        1007,
        "sequenceNumber",
    ),
    ("binary frame", True, AUDIO, 1003, "binary"),
    (
        "not mu-law",
        False,
        json.dumps(
            with_start(
                START_WIRE,
                mediaFormat={"encoding": "audio/x-l16", "sampleRate": 8000, "channels": 1},
            )
        ),
        1003,
        "unsupported media format",
    ),
    (
        "not 8 kHz",
        False,
        json.dumps(
            with_start(
                START_WIRE,
                mediaFormat={"encoding": "audio/x-mulaw", "sampleRate": 16000, "channels": 1},
            )
        ),
        1003,
        "sample_rate=16000",
    ),
    (
        "stereo",
        False,
        json.dumps(
            with_start(
                START_WIRE,
                mediaFormat={"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 2},
            )
        ),
        1003,
        "channels=2",
    ),
    ("media before start", False, json.dumps(media_wire()), 1002, "media before start"),
    (
        "dtmf before start",
        False,
        json.dumps(TWILIO["dtmf"]),
        1002,
        "dtmf before start",
    ),
    ("mark before start", False, json.dumps(TWILIO["mark"]), 1002, "mark before start"),
    ("second start", True, json.dumps(START_WIRE), 1002, "second start"),
    ("connected after start", True, json.dumps(TWILIO["connected"]), 1002, "connected after start"),
    (
        "media from another stream",
        True,
        json.dumps(media_wire() | {"streamSid": OTHER_SID}),
        1002,
        "streamSid mismatch",
    ),
    (
        "stop from another stream",
        True,
        json.dumps(TWILIO["stop"] | {"streamSid": OTHER_SID}),
        1002,
        "streamSid mismatch",
    ),
    (
        "start naming two streams",
        False,
        json.dumps(with_start(START_WIRE, streamSid=OTHER_SID)),
        1002,
        "start.streamSid",
    ),
]


@pytest.mark.parametrize(
    ("name", "after_start", "frame", "code", "fragment"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT]
)
def test_bad_input_fails_the_stream(name, after_start, frame, code, fragment):
    proto = streaming() if after_start else MediaStreamProtocol()
    with pytest.raises(RemoteProtocolError) as info:
        proto.receive(frame)
    assert info.value.close_code == code
    assert fragment in str(info.value)
    assert proto.state is StreamState.FAILED
    assert proto.events() == []
    if not after_start:  # a rejected start does not become the stream's identity
        assert (proto.start, proto.stream_sid) == (None, None)
    with pytest.raises(LocalProtocolError) as again:
        proto.receive(json.dumps(media_wire()))
    assert again.value.close_code == 1011


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("x" * 101, 1009),  # invalid JSON, but size is checked first
        (json.dumps(media_wire("A" * 200)), 1009),
        (json.dumps({"event": "é" * 40}), 1009),  # 89 characters, 129 UTF-8 bytes
        (json.dumps({"event": "é" * 10}, ensure_ascii=False), None),
    ],
    ids=["garbage", "media", "non-ascii counted in bytes", "under the limit"],
)
def test_size_limit_counts_utf8_bytes_before_parsing(frame, code):
    proto = MediaStreamProtocol(max_message_bytes=100)
    if code is None:
        assert feed(proto, frame) == [UnknownEvent("é" * 10)]
        return
    with pytest.raises(RemoteProtocolError) as info:
        proto.receive(frame)
    assert info.value.close_code == code
    assert "limit 100" in str(info.value)


def test_decode_errors_are_one_short_line():
    proto = streaming()
    with pytest.raises(RemoteProtocolError) as info:
        proto.receive(json.dumps({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": 1}}))
    message = str(info.value)
    assert "\n" not in message and len(message) <= 250


# Fragments of Twilio's grammar, so generated frames get past the first byte.
_TOKENS = [
    '{"event":',
    '"media"',
    '"start"',
    '"stop"',
    '"x"',
    ",",
    ":",
    "[",
    "]",
    "{",
    "}",
    '"streamSid":',
    f'"{SID}"',
    '"media":',
    '"payload":',
    f'"{B64}"',
    '"9999999999"',
    "-1",
    "1e400",
    "null",
    "true",
    '"\ud800"',
    '"\u0000"',
    " ",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frame=st.one_of(
        st.text(max_size=300),
        st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join),
        st.builds(lambda n, s: s * n, st.integers(900, 20_000), st.sampled_from(["[", '{"a":'])),
    ),
    after_start=st.booleans(),
)
def test_any_text_is_an_event_or_a_remote_error(frame: str, after_start: bool):
    """Fuzz: whatever Twilio (or anyone) sends, the only exception is RemoteProtocolError."""
    proto = streaming(max_message_bytes=64 * 1024) if after_start else MediaStreamProtocol()
    try:
        proto.receive(frame)
    except RemoteProtocolError as exc:
        assert exc.close_code in {1002, 1003, 1007, 1009}
        assert proto.state is StreamState.FAILED
    else:
        proto.events()


def test_error_classes_say_whose_fault_it_is():
    assert issubclass(RemoteProtocolError, ProtocolError)
    assert issubclass(LocalProtocolError, ProtocolError)
    assert RemoteProtocolError("x").close_code == 1002
    assert LocalProtocolError("x").close_code == 1011
    assert RemoteProtocolError("x", 1007).message == "x"


# -- the state machine: every (state, inbound message) pair ----------------------
C, S, X, F = StreamState.CONNECTING, StreamState.STREAMING, StreamState.STOPPED, StreamState.FAILED
IGNORED, LOCAL = "ignored", "local"
MATRIX = [
    (C, "connected", C),
    (C, "start", S),
    (C, "media", "media before start"),
    (C, "dtmf", "dtmf before start"),
    (C, "mark", "mark before start"),
    (C, "stop", X),  # Twilio may end the call before start; no stream to check
    (C, "unknown", C),
    (S, "connected", "connected after start"),
    (S, "start", "second start"),
    (S, "media", S),
    (S, "dtmf", S),
    (S, "mark", S),
    (S, "stop", X),
    (S, "unknown", S),
    *[(X, kind, IGNORED) for kind in TWILIO],
    *[(F, kind, LOCAL) for kind in TWILIO],
]


def protocol_in(state: StreamState) -> MediaStreamProtocol:
    proto = MediaStreamProtocol()
    if state is not C:
        feed(proto, START_WIRE)
    if state is X:
        feed(proto, TWILIO["stop"])
    if state is F:
        with pytest.raises(RemoteProtocolError):
            proto.receive(b"\x00")
    assert proto.state is state
    return proto


@pytest.mark.parametrize(("state", "kind", "expected"), MATRIX)
def test_transition(state, kind, expected):
    proto = protocol_in(state)
    frame = json.dumps(TWILIO[kind])
    if isinstance(expected, StreamState):
        assert len(feed(proto, frame)) == 1
        assert proto.state is expected
    elif expected == IGNORED:
        assert feed(proto, frame) == []
        assert (proto.state, proto.ignored_after_stop) == (X, 1)
    elif expected == LOCAL:
        with pytest.raises(LocalProtocolError, match="after the protocol failed"):
            proto.receive(frame)
        assert proto.state is F
    else:
        with pytest.raises(RemoteProtocolError, match=expected) as info:
            proto.receive(frame)
        assert (info.value.close_code, proto.state) == (1002, F)


def test_garbage_after_stop_is_ignored_not_fatal():
    proto = protocol_in(X)
    proto.receive("{not json")
    proto.receive(b"\x00")
    assert (proto.state, proto.ignored_after_stop, proto.events()) == (X, 2, [])


@pytest.mark.parametrize(
    ("state", "after_eof"), [(C, X), (S, X), (X, X), (F, F)], ids=lambda s: getattr(s, "name", s)
)
def test_eof_ends_the_stream_unless_failed(state, after_eof):
    proto = protocol_in(state)
    proto.receive_eof()
    assert proto.state is after_eof
    proto.receive_eof()  # idempotent: the web layer may report a close twice
    assert proto.state is after_eof


def test_a_whole_call():
    proto = MediaStreamProtocol()
    for wire in (TWILIO["connected"], START_WIRE, media_wire(), TWILIO["dtmf"]):
        proto.receive(json.dumps(wire))
    proto.send_media(AUDIO)
    proto.send_mark("turn-1:1")
    proto.receive(json.dumps(TWILIO["mark"]))
    proto.receive(json.dumps(TWILIO["stop"]))
    assert [type(e) for e in proto.events()] == [Connected, Start, Media, Dtmf, Mark, Stop]
    assert proto.events() == []  # drained
    assert [type(parse_outbound(f)) for f in proto.data_to_send()] == [OutboundMedia, OutboundMark]
    assert proto.data_to_send() == []
    assert proto.state is StreamState.STOPPED


# -- outbound: (id, call, Twilio's expected JSON, parsed struct) ---------------
OUTBOUND = [
    (
        "media",
        lambda p: p.send_media(AUDIO),
        {"event": "media", "streamSid": SID, "media": {"payload": B64}},
        OutboundMedia(SID, OutboundMediaBody(AUDIO)),
    ),
    (
        "media odd length",
        lambda p: p.send_media(b"\xff"),
        {"event": "media", "streamSid": SID, "media": {"payload": "/w=="}},
        OutboundMedia(SID, OutboundMediaBody(b"\xff")),
    ),
    (
        "mark",
        lambda p: p.send_mark("turn-3:1"),
        {"event": "mark", "streamSid": SID, "mark": {"name": "turn-3:1"}},
        OutboundMark(SID, Mark("turn-3:1")),
    ),
    (
        "clear",
        lambda p: p.send_clear(),
        {"event": "clear", "streamSid": SID},
        OutboundClear(SID),
    ),
]


@pytest.mark.parametrize(("name", "send", "wire", "parsed"), OUTBOUND, ids=[o[0] for o in OUTBOUND])
def test_outbound_messages_match_twilio_shapes(name, send, wire, parsed):
    proto = streaming()
    send(proto)
    (frame,) = proto.data_to_send()
    assert isinstance(frame, str)
    assert json.loads(frame) == wire
    assert parse_outbound(frame) == parsed
    assert parse_outbound(frame.encode()) == parsed
    assert proto.state is StreamState.STREAMING


# (id, state, call, message fragment)
SEND_MISUSE = [
    ("media before start", C, lambda p: p.send_media(AUDIO), "send_media() before start"),
    ("mark before start", C, lambda p: p.send_mark("m"), "send_mark() before start"),
    ("clear before start", C, lambda p: p.send_clear(), "send_clear() before start"),
    ("media after stop", X, lambda p: p.send_media(AUDIO), "send_media() after stop"),
    ("clear after stop", X, lambda p: p.send_clear(), "send_clear() after stop"),
    ("mark after failure", F, lambda p: p.send_mark("m"), "after the protocol failed"),
    ("empty mark name", S, lambda p: p.send_mark(""), "non-empty str"),
    ("non-str mark name", S, lambda p: p.send_mark(3), "non-empty str"),
    ("empty media", S, lambda p: p.send_media(b""), "empty payload"),
]


@pytest.mark.parametrize(
    ("name", "state", "send", "fragment"), SEND_MISUSE, ids=[m[0] for m in SEND_MISUSE]
)
def test_send_misuse_is_a_local_error_and_changes_nothing(name, state, send, fragment):
    proto = protocol_in(state)
    with pytest.raises(LocalProtocolError, match=re.escape(fragment)):
        send(proto)
    assert proto.state is state
    assert proto.data_to_send() == []


def test_send_after_eof_without_stop_is_refused():
    proto = streaming()
    proto.receive_eof()
    with pytest.raises(LocalProtocolError, match="after stop") as info:
        proto.send_media(AUDIO)
    assert info.value.close_code == 1011


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        ("{", "invalid outbound"),
        ('{"event":"stop","streamSid":"MZ"}', "Invalid value 'stop'"),
        ('{"event":"media","streamSid":"MZ","media":{}}', "payload"),
        ('{"event":"media","streamSid":"MZ","media":{"payload":"@@"}}', "base64"),
        ('{"event":"mark","mark":{"name":"m"}}', "streamSid"),
        ('{"event":"clear","streamSid":"MZ","x":' + "[" * 10_000, "nested too deeply"),
    ],
)
def test_parse_outbound_rejects_bad_app_frames(frame, fragment):
    with pytest.raises(RemoteProtocolError, match=fragment) as info:
        parse_outbound(frame)
    assert info.value.close_code == 1007


def test_per_message_logging_only_in_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="telephony.wire.protocol")
    quiet = streaming()
    feed(quiet, media_wire())
    quiet.send_media(AUDIO)
    assert caplog.records == []
    loud = streaming(debug=True)
    caplog.clear()
    feed(loud, media_wire())
    loud.send_media(AUDIO)
    assert [r.getMessage() for r in caplog.records] == [
        f"{SID} < media, state STREAMING",
        f"{SID} > media",
    ]
