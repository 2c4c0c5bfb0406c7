"""The URL Twilio requested, and Twilio's request signature over it.

Twilio signs the full URL it requested (scheme, host, port, path, query) plus
the sorted POST fields, with HMAC-SHA1 keyed by the auth token. Behind a proxy
or tunnel the server sees another URL than Twilio did, so the public one is
rebuilt here, in this order:

1. ``settings.public_url`` (what the operator told Twilio), plus the path
   below the app's root and the query string;
2. else ``X-Forwarded-Proto`` / ``X-Forwarded-Host``, only when
   ``settings.trust_forwarded`` (anyone can send these headers);
3. else the request's own scheme and ``Host``.

The media WebSocket handshake is signed over its ``wss://`` (or ``ws://``) URL
with no parameters, so the same rebuild maps the scheme for WebSocket scopes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from twilio.request_validator import SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER, RequestValidator

from telephony.settings import Settings

__all__ = [
    "MEDIA_PATH",
    "SignatureError",
    "public_request_url",
    "stream_url",
    "verify_signature",
]

MEDIA_PATH = "/twilio/media"  # must match Settings.stream_url

_WS_SCHEME = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
_HTTP_SCHEME = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
# host, host:port, [v6]:port -- a forwarded host that is anything else is ignored
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


class SignatureError(Exception):
    """A request's ``X-Twilio-Signature`` was refused.

    The message says why (missing, invalid, unverifiable) and which URL the
    check used; it holds no secret and no phone number, so it can be logged.

    Attributes:
        reason: Short reason for the peer (HTTP body or WebSocket close reason).
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def _first(value: str | None) -> str:
    """The first entry of a comma-separated forwarded header: the client-facing proxy's."""
    return (value or "").split(",", 1)[0].strip()


def _is_websocket(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    return connection.scope["type"] == ScopeType.WEBSOCKET


def _app_path(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The path below the app's mount point (``root_path``), e.g. ``/twilio/voice``."""
    path: str = connection.scope["path"]
    root: str = connection.scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def _origin_and_root(
    connection: ASGIConnection[Any, Any, Any, Any], settings: Settings
) -> tuple[str, str, str]:
    """Scheme, host and root path Twilio used (no trailing slash on the root)."""
    websocket = _is_websocket(connection)
    schemes = _WS_SCHEME if websocket else _HTTP_SCHEME
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        return schemes[parts.scheme], parts.netloc, parts.path.rstrip("/")
    scheme = schemes.get(connection.scope.get("scheme", ""), "ws" if websocket else "http")
    host = connection.headers.get("host", "")
    if not host and (server := connection.scope.get("server")):
        host = f"{server[0]}:{server[1]}"
    if settings.trust_forwarded:
        scheme = schemes.get(_first(connection.headers.get("x-forwarded-proto")).lower(), scheme)
        forwarded_host = _first(connection.headers.get("x-forwarded-host"))
        if _HOST.match(forwarded_host):
            host = forwarded_host
    return scheme, host, connection.scope.get("root_path", "").rstrip("/")


def public_request_url(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> str:
    """The full URL Twilio requested for ``connection``, query string included.

    Args:
        connection: The HTTP request or WebSocket handshake.
        settings: ``public_url`` and ``trust_forwarded`` decide how the URL is rebuilt.

    Returns:
        ``https://...`` / ``http://...`` for HTTP, ``wss://...`` / ``ws://...`` for
        WebSockets, exactly as Twilio signed it.
    """
    scheme, host, root = _origin_and_root(connection, settings)
    url = f"{scheme}://{host}{root}{_app_path(connection)}"
    query: bytes = connection.scope.get("query_string", b"")
    return f"{url}?{query.decode('latin-1')}" if query else url


def stream_url(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> str:
    """The media-stream URL to put in the TwiML answering ``connection``.

    ``settings.stream_url`` when a public URL is configured, else derived from
    the webhook request the same way signatures are (``https`` -> ``wss``,
    ``http`` -> ``ws``).
    """
    if settings.stream_url:
        return settings.stream_url
    scheme, host, root = _origin_and_root(connection, settings)
    return f"{_WS_SCHEME[scheme]}://{host}{root}{MEDIA_PATH}"


def _describe(url: str) -> str:
    """The URL without its query string: enough to debug a proxy setup, nothing personal."""
    return url.split("?", 1)[0]


def verify_signature(
    connection: ASGIConnection[Any, Any, Any, Any],
    settings: Settings,
    params: Mapping[str, Any] | None = None,
) -> None:
    """Check ``X-Twilio-Signature`` on ``connection``; no-op without an auth token.

    Args:
        connection: The webhook request or the media WebSocket handshake.
        settings: Supplies the auth token and how to rebuild the public URL.
        params: The POST form fields (a multi-dict is fine); ``None`` for the
            WebSocket handshake, which is signed over the URL alone.

    Raises:
        SignatureError: The signature is missing, does not match, or was made
            with a key Dialgraph does not have.
    """
    if not settings.twilio_auth_token:
        return
    url = public_request_url(connection, settings)
    signature = connection.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        raise SignatureError(
            "missing signature", f"no {SIGNATURE_HEADER} header ({_describe(url)})"
        )
    if connection.headers.get(SIGNATURE_SETTINGS_HEADER):
        # A Twilio Webhook Rule signed this with a SharedKey secret, not the auth token.
        raise SignatureError(
            "unverifiable signature",
            f"signed with a webhook SharedKey ({SIGNATURE_SETTINGS_HEADER}); only the "
            f"auth token is supported ({_describe(url)})",
        )
    if not RequestValidator(settings.twilio_auth_token).validate(url, params or {}, signature):
        hint = "" if settings.public_url else "; behind a proxy or tunnel set DIALGRAPH_PUBLIC_URL"
        raise SignatureError("invalid signature", f"does not match {_describe(url)}{hint}")
