"""Short-lived call tokens that bind a media stream to its webhook.

The voice webhook puts a token in the TwiML as a ``<Parameter>``; Twilio
returns it in ``start.customParameters``. The token is an HMAC over the
``CallSid`` and an expiry time, so a socket opened without the webhook, for
another call, or after the token expired is refused. Tokens are stateless
(any worker sharing the key can check them); a reused token is refused by the
live-call registry, which admits each ``CallSid`` once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

__all__ = ["CallTokenError", "CallTokens"]

_VERSION = "v1"


class CallTokenError(ValueError):
    """The token is missing, malformed, forged, expired or for another call."""


class CallTokens:
    """Issues and checks call tokens with one secret key.

    Args:
        secret: HMAC key. Empty: a random key for this process only.
        ttl: Seconds a token stays valid.
    """

    def __init__(self, secret: str | bytes = "", *, ttl: float = 60.0) -> None:
        if isinstance(secret, str):
            secret = secret.encode()
        self._key = hashlib.sha256(
            b"dialgraph-call-token:" + (secret or secrets.token_bytes(32))
        ).digest()
        self.ttl = ttl

    def _mac(self, call_sid: str, expires: int) -> str:
        msg = f"{_VERSION}.{call_sid}.{expires}".encode()
        digest = hmac.new(self._key, msg, hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, call_sid: str, *, now: float | None = None) -> str:
        """A token for ``call_sid`` valid for ``ttl`` seconds from ``now``."""
        expires = int((time.time() if now is None else now) + self.ttl)
        return f"{_VERSION}.{expires}.{self._mac(call_sid, expires)}"

    def check(self, token: str | None, call_sid: str, *, now: float | None = None) -> None:
        """Raise :class:`CallTokenError` unless ``token`` is valid for ``call_sid``."""
        if not token:
            raise CallTokenError("no call token (stream not opened through the voice webhook)")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _VERSION or not parts[1].isdigit():
            raise CallTokenError("malformed call token")
        expires = int(parts[1])
        if not hmac.compare_digest(parts[2], self._mac(call_sid, expires)):
            raise CallTokenError("call token does not match this call")
        if (time.time() if now is None else now) > expires:
            raise CallTokenError("call token expired")
