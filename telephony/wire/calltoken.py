"""Short-lived call tokens that bind a media stream to its webhook.

The voice webhook puts a token in the TwiML as a ``<Parameter>``, next to the
other ``<Parameter>``s (caller, called, direction); Twilio returns them all in
``start.customParameters``. The token is an HMAC over the ``CallSid``, an
expiry time and every one of those parameters, so a socket opened without the
webhook, for another call, after the token expired, or with any parameter
changed (another caller's number, to be greeted with their memory) is refused.
Tokens are stateless (any worker sharing the key can check them); a reused
token is refused by the live-call registry, which admits each ``CallSid`` once.

The MAC'd message is canonical: the version, the CallSid, the expiry and then
the parameters sorted by name, each string length-prefixed, so no choice of
names or values (dots, equals signs, newlines, non-ASCII) can make two
different parameter sets sign alike. A parameter with an empty value counts as
absent (the session reads a missing parameter as ``""`` too), so it does not
matter whether Twilio returns an empty ``<Parameter>``. The ``token``
parameter itself is left out.

Whatever a peer sends as a token, :meth:`CallTokens.check` raises nothing but
:class:`CallTokenError`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping

__all__ = ["TOKEN_PARAMETER", "CallTokenError", "CallTokens"]

_VERSION = "v2"  # v2: the MAC covers the TwiML parameters (v1: CallSid and expiry only)
TOKEN_PARAMETER = "token"  # the <Parameter> name the token travels under
_MAC_BYTES = 18  # 144 bits: 24 base64 characters, no padding
# version.expiry.mac; at most 12 expiry digits (year 33658), so int() is cheap and
# cannot overflow a timestamp; ASCII only, so compare_digest never sees other text.
_TOKEN = re.compile(re.escape(_VERSION) + r"\.([0-9]{1,12})\.([A-Za-z0-9_-]{24})", re.ASCII)


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

    def _mac(self, call_sid: str, expires: int, params: Mapping[str, str]) -> str:
        digest = hmac.new(self._key, _message(call_sid, expires, params), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode().rstrip("=")

    def issue(
        self, call_sid: str, params: Mapping[str, str] | None = None, *, now: float | None = None
    ) -> str:
        """A token for ``call_sid`` and ``params``, valid for ``ttl`` seconds from ``now``.

        Args:
            call_sid: The call's ``CallSid``.
            params: Exactly the ``<Parameter>``s the TwiML carries besides the token.
            now: Wall-clock seconds (default: now).
        """
        expires = int((time.time() if now is None else now) + self.ttl)
        return f"{_VERSION}.{expires}.{self._mac(call_sid, expires, params or {})}"

    def check(
        self,
        token: str | None,
        call_sid: str,
        params: Mapping[str, str] | None = None,
        *,
        now: float | None = None,
    ) -> None:
        """Raise :class:`CallTokenError` unless ``token`` is valid for ``call_sid`` and ``params``.

        Args:
            token: The ``token`` custom parameter, as received.
            call_sid: ``start.callSid``.
            params: ``start.customParameters`` (its ``token`` entry is ignored).
            now: Wall-clock seconds (default: now).
        """
        if not token:
            raise CallTokenError("no call token (stream not opened through the voice webhook)")
        match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        if match is None:
            raise CallTokenError("malformed call token")
        expires = int(match[1])
        try:
            expected = self._mac(call_sid, expires, params or {})
        except (TypeError, AttributeError):  # not str values: nothing Twilio would send
            raise CallTokenError("malformed call parameters") from None
        if not hmac.compare_digest(match[2], expected):
            raise CallTokenError("call token does not match this call or its parameters")
        if (time.time() if now is None else now) > expires:
            raise CallTokenError("call token expired")


def _message(call_sid: str, expires: int, params: Mapping[str, str]) -> bytes:
    """The canonical bytes the MAC covers (see the module docstring)."""
    fields = [_VERSION, call_sid, str(expires)]
    for name in sorted(k for k, v in params.items() if k != TOKEN_PARAMETER and v):
        fields += (name, params[name])
    # surrogatepass: a lone surrogate from a JSON "\ud800" escape still encodes, uniquely.
    return b"".join(_length_prefixed(f.encode("utf-8", "surrogatepass")) for f in fields)


def _length_prefixed(data: bytes) -> bytes:
    return b"%d:%b," % (len(data), data)
