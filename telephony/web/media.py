"""The media-stream WebSocket: check the handshake, then hand the socket to a call.

The handler is deliberately thin. It refuses a handshake whose Twilio
signature is missing or wrong (accept, then close 1008, before reading a
single message), wraps Litestar's WebSocket in :class:`LitestarMediaTransport`,
and runs one :class:`~telephony.call.session.CallSession`. Whatever goes wrong
inside that call ends that call only.

Until its ``start`` and call token are accepted a socket is *unauthenticated*:
anyone who can get a signed URL (or who is on loopback without an auth token)
can hold one open for ``DIALGRAPH_START_TIMEOUT``. The session keeps almost
nothing for it, and :class:`~telephony.web.preauth.UnauthenticatedSockets` caps how many may wait at
once (globally; per client address only when the forwarded address is
trusted); beyond the cap a socket is closed at once with 1013 (try again later).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from telephony.call.session import CallSession
from telephony.call.transport import TransportClosed
from telephony.web.preauth import UnauthenticatedSockets
from telephony.web.signature import MEDIA_PATH, SignatureError, verify_signature
from telephony.web.state import WebState

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL",
    "CLOSE_POLICY",
    "CLOSE_TRY_AGAIN",
    "LitestarMediaTransport",
    "media_stream",
]

logger = logging.getLogger("dialgraph.web")

CLOSE_GOING_AWAY = 1001  # server shutting down mid-call
CLOSE_POLICY = 1008  # refused handshake (bad or missing signature)
CLOSE_INTERNAL = 1011  # a bug in this call's session
CLOSE_TRY_AGAIN = 1013  # too many sockets waiting to authenticate
_REFUSAL_LOG_EVERY = 100  # under a flood of sockets, one log line per this many refusals
_MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason fits in 123 bytes of UTF-8


def _close_reason(reason: str) -> str:
    return reason.encode()[:_MAX_REASON_BYTES].decode(errors="ignore")


class LitestarMediaTransport:
    """A :class:`~telephony.call.transport.MediaTransport` over an accepted Litestar WebSocket.

    ``receive`` returns ``str`` for text frames and ``bytes`` for binary
    frames (the protocol refuses binary with its own close code), and raises
    :class:`TransportClosed` once the peer is gone or the socket was closed
    here. ``send`` raises :class:`TransportClosed` when the socket is gone.
    ``close`` is idempotent and never raises.
    """

    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        self._socket = socket
        self._closed = False  # closed here, or the peer's disconnect was seen

    @property
    def closed(self) -> bool:
        return self._closed

    async def receive(self) -> str | bytes:
        if self._closed:
            raise TransportClosed("socket closed")
        try:
            message = await self._socket.receive()
        except (WebSocketDisconnect, OSError) as exc:
            self._closed = True
            raise TransportClosed("socket broke") from exc
        if message["type"] != "websocket.receive":
            self._closed = True
            raise TransportClosed(f"peer closed (code {message.get('code', 1005)})")
        text = message.get("text")
        if text is not None:
            return text
        return message.get("bytes") or b""

    async def send(self, text: str) -> None:
        if self._closed:
            raise TransportClosed("socket closed")
        try:
            await self._socket.send({"type": "websocket.send", "text": text, "bytes": None})
        except (WebSocketDisconnect, OSError) as exc:
            self._closed = True
            raise TransportClosed("socket broke") from exc

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._socket.close(code=code, reason=_close_reason(reason))
        except Exception as exc:  # the peer may already be gone; closing must not fail
            logger.debug("closing media socket failed: %s", type(exc).__name__)


async def _refuse_busy(socket: WebSocket[Any, Any, Any], gate: UnauthenticatedSockets) -> None:
    """Close a socket over the unauthenticated cap at once (1013), logging one line
    for the first refusal and then one per ``_REFUSAL_LOG_EVERY``."""
    if gate.refused % _REFUSAL_LOG_EVERY == 1:
        logger.warning(
            "media stream refused: %d sockets already waiting for start (%d refused so far)",
            len(gate),
            gate.refused,
        )
    try:
        await socket.accept()
        await socket.close(code=CLOSE_TRY_AGAIN, reason="too many unauthenticated streams")
    except (WebSocketDisconnect, OSError):
        pass


async def _refuse(socket: WebSocket[Any, Any, Any], error: SignatureError) -> None:
    """Close a handshake that failed its signature check: accepted first, so
    the peer sees a policy-violation close code rather than a bare HTTP 403."""
    logger.warning("media stream refused: %s", error)
    try:
        await socket.accept()
        await socket.close(code=CLOSE_POLICY, reason=_close_reason(error.reason))
    except (WebSocketDisconnect, OSError):
        pass


@websocket(MEDIA_PATH, name="twilio-media")
async def media_stream(socket: WebSocket[Any, Any, Any], state: WebState) -> None:
    """One Twilio media stream: signature check, then one call session."""
    try:
        verify_signature(socket, state.settings)
    except SignatureError as error:
        await _refuse(socket, error)
        return
    gate = state.unauthenticated
    client = socket.client
    release = gate.enter(client.host if client is not None else None)
    if release is None:
        await _refuse_busy(socket, gate)
        return
    try:
        await _serve(socket, state, release)
    finally:
        release()


async def _serve(
    socket: WebSocket[Any, Any, Any], state: WebState, authenticated: Callable[[], None]
) -> None:
    await socket.accept()
    transport = LitestarMediaTransport(socket)
    session = CallSession(transport, state.services, state.settings)
    session.on_authenticated = authenticated
    try:
        await session.run()
    except asyncio.CancelledError:
        await transport.close(CLOSE_GOING_AWAY, "server shutting down")
        raise
    except Exception:  # a bug in one call must not reach the server or other calls
        logger.exception("media stream: call session failed")
        await transport.close(CLOSE_INTERNAL, "internal error")
    else:
        await transport.close()
