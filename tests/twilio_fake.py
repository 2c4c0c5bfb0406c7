"""A fake Twilio REST API (the Calls resource) on loopback: a test double.

It answers the requests the real ``twilio`` SDK makes for call control, in
Twilio's own shapes, so the SDK talks to it unchanged:

- ``POST /2010-04-01/Accounts/{AccountSid}/Calls.json`` (form: ``To``,
  ``From``, ``Url`` or ``Twiml``, ``StatusCallback``, ``MachineDetection``,
  ...) creates a call: ``201`` with the call resource (``status: queued``,
  ``direction: outbound-api``).
- ``POST .../Calls/{CallSid}.json`` with ``Twiml``/``Url`` redirects a live
  call (a transfer), with ``Status=completed`` ends it: ``200`` with the
  resource. ``GET`` of the same path fetches it.
- HTTP basic auth is checked on every request (account SID and auth token).
- Errors use Twilio's JSON error body ``{"code", "message", "more_info",
  "status"}``: 20003 (401, bad credentials), 20404 (404, unknown call or
  path), 20004 (405, method), 21201/21213 (400, no To/From), 21211 (400,
  invalid 'To' number), 21210 (400, 'From' not a number of the account),
  21220 (400, redirecting a call that is not in progress), 21234 (400, a
  ``MachineDetection`` other than ``Enable``/``DetectMessageEnd``). Any other error,
  e.g. 20429 (429) or 20500 (500), can be scripted with :meth:`FakeTwilio.fail_next`.

Calls are kept in memory (:attr:`FakeTwilio.calls`); a live inbound call for
a transfer test is added with :meth:`FakeTwilio.add_call`. Every request is
recorded (:attr:`FakeTwilio.requests`) with its decoded form, so a test can
assert what the SDK actually sent.

Answering-machine detection: the ``MachineDetection``, ``AsyncAmd`` and
``MachineDetection*`` tuning fields of a created call are kept per call
(:attr:`FakeTwilio.machine_detection`). :meth:`FakeTwilio.answer` puts an
outbound call in progress and returns the form Twilio would POST to its
``Url``: with ``AnsweredBy`` only when synchronous detection was asked for,
and only a value that the requested mode can produce (``machine_start`` with
``Enable``, ``machine_end_*`` with ``DetectMessageEnd``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "TWILIO_NUMBER",
    "FakeTwilio",
    "RecordedRequest",
    "TwilioError",
]

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"  # test value, not a real credential
TWILIO_NUMBER = "+15550100100"  # the account's own number (From of outbound calls)
API_VERSION = "2010-04-01"
MAX_HEADER_BYTES = 64 * 1024  # far above what the SDK sends; a bound against garbage

_CALLS = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls\.json$")
_CALL = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls/(?P<sid>[^/]+)\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_NANP = re.compile(r"^\+1[2-9]\d{2}[2-9]\d{6}$")
_LIVE = {"queued", "ringing", "in-progress"}
# What synchronous detection can report in each MachineDetection mode.
_ANSWERED_BY = {
    "Enable": {"human", "machine_start", "fax", "unknown"},
    "DetectMessageEnd": {
        "human",
        "machine_end_beep",
        "machine_end_silence",
        "machine_end_other",
        "fax",
        "unknown",
    },
}


@dataclass(frozen=True)
class TwilioError:
    """One error answer in Twilio's shape."""

    status: int
    code: int
    message: str

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


TOO_MANY_REQUESTS = TwilioError(429, 20429, "Too Many Requests")
INTERNAL_ERROR = TwilioError(500, 20500, "Internal Server Error")


@dataclass
class RecordedRequest:
    """A request as the fake received it."""

    method: str
    path: str
    form: dict[str, list[str]]
    headers: dict[str, str]
    user: str = ""
    status: int = 0  # the HTTP status the fake answered

    def field(self, name: str) -> str | None:
        """The first value of form field ``name``, or ``None``."""
        values = self.form.get(name)
        return values[0] if values else None

    @property
    def call_sid(self) -> str | None:
        match = _CALL.match(self.path)
        return match["sid"] if match else None


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    keep_alive: bool = True


@dataclass
class _Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeTwilio:
    """The fake API server. Use as ``async with FakeTwilio() as twilio: ...``.

    Args:
        account_sid: The only account it knows.
        auth_token: That account's token.
        numbers: The account's phone numbers (valid ``From`` for new calls).
        calls_exist: Treat every call SID it is asked about as a live inbound
            call of the account (the softphone places calls Twilio would know
            about; a test that cannot learn the SID in advance uses this).
    """

    def __init__(
        self,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        *,
        numbers: tuple[str, ...] = (TWILIO_NUMBER,),
        calls_exist: bool = False,
    ) -> None:
        self.calls_exist = calls_exist
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers = set(numbers)
        self.calls: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        # CallSid -> the detection fields its create request carried ({} without).
        self.machine_detection: dict[str, dict[str, str]] = {}
        self._urls: dict[str, str] = {}
        self._failures: deque[TwilioError] = deque()
        self._sids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- lifecycle -------------------------------------------------------------
    async def __aenter__(self) -> FakeTwilio:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.sockets[0].getsockname()[1]

    @property
    def base_url(self) -> str:
        """Where the SDK should send requests instead of ``https://api.twilio.com``."""
        return f"http://127.0.0.1:{self.port}"

    # -- test controls ---------------------------------------------------------
    def add_call(
        self,
        *,
        from_: str = "+15551230000",
        to: str = TWILIO_NUMBER,
        status: str = "in-progress",
        direction: str = "inbound",
    ) -> str:
        """A call that already exists (e.g. an inbound call being served); its SID."""
        sid = self._new_sid()
        self.calls[sid] = self._resource(
            sid, to=to, from_=from_, status=status, direction=direction
        )
        return sid

    def answer(self, call_sid: str, answered_by: str = "human") -> dict[str, str]:
        """Answer outbound call ``call_sid``; the voice-webhook form Twilio would POST.

        The call becomes ``in-progress``. ``AnsweredBy`` is in the form only
        when the call was created with synchronous machine detection.

        Raises:
            ValueError: The call is not a queued outbound call, or the
                requested detection mode cannot produce ``answered_by``.
        """
        resource = self.calls.get(call_sid)
        if resource is None or resource["direction"] != "outbound-api":
            raise ValueError(f"{call_sid} is not an outbound call of this fake")
        if resource["status"] not in {"queued", "ringing"}:
            raise ValueError(f"{call_sid} is {resource['status']}, not ringing")
        resource["status"] = "in-progress"
        form = {
            "CallSid": call_sid,
            "AccountSid": self.account_sid,
            "From": resource["from"],
            "To": resource["to"],
            "Direction": "outbound-api",
            "CallStatus": "in-progress",
            "ApiVersion": API_VERSION,
        }
        detection = self.machine_detection.get(call_sid, {})
        mode = detection.get("MachineDetection")
        if mode is not None and detection.get("AsyncAmd", "false") == "false":
            if answered_by not in _ANSWERED_BY[mode]:
                raise ValueError(f"MachineDetection={mode} never reports {answered_by!r}")
            form["AnsweredBy"] = answered_by
            resource["answered_by"] = answered_by
        return form

    def url_of(self, call_sid: str) -> str:
        """The ``Url`` a created call fetches its TwiML from when answered."""
        return self._urls[call_sid]

    def forget(self, call_sid: str) -> None:
        """Make the call unknown: updates to it then answer 20404."""
        self.calls.pop(call_sid, None)

    def fail_next(self, error: TwilioError, times: int = 1) -> None:
        """Answer the next ``times`` authenticated requests with ``error``."""
        self._failures.extend([error] * times)

    def updates_of(self, call_sid: str) -> list[RecordedRequest]:
        """Every POST that tried to change ``call_sid``, in order."""
        return [r for r in self.requests if r.method == "POST" and r.call_sid == call_sid]

    # -- HTTP ----------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                reply = self._handle(request)
                await self._send(writer, reply, request.keep_alive)
                if not request.keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        if len(head) > MAX_HEADER_BYTES:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(length) if length else b""
        keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        return _Request(method.upper(), urlsplit(target).path, headers, body, keep_alive)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, reply: _Reply, keep_alive: bool) -> None:
        payload = json.dumps(reply.body).encode()
        reason = HTTPStatus(reply.status).phrase
        head = [
            f"HTTP/1.1 {reply.status} {reason}",
            "Content-Type: application/json; charset=utf-8",
            f"Content-Length: {len(payload)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
            *[f"{k}: {v}" for k, v in reply.headers.items()],
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
        await writer.drain()

    # -- the API -------------------------------------------------------------
    def _handle(self, request: _Request) -> _Reply:
        form = parse_qs(request.body.decode(), keep_blank_values=True)
        recorded = RecordedRequest(request.method, request.path, form, request.headers)
        self.requests.append(recorded)
        reply = self._route(request, form, recorded)
        recorded.status = reply.status
        return reply

    def _route(
        self, request: _Request, form: dict[str, list[str]], recorded: RecordedRequest
    ) -> _Reply:
        recorded.user = self._basic_user(request.headers.get("authorization", ""))
        calls, call = _CALLS.match(request.path), _CALL.match(request.path)
        account = (calls or call)["account"] if (calls or call) else None
        if recorded.user != self.account_sid or (account and account != self.account_sid):
            return self._error(
                TwilioError(401, 20003, "Authenticate"),
                {"WWW-Authenticate": 'Basic realm="Twilio API"'},
            )
        if self._failures:
            return self._error(self._failures.popleft())
        if calls and request.method == "POST":
            return self._create(form)
        if call and request.method in {"POST", "GET"}:
            resource = self.calls.get(call["sid"])
            if resource is None and self.calls_exist:
                resource = self.calls[call["sid"]] = self._resource(
                    call["sid"],
                    to=TWILIO_NUMBER,
                    from_="+15551230000",
                    status="in-progress",
                    direction="inbound",
                )
            if resource is None:
                return self._error(_not_found(request.path))
            if request.method == "GET":
                return _Reply(200, resource)
            return self._update(resource, form)
        if calls or call:
            return self._error(TwilioError(405, 20004, "Method not allowed"))
        return self._error(_not_found(request.path))

    def _basic_user(self, header: str) -> str:
        """The user name if ``header`` carries this account's credentials, else ``""``."""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return ""
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return user if password == self.auth_token else ""

    def _create(self, form: dict[str, list[str]]) -> _Reply:
        to, from_ = _first(form, "To"), _first(form, "From")
        if not to:
            return self._error(TwilioError(400, 21201, "No 'To' number is specified"))
        if not from_:
            return self._error(TwilioError(400, 21213, "No 'From' number is specified"))
        if not _E164.match(to) or (to.startswith("+1") and not _NANP.match(to)):
            return self._error(
                TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
            )
        if from_ not in self.numbers:
            return self._error(
                TwilioError(
                    400,
                    21210,
                    f"The source phone number provided, {from_}, is not yet verified for your "
                    "account. You may only make calls from phone numbers that you've verified "
                    "or purchased from Twilio.",
                )
            )
        mode = _first(form, "MachineDetection")
        if mode is not None and mode not in _ANSWERED_BY:
            return self._error(
                TwilioError(400, 21234, "Invalid Machine Detection configuration value")
            )
        sid = self._new_sid()
        resource = self._resource(
            sid, to=to, from_=from_, status="queued", direction="outbound-api"
        )
        self.calls[sid] = resource
        self._urls[sid] = _first(form, "Url") or ""
        self.machine_detection[sid] = {
            name: values[0]
            for name, values in form.items()
            if name.startswith(("MachineDetection", "AsyncAmd"))
        }
        return _Reply(201, resource)

    def _update(self, resource: dict[str, Any], form: dict[str, list[str]]) -> _Reply:
        status = _first(form, "Status")
        redirect = _first(form, "Twiml") or _first(form, "Url")
        if redirect is not None and resource["status"] not in _LIVE:
            return self._error(TwilioError(400, 21220, "Call is not in-progress. Cannot redirect."))
        if status == "completed" and resource["status"] in _LIVE:
            resource["status"] = "completed"
        elif status == "canceled" and resource["status"] in {"queued", "ringing"}:
            resource["status"] = "canceled"
        resource["date_updated"] = _now()
        return _Reply(200, resource)

    # -- helpers ---------------------------------------------------------------
    def _new_sid(self) -> str:
        return f"CA{next(self._sids):032x}"

    def _resource(self, sid: str, *, to: str, from_: str, status: str, direction: str) -> dict:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}.json"
        sub = uri.removesuffix(".json")
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": _now(),
            "date_updated": _now(),
            "direction": direction,
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": from_,
            "from_formatted": from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": "PN" + "0" * 32,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": sid,
            "start_time": None,
            "status": status,
            "subresource_uris": {
                name: f"{sub}/{name.title().replace('_', '')}.json"
                for name in ("notifications", "recordings", "payments", "events", "siprec")
            },
            "to": to,
            "to_formatted": to,
            "trunk_sid": None,
            "uri": uri,
        }

    @staticmethod
    def _error(error: TwilioError, headers: dict[str, str] | None = None) -> _Reply:
        return _Reply(error.status, error.body(), headers or {})


def _first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


def _now() -> str:
    return format_datetime(datetime.now(UTC))
