"""Fuzzing a real ``dialgraph serve`` over Twilio's frame and request grammar.

Issue 12 ("Show"): a fuzz test in CI over the frame and request grammar,
asserting that no traceback is logged, the server stays healthy, and other
calls are unaffected.

The server is the real CLI in its own process (uvicorn, Litestar, the whole
service; the echo graph with Piper, no recogniser). Hypothesis draws:

- media-stream sessions: a signature header (valid, wrong, missing,
  non-ASCII), then Twilio's messages (``connected``, ``start``, ``media``,
  ``dtmf``, ``mark``, ``stop``, unknown events), each valid or with fields
  removed or replaced by wrong types, huge numbers, long or non-ASCII
  strings and bad base64; a ``start`` carries a token the voice webhook
  really issued for it, or a forged one (random, huge expiry, non-ASCII,
  another call's). Frames go out as JSON text, binary, text that is not
  UTF-8, deeply nested JSON, garbage or more than the size limit.
- HTTP requests to the voice webhook and the status callback: forms with
  Twilio's fields wrong, missing or odd, query strings, bodies that are not
  forms or not UTF-8, and signatures valid, wrong, missing or non-ASCII.

Oracles, checked after every example so Hypothesis shrinks to the input that
broke one: the process is alive, no ``Traceback`` appeared in its log, no
socket closed with 1011 (internal error), no request got a 5xx. Meanwhile
a legitimate call after another runs alongside on a thread: each must hear
its whole greeting (audio, then the greeting's marks) and end with 1000. At
the end ``/healthz`` must still answer (within its client timeout).

The example counts are fixed and the run is derandomized, so CI repeats the
same inputs; about a minute on two cores.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.processes import Server, free_port, server_env, spawn, stop, tail

AUTH_TOKEN = "fuzz-auth-token"
SETTINGS = {
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "DIALGRAPH_GRAPH": "graphs.echo:graph",  # greets, no model: the cheapest whole call
    "DIALGRAPH_STT": "none",
    "DIALGRAPH_CALLS_PER_HOUR": "0",  # hundreds of calls in a minute are the point here
    "DIALGRAPH_CONCURRENT_PER_CALLER": "0",
}
START_TIMEOUT_S = 90.0
STREAM_EXAMPLES = 120
REQUEST_EXAMPLES = 120
READ_S = 0.3  # after its frames, how long an example listens for the server's answer
GREETING_QUIET_S = 2.0  # a greeting is over when its last mark came and then nothing
ACCOUNT = "AC" + "0" * 32
CLOSE_INTERNAL = 1011
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


# --- the server -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    log = directory / "server.log"
    process = spawn(
        [sys.executable, "-m", "telephony.cli", "serve"],
        cwd=directory,
        env=server_env(directory, port, SETTINGS),
        log_path=log,
    )
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"dialgraph serve exited ({process.returncode}):\n{tail(log)}")
            if time.monotonic() - started > START_TIMEOUT_S:
                pytest.fail(f"dialgraph serve not up in time:\n{tail(log)}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        yield Server(process, log, base)
    finally:
        stop(process)


class _Log:
    """The server log, read on from where the last example stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size

    def new(self) -> str:
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        self.offset += len(data)
        return data.decode("utf-8", "replace")


def _signed(url: str, params: dict[str, str]) -> str:
    return RequestValidator(AUTH_TOKEN).compute_signature(url, params)


def _ws_url(server: Server) -> str:
    return server.base.replace("http", "ws") + "/twilio/media"


def _call_form(call_sid: str, caller: str) -> dict[str, str]:
    return {
        "CallSid": call_sid,
        "AccountSid": ACCOUNT,
        "From": caller,
        "To": "+15550100000",
        "Direction": "inbound",
        "CallStatus": "ringing",
    }


def _ring(http: httpx.Client, server: Server, call_sid: str, caller: str) -> dict[str, str]:
    """The voice webhook, signed: the ``<Parameter>``s it put in the TwiML (token included)."""
    url = f"{server.base}/twilio/voice"
    form = _call_form(call_sid, caller)
    response = http.post(url, data=form, headers={"X-Twilio-Signature": _signed(url, form)})
    assert response.status_code == 200, response.text
    found = re.findall(r'<Parameter name="([^"]*)" value="([^"]*)"', response.text)
    return {html.unescape(name): html.unescape(value) for name, value in found}


def _hang_up(http: httpx.Client, server: Server, call_sid: str, caller: str) -> None:
    url = f"{server.base}/twilio/status"
    form = {**_call_form(call_sid, caller), "CallStatus": "completed", "CallDuration": "1"}
    http.post(url, data=form, headers={"X-Twilio-Signature": _signed(url, form)})


def _caller() -> str:
    return f"+1555{uuid.uuid4().int % 10**7:07d}"


# --- Twilio's messages ------------------------------------------------------------------


def _start(call_sid: str, stream_sid: str, params: dict[str, str]) -> dict[str, Any]:
    return {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": stream_sid,
        "start": {
            "accountSid": ACCOUNT,
            "streamSid": stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": params,
        },
    }


def _media(stream_sid: str, n: int, payload: str | None = None) -> dict[str, Any]:
    return {
        "event": "media",
        "sequenceNumber": str(n + 2),
        "streamSid": stream_sid,
        "media": {
            "track": "inbound",
            "chunk": str(n + 1),
            "timestamp": str(n * 20),
            "payload": payload or base64.b64encode(b"\xff" * 160).decode(),
        },
    }


def _message(kind: str, stream_sid: str, call_sid: str, n: int) -> dict[str, Any]:
    """A valid message of ``kind`` (after ``start``) in stream ``stream_sid``."""
    head = {"event": kind, "sequenceNumber": str(n + 2), "streamSid": stream_sid}
    if kind == "media":
        return _media(stream_sid, n)
    if kind == "dtmf":
        return {**head, "dtmf": {"track": "inbound_track", "digit": "1"}}
    if kind == "mark":
        return {**head, "mark": {"name": "turn-1:1"}}
    if kind == "stop":
        return {**head, "stop": {"accountSid": ACCOUNT, "callSid": call_sid}}
    if kind == "connected":
        return {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    return {**head, kind: {}}  # an event Twilio may add one day


HUGE_TEXT = "x" * 70_000
WEIRD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.just(10**400),  # json.dumps writes it; no 64-bit integer holds it
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.text(st.characters(codec="utf-8", min_codepoint=0x80), min_size=1, max_size=6),
    st.just(HUGE_TEXT),
    st.just("!!not base64=="),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    if not isinstance(value, dict):
        return []
    found = []
    for key, inner in value.items():
        found.append((*prefix, key))
        found += _paths(inner, (*prefix, key))
    return found


@st.composite
def _mutated(draw: st.DrawFn, message: dict[str, Any]) -> dict[str, Any]:
    """``message`` with a few fields removed or replaced (or unchanged)."""
    message = json.loads(json.dumps(message))
    paths = _paths(message)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(paths))
        parent = message
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(WEIRD)
    return message


@dataclass(frozen=True)
class Frame:
    """One WebSocket frame: text (``str``), binary (``bytes``) or text bytes not UTF-8."""

    data: str | bytes
    text_bytes: bool = False

    def send(self, ws: ClientConnection) -> None:
        if self.text_bytes:
            ws.send(self.data, text=True)  # the frame says text; the bytes are not UTF-8
        else:
            ws.send(self.data)


@st.composite
def _frame(draw: st.DrawFn, message: dict[str, Any]) -> Frame:
    """``message`` as a frame, mostly as Twilio sends it, sometimes broken on the wire."""
    how = draw(
        st.sampled_from(
            ["json"] * 6 + ["binary", "not_utf8", "nested", "garbage", "oversized", "escapes"]
        )
    )
    text = json.dumps(message)
    if how == "binary":
        return Frame(draw(st.sampled_from([text.encode(), draw(st.binary(max_size=64))])))
    if how == "not_utf8":
        return Frame(
            text.encode()[:20] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"])),
            True,
        )
    if how == "nested":
        depth = draw(st.sampled_from([64, 1_000, 20_000]))
        bracket = draw(st.sampled_from(["[", '{"a":']))
        close = "]" if bracket == "[" else "}"
        return Frame(f'{text[:-1]}, "extra": {bracket * depth}1{close * depth}}}')
    if how == "garbage":
        return Frame(draw(st.text(max_size=40)))
    if how == "oversized":
        return Frame(json.dumps({**message, "pad": HUGE_TEXT}))
    if how == "escapes":  # a lone surrogate, as an escape (valid JSON text)
        return Frame(text.replace('"1"', '"\\ud800"', 1) if '"1"' in text else text + "\\ud800")
    return Frame(text)


TOKEN_FORGERIES = st.one_of(
    st.text(max_size=30),
    st.just("v2." + "9" * 400 + ".AAAA"),  # an expiry no clock reaches
    st.just("v2.1796298318.\u00e9\u00e9\u00e9"),  # non-ASCII MAC
    st.just("v1.1.1.1.1"),
    st.just(""),
)


def _sessions() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "signature": st.sampled_from(["valid"] * 6 + ["wrong", "missing", "non_ascii"]),
            "connected": st.sampled_from(["valid", "valid", "mutated", "none"]),
            "start": st.sampled_from(
                ["valid"] * 4 + ["forged", "mutated", "other_call", "params", "none"]
            ),
            "token": TOKEN_FORGERIES,
            "later": st.lists(
                st.tuples(
                    st.sampled_from(
                        ["media", "media", "dtmf", "mark", "stop", "start", "connected", "hello"]
                    ),
                    st.sampled_from([False, False, True]),  # mutate it?
                ),
                max_size=6,
            ),
            "data": st.data(),
        }
    )


# --- the legitimate calls alongside ----------------------------------------------------


class LegitimateCalls:
    """Places one ordinary call after another on a thread until stopped; records each."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.results: list[str] = []  # "ok" or what went wrong
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LegitimateCalls:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self._stop.is_set():
                try:
                    self.results.append(self._call(http))
                except Exception as exc:  # recorded, asserted on at the end
                    self.results.append(f"{type(exc).__name__}: {exc}")

    def _call(self, http: httpx.Client) -> str:
        call_sid, stream_sid, caller = "CA" + uuid.uuid4().hex, "MZ" + uuid.uuid4().hex, _caller()
        params = _ring(http, self.server, call_sid, caller)
        url = _ws_url(self.server)
        headers = {"X-Twilio-Signature": _signed(url, {})}
        media = marks = 0
        with connect(url, additional_headers=headers, open_timeout=10, proxy=None) as ws:
            ws.send(json.dumps(_message("connected", stream_sid, call_sid, 0)))
            ws.send(json.dumps(_start(call_sid, stream_sid, params)))
            while True:
                try:
                    event = json.loads(ws.recv(timeout=GREETING_QUIET_S if marks else 20))
                except TimeoutError:
                    break
                if event["event"] == "media":
                    media += 1
                elif event["event"] == "mark":
                    marks += 1
                    ws.send(json.dumps(event))  # Twilio echoes a mark once it was played
            ws.send(json.dumps(_message("stop", stream_sid, call_sid, 1)))
            with contextlib.suppress(ConnectionClosed):
                ws.recv(timeout=10)
            code = ws.close_code
        _hang_up(http, self.server, call_sid, caller)
        if media < 50 or marks < 1 or code != 1000:
            return f"greeting cut: {media} frames, {marks} marks, close {code}"
        return "ok"


# --- the test ----------------------------------------------------------------------------


def _send_session(server: Server, http: httpx.Client, drawn: dict[str, Any]) -> int | None:
    """Play one drawn session against the server; return the close code it got (if any)."""
    data = drawn["data"]
    call_sid, stream_sid, caller = "CA" + uuid.uuid4().hex, "MZ" + uuid.uuid4().hex, _caller()
    url = _ws_url(server)
    headers = {
        "valid": {"X-Twilio-Signature": _signed(url, {})},
        "wrong": {"X-Twilio-Signature": _signed(url + "x", {})},
        "missing": {},
        "non_ascii": {"X-Twilio-Signature": "\u00e9t\u00e9=".encode().decode("latin-1")},
    }[drawn["signature"]]
    frames: list[Frame] = []
    if drawn["connected"] != "none":
        connected = _message("connected", stream_sid, call_sid, 0)
        if drawn["connected"] == "mutated":
            connected = data.draw(_mutated(connected))
        frames.append(data.draw(_frame(connected)))
    rang = False
    if drawn["start"] != "none":
        params = {"caller": caller, "token": drawn["token"]}
        if drawn["start"] in ("valid", "mutated", "params", "other_call"):
            params = _ring(http, server, call_sid, caller)
            rang = True
        sid = "CA" + uuid.uuid4().hex if drawn["start"] == "other_call" else call_sid
        if drawn["start"] == "params":  # a parameter the token was not issued over
            params = {**params, "caller": _caller()}
        start = _start(sid, stream_sid, params)
        if drawn["start"] == "mutated":
            start = data.draw(_mutated(start))
        frames.append(
            Frame(json.dumps(start)) if drawn["start"] == "valid" else data.draw(_frame(start))
        )
    for n, (kind, mutate) in enumerate(drawn["later"]):
        message = _message(kind, stream_sid, call_sid, n)
        if mutate:
            message = data.draw(_mutated(message))
        frames.append(data.draw(_frame(message)) if mutate else Frame(json.dumps(message)))
    code = None
    try:
        with connect(
            url, additional_headers=headers, open_timeout=5, max_size=None, proxy=None
        ) as ws:
            try:
                for frame in frames:
                    frame.send(ws)
                deadline = time.monotonic() + READ_S
                while (left := deadline - time.monotonic()) > 0:
                    ws.recv(timeout=left)
            except (ConnectionClosed, TimeoutError):
                pass
            code = ws.close_code
    except (InvalidStatus, InvalidHandshake, OSError):
        pass  # refused before the upgrade: fine
    if rang:
        _hang_up(http, server, call_sid, caller)
    return code


FORM_FIELDS = [
    "CallSid",
    "AccountSid",
    "From",
    "To",
    "Direction",
    "CallStatus",
    "AnsweredBy",
    "CallDuration",
    "ErrorCode",
    "SequenceNumber",
]
FORM_VALUES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["CA" + "1" * 32, "anonymous", "+266696687", "", "completed", "machine_start"]),
    st.integers(-(2**70), 2**70).map(str),
    st.just("x" * 20_000),
)


@st.composite
def _requests(draw: st.DrawFn) -> dict[str, Any]:
    form = _call_form("CA" + uuid.UUID(int=draw(st.integers(0, 2**128 - 1))).hex, "+15550001111")
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(FORM_FIELDS) | st.text(max_size=8))
        if draw(st.booleans()) and name in form:
            del form[name]
        else:
            form[name] = draw(FORM_VALUES)
    return {
        "path": draw(st.sampled_from(["/twilio/voice", "/twilio/status"])),
        "query": draw(st.sampled_from(["", "?a=1", "?%ff=%fe", "?" + "q=" * 200, "?x=\u00e9"])),
        "form": form,
        "body": draw(
            st.sampled_from(["form", "form", "form", "not_utf8", "json", "empty", "binary"])
        ),
        "signature": draw(st.sampled_from(["valid"] * 3 + ["wrong", "missing", "non_ascii"])),
        "raw": draw(st.binary(max_size=64)),
    }


def _send_request(server: Server, http: httpx.Client, drawn: dict[str, Any]) -> int:
    url = f"{server.base}{drawn['path']}{drawn['query']}"
    form: dict[str, str] = drawn["form"]
    headers = {
        "valid": {"X-Twilio-Signature": _signed(url, form)},
        "wrong": {"X-Twilio-Signature": _signed(url, {})},
        "missing": {},
        "non_ascii": {"X-Twilio-Signature": "\u00e9t\u00e9=".encode()},
    }[drawn["signature"]]
    body = drawn["body"]
    if body == "form":
        response = http.post(url, data=form, headers=headers)
    else:
        content = {
            "not_utf8": b"CallSid=\xff\xfe&From=%ff",
            "json": json.dumps(form).encode(),
            "empty": b"",
            "binary": drawn["raw"],
        }[body]
        kind = "application/json" if body == "json" else "application/x-www-form-urlencoded"
        response = http.post(url, content=content, headers={**headers, "content-type": kind})
    for header in response.headers.get_list("set-cookie"):
        assert AUTH_TOKEN not in header
    return response.status_code


def test_fuzzed_frames_and_requests_leave_the_server_healthy(server: Server) -> None:
    log = _Log(server.log)

    def check(what: str) -> None:
        assert server.process.poll() is None, f"the server died on {what}:\n{tail(server.log)}"
        new = log.new()
        assert "Traceback" not in new, f"a traceback on {what}:\n{new[-3000:]}"

    with httpx.Client(timeout=10) as http, LegitimateCalls(server) as legitimate:

        @settings(FUZZ, max_examples=STREAM_EXAMPLES)
        @given(drawn=_sessions())
        def fuzz_streams(drawn: dict[str, Any]) -> None:
            code = _send_session(server, http, drawn)
            check("a media stream")
            assert code != CLOSE_INTERNAL, "a stream closed with 1011 (internal error)"

        @settings(FUZZ, max_examples=REQUEST_EXAMPLES)
        @given(drawn=_requests())
        def fuzz_requests(drawn: dict[str, Any]) -> None:
            status = _send_request(server, http, drawn)
            check(f"{drawn['path']}")
            assert status < 500, f"{drawn['path']} answered {status}"

        fuzz_streams()
        fuzz_requests()
        health = http.get(f"{server.base}/healthz", timeout=2)  # a slow answer fails here
        assert health.status_code == 200

    assert legitimate.results, "no legitimate call finished alongside the fuzzing"
    assert set(legitimate.results) == {"ok"}, legitimate.results
    check("the end")
