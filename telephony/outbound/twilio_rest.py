"""Call control through Twilio's REST API, with the official ``twilio`` SDK.

How it works:

- Fully async: the SDK's own :class:`~twilio.http.async_http_client.AsyncTwilioHttpClient`
  (aiohttp) and its ``*_async`` methods; no threads. The HTTP client is made
  on first use, inside the running event loop (aiohttp requires that), and
  closed by :meth:`TwilioCallControl.aclose`.
- Transfer: ``POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json``
  with ``Twiml=<Response><Dial callerId="...">target</Dial></Response>``. The
  update ends the call's ``<Connect><Stream>``; the caller is then dialled
  through to ``target``.
- Hang-up: the same update with ``Status=completed``. Twilio error 20404 (no
  such call) means the call already ended: logged at INFO, not an error.
- Outbound: ``POST .../Calls.json`` with ``To``, ``From``, ``Url`` and
  ``StatusCallback`` (:meth:`TwilioCallControl.place_call`); with answering-
  machine detection also ``MachineDetection``, ``AsyncAmd=false`` (Twilio
  then puts ``AnsweredBy`` in the form it POSTs to ``Url``) and
  ``MachineDetectionTimeout``.
- Failures become :class:`~telephony.speech.base.ProviderError` naming
  Twilio's error code and HTTP status; 429, 5xx, timeouts and network errors
  are ``retryable``. A 429 (Twilio's calls-per-second limit: nothing was
  done) is retried once before giving up; a 5xx is not retried here, since
  Twilio may have acted on the request.
- ``base_url`` sends every request to another origin, path kept. The SDK's
  client is wrapped in a small ``HttpClient`` (the SDK's documented extension
  point for custom transports) that swaps the origin and sends basic auth as
  a header. Tests point it at the loopback fake in ``tests/twilio_fake.py``.
- One event loop per instance: aiohttp binds its session to the loop that
  made it.

The auth token is never logged and never shown by ``repr``; the SDK's own
request log (URL and headers, without ``Authorization``) goes to DEBUG on
``dialgraph.twilio.http``. Phone numbers in Twilio's error messages are
masked to their last two digits.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http import AsyncHttpClient
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from telephony.speech.base import ProviderError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TWILIO_API_URL",
    "TwilioCallControl",
    "mask_numbers",
    "transfer_twiml",
]

logger = logging.getLogger("dialgraph.twilio")

PROVIDER = "twilio"
TWILIO_API_URL = "https://api.twilio.com"
DEFAULT_TIMEOUT_S = 10.0  # a transfer slower than this leaves the caller in silence
RATE_LIMIT_RETRIES = 1  # a 429 means "not done, slow down": safe to repeat once
RATE_LIMIT_DELAY_S = 1.0  # Twilio's call limits are per second
CALL_NOT_FOUND = 20404  # Twilio: "The requested resource ... was not found"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
# Digit runs with the usual separators, not inside a SID or a URL path: the
# phone numbers Twilio quotes in its error messages.
_NUMBER_LIKE = re.compile(r"(?<![\w/])\+?\d[\d\s().-]{5,}\d(?![\w/])")

T = TypeVar("T")


def mask_numbers(text: str) -> str:
    """``text`` with every phone-number-like digit run cut to its last two digits."""
    return _NUMBER_LIKE.sub(lambda m: "+..." + re.sub(r"\D", "", m.group())[-2:], text)


def transfer_twiml(target: str, caller_id: str = "") -> str:
    """TwiML that dials ``target``, showing ``caller_id`` if it is an E.164 number.

    Raises:
        ValueError: ``target`` is not an E.164 number.
    """
    if not _E164.match(target):
        raise ValueError(f"transfer target must be an E.164 number, got {mask_numbers(target)!r}")
    response = VoiceResponse()
    if caller_id and _E164.match(caller_id):
        response.dial(target, caller_id=caller_id)
    else:
        # Withheld or non-E.164 caller ("anonymous", "client:..."): Twilio then
        # shows the call's own caller ID, which it accepts for a <Dial>.
        response.dial(target)
    xml: str = response.to_xml(xml_declaration=False)  # twilio is untyped
    return xml


class _SdkTransport(AsyncHttpClient):  # type: ignore[misc]  # twilio ships no types
    """Wraps the SDK's async HTTP client: optional new origin, auth as a header.

    - With ``base_url``, scheme and host of the SDK's URL
      (``https://api.twilio.com``, or an edge/region host) are replaced; the
      path and query are kept, after any path prefix of ``base_url``.
    - Basic auth travels as an ``Authorization`` header built here: the SDK
      would hand aiohttp a ``BasicAuth`` object, deprecated since aiohttp 3.14.
      The SDK's request log skips that header.
    """

    def __init__(self, inner: AsyncHttpClient, base_url: str = "") -> None:
        super().__init__(inner.logger, True, inner.timeout)
        self.inner = inner
        self._origin = _origin(base_url) if base_url else None

    # The SDK's HttpClient.request signature, positional parameters included.
    async def request(  # noqa: PLR0917
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (part of the SDK's interface)
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        if self._origin is not None:
            scheme, netloc, prefix = self._origin
            parts = urlsplit(uri)
            uri = urlunsplit((scheme, netloc, prefix + parts.path, parts.query, ""))
        headers = dict(headers or {})
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        return await self.inner.request(
            method,
            uri,
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )

    async def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            await close()


def _origin(base_url: str) -> tuple[str, str, str]:
    """``(scheme, host[:port], path prefix)`` of an http(s) base URL."""
    parts = urlsplit(base_url.rstrip("/"))
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query:
        raise ValueError(f"base_url must be an http(s) URL without a query, got {base_url!r}")
    return parts.scheme, parts.netloc, parts.path


class TwilioCallControl:
    """Moves, ends and places calls with Twilio's REST API (implements ``CallControl``).

    Args:
        account_sid: The account (``AC...``) the calls belong to.
        auth_token: Its auth token (used for HTTP basic auth; never logged).
        http_client: An async SDK HTTP client to use instead of the default
            ``AsyncTwilioHttpClient`` (it must have ``is_async`` set). Closed
            by :meth:`aclose` only if this object created it.
        base_url: Send requests here instead of ``https://api.twilio.com``
            (e.g. ``http://127.0.0.1:8099`` for a local fake). Empty: Twilio.
        timeout: Seconds one REST request may take before it fails as a
            retryable :class:`ProviderError`.
        rate_limit_retries: How many times a 429 is retried.
        retry_delay: Seconds to wait before such a retry.

    Raises:
        ValueError: The account SID or auth token is empty, or ``base_url``
            is not an http(s) URL.
    """

    name = PROVIDER

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        http_client: AsyncHttpClient | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        rate_limit_retries: int = RATE_LIMIT_RETRIES,
        retry_delay: float = RATE_LIMIT_DELAY_S,
    ) -> None:
        # The SDK falls back to TWILIO_* environment variables for empty
        # credentials; refusing here keeps the configuration explicit.
        if not account_sid or not auth_token:
            raise ValueError("TwilioCallControl needs an account SID and an auth token")
        if http_client is not None and not http_client.is_async:
            raise ValueError("http_client must be an async twilio HttpClient (is_async=True)")
        if base_url:
            _origin(base_url)  # fail at start-up, not on the first transfer
        self.account_sid = account_sid
        self._auth_token = auth_token
        self._given_http = http_client
        self._base_url = (base_url or "").rstrip("/")
        self._timeout = timeout
        self._retries = rate_limit_retries
        self._retry_delay = retry_delay
        self._client: Client | None = None
        self._http: _SdkTransport | None = None

    def __repr__(self) -> str:
        where = self._base_url or TWILIO_API_URL
        return f"TwilioCallControl(account_sid={self.account_sid!r}, api={where!r})"

    # -- CallControl ---------------------------------------------------------
    async def transfer(self, call_sid: str, target: str, *, caller_id: str = "") -> None:
        """Move the live call to ``target`` with ``<Dial>`` (cold transfer).

        ``caller_id`` (the caller's own number, for an inbound call) is shown
        to the person answering when it is an E.164 number.

        Raises:
            ProviderError: Twilio refused (including 20404: the call is gone,
                so nobody was transferred), timed out or was unreachable; or
                ``target`` is not an E.164 number.
        """
        try:
            twiml = transfer_twiml(target, caller_id)
        except ValueError as exc:
            raise ProviderError(PROVIDER, str(exc)) from None
        client = self._sdk()
        await self._call(
            f"transfer of call {call_sid}",
            lambda: client.calls(call_sid).update_async(twiml=twiml),
        )
        logger.info("call %s: transferred to %s", call_sid, mask_numbers(target))

    async def hangup(self, call_sid: str) -> None:
        """End the call (``Status=completed``); a call that already ended is fine.

        Raises:
            ProviderError: Twilio refused (other than 20404), timed out or was
                unreachable.
        """
        client = self._sdk()
        try:
            await self._call(
                f"hang-up of call {call_sid}",
                lambda: client.calls(call_sid).update_async(status="completed"),
                tolerate=(CALL_NOT_FOUND,),
            )
        except _AlreadyEnded:
            logger.info(
                "call %s: already ended (Twilio %d); nothing to hang up", call_sid, CALL_NOT_FOUND
            )
            return
        logger.info("call %s: hung up", call_sid)

    # -- outbound ------------------------------------------------------------
    async def place_call(
        self,
        to: str,
        from_: str,
        url: str,
        status_callback: str,
        *,
        machine_detection: str | None = None,
        machine_detection_timeout: int | None = None,
    ) -> str:
        """Create an outbound call; Twilio fetches ``url`` when it is answered.

        Args:
            to: The callee, E.164.
            from_: A number of this account (or a verified caller ID), E.164.
            url: The voice webhook Twilio POSTs once the call is answered.
            status_callback: Where Twilio POSTs the call's final status.
            machine_detection: ``"Enable"`` or ``"DetectMessageEnd"`` to have
                Twilio report ``AnsweredBy`` to the webhook (synchronously:
                ``url`` is fetched once detection has decided); ``None``: off.
            machine_detection_timeout: Seconds detection may take before
                Twilio answers ``unknown`` (Twilio's default: 30). Only sent
                with ``machine_detection``.

        Returns:
            The new call's SID (``CA...``).

        Raises:
            ProviderError: Twilio refused the call (e.g. 21211 invalid 'To'
                number), timed out or was unreachable.
        """
        client = self._sdk()
        kwargs: dict[str, Any] = {
            "to": to,
            "from_": from_,
            "url": url,
            "status_callback": status_callback,
        }
        if machine_detection:
            kwargs["machine_detection"] = machine_detection
            kwargs["async_amd"] = "false"  # AnsweredBy arrives with the voice webhook
            if machine_detection_timeout is not None:
                kwargs["machine_detection_timeout"] = machine_detection_timeout
        call = await self._call(
            f"outbound call to {mask_numbers(to)}", lambda: client.calls.create_async(**kwargs)
        )
        sid = str(call.sid or "")
        if not _SID.match(sid):
            raise ProviderError(
                PROVIDER, f"outbound call: Twilio answered without a call SID ({sid!r})"
            )
        logger.info("call %s: placed to %s (status %s)", sid, mask_numbers(to), call.status)
        return sid

    async def prepare(self) -> None:
        """Build the SDK client and load its Calls resource now, off the event loop.

        The SDK imports its REST modules on first use (~0.4-0.7 s of import
        work). Done lazily, that stalls every live call's audio on the first
        transfer or hang-up of the process; done here, at start-up, it costs
        nothing during a call.
        """
        client = self._sdk()
        await asyncio.to_thread(lambda: client.calls)

    async def aclose(self) -> None:
        """Close the HTTP client this object created (safe to call twice)."""
        http, self._http, self._client = self._http, None, None
        if http is None:
            return
        if http.inner is not self._given_http:  # a client passed in is the caller's to close
            await http.close()

    async def __aenter__(self) -> TwilioCallControl:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- internals -----------------------------------------------------------
    def _sdk(self) -> Client:
        """The SDK client, made on first use (aiohttp needs a running loop)."""
        if self._client is None:
            inner: AsyncHttpClient = self._given_http or AsyncTwilioHttpClient(
                logger=_QuietLogger(logging.getLogger("dialgraph.twilio.http"))
            )
            rebase = self._base_url if self._base_url != TWILIO_API_URL else ""
            http = _SdkTransport(inner, rebase)
            self._http = http
            self._client = Client(
                self.account_sid, self._auth_token, self.account_sid, http_client=http
            )
        return self._client

    async def _call(
        self,
        what: str,
        request: Callable[[], Awaitable[T]],
        *,
        tolerate: tuple[int, ...] = (),
    ) -> T:
        """Run one SDK request with the timeout, the 429 retry and error mapping."""
        attempt = 0
        while True:
            try:
                async with asyncio.timeout(self._timeout):
                    return await request()
            except TwilioException as exc:
                code = getattr(exc, "code", None)
                status = int(getattr(exc, "status", 0) or 0)
                if code in tolerate:
                    raise _AlreadyEnded from None
                if status == 429 and attempt < self._retries:
                    attempt += 1
                    logger.warning(
                        "%s: Twilio rate limit (429); retrying in %.1f s", what, self._retry_delay
                    )
                    await asyncio.sleep(self._retry_delay)
                    continue
                raise ProviderError(
                    PROVIDER, f"{what} failed: {_describe(exc)}", retryable=_retryable(status)
                ) from None
            except TimeoutError:
                raise ProviderError(
                    PROVIDER,
                    f"{what} failed: no answer from Twilio in {self._timeout:g} s",
                    retryable=True,
                ) from None
            except (aiohttp.ClientError, OSError) as exc:
                raise ProviderError(
                    PROVIDER,
                    f"{what} failed: cannot reach Twilio ({type(exc).__name__}: {exc})",
                    retryable=True,
                ) from None


class _QuietLogger(logging.LoggerAdapter[logging.Logger]):
    """The SDK logs ~10 INFO lines per request (URL, headers; never the auth
    header or body): useful only when debugging, so they go to DEBUG."""

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)


class _AlreadyEnded(Exception):
    """Internal: Twilio answered with a tolerated 'no such call' code."""


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _describe(exc: TwilioException) -> str:
    """``Twilio error 21211 (HTTP 400): The 'To' number +...12 is not valid``."""
    code = getattr(exc, "code", None)
    status = getattr(exc, "status", None)
    message = str(
        getattr(exc, "msg", "") or getattr(exc, "detail", "") or getattr(exc, "title", "")
    )
    # The SDK prefixes "Unable to update record: " etc.; keep Twilio's own words.
    if message.startswith("Unable to ") and ": " in message:
        message = message.split(": ", 1)[1]
    text = f"Twilio error {code} (HTTP {status})"
    if message:
        text += f": {mask_numbers(message)}"
    if status == 401:
        text += " (credentials refused: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)"
    elif code == CALL_NOT_FOUND:
        text += " (the call is not live: it ended, or the SID is wrong)"
    return text
