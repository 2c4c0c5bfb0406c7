"""The socket as the call session sees it: text in, text out, close.

The web layer adapts Litestar's WebSocket to this; tests and benchmarks can
adapt anything else (a loopback ``websockets`` connection, an in-memory pipe).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["MediaTransport", "TransportClosed"]


class TransportClosed(Exception):
    """The peer closed the socket (or it broke); nothing more can be sent or read."""


class MediaTransport(Protocol):
    """One accepted media-stream WebSocket."""

    async def receive(self) -> str | bytes:
        """The next message; raise :class:`TransportClosed` once the peer closed."""
        ...

    async def send(self, text: str) -> None:
        """Send one text frame; raise :class:`TransportClosed` if the socket is gone."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket (idempotent, never raises)."""
        ...
