"""The cap on media sockets that have not yet authenticated.

A socket is unauthenticated until its ``start`` and call token are accepted
(see :mod:`telephony.web.media`). This is the count of those sockets and the
caps on it: plain bookkeeping, apart from the handler so the app's typed
state (:mod:`telephony.web.state`) can hold one without importing the handler.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["UnauthenticatedSockets"]


class UnauthenticatedSockets:
    """How many media sockets are waiting for a valid ``start``, and the caps on them.

    Args:
        limit: At most this many at once, whoever opened them.
        per_address: At most this many from one client address (0: no cap).
            Give it only when the address is trustworthy (the forwarded
            address behind your own proxy): Twilio and proxies share few
            addresses, and one cap on them would refuse real calls.

    Attributes:
        refused: Sockets refused so far.
    """

    def __init__(self, limit: int, per_address: int = 0) -> None:
        self.limit = limit
        self.per_address = per_address
        self.refused = 0
        self._total = 0
        self._by_address: dict[str, int] = {}

    def __len__(self) -> int:
        return self._total

    def enter(self, address: str | None) -> Callable[[], None] | None:
        """Admit one socket; return its (idempotent) release, or ``None`` when full."""
        key = address or "?"
        over_address = self.per_address > 0 and self._by_address.get(key, 0) >= self.per_address
        if self._total >= self.limit or over_address:
            self.refused += 1
            return None
        self._total += 1
        if self.per_address > 0:
            self._by_address[key] = self._by_address.get(key, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._total -= 1
            if self.per_address > 0:
                left = self._by_address[key] - 1
                if left:
                    self._by_address[key] = left
                else:
                    del self._by_address[key]

        return release
