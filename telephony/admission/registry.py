"""The live-call registry: which calls this process is serving right now.

It admits each ``CallSid`` once, so a call token replayed on a second socket
to this process is refused while (and after) the first one runs. Across
workers, the session first claims the call's stream in the limit store
(``LimitStore.claim_stream``: ``SET NX`` in Redis when configured), so a
replay to another worker is refused too. This registry stays per process: it
is what ``/healthz`` counts.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["CallRegistry", "DuplicateCallError", "LiveCall"]

_REMEMBER_ENDED = 10_000  # ended CallSids kept to refuse replays; bounded memory


class DuplicateCallError(RuntimeError):
    """A media stream for this CallSid was already admitted."""


@dataclass(slots=True)
class LiveCall:
    """What the registry knows of one live call."""

    call_sid: str
    stream_sid: str
    caller: str = ""
    started_at: float = field(default_factory=time.time)
    end_politely: Callable[[], None] | None = field(default=None, repr=False)
    """Ask the call to say goodbye and hang up (a server that must stop now)."""


class CallRegistry:
    """In-process registry of live calls."""

    def __init__(self) -> None:
        self._live: dict[str, LiveCall] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()

    def admit(self, call: LiveCall) -> None:
        """Register a call; raise :class:`DuplicateCallError` if seen before."""
        if call.call_sid in self._live or call.call_sid in self._ended:
            raise DuplicateCallError(f"a media stream for {call.call_sid} was already admitted")
        self._live[call.call_sid] = call

    def release(self, call_sid: str) -> None:
        """Forget a live call (idempotent), remembering its SID to refuse replays."""
        if self._live.pop(call_sid, None) is not None:
            self._ended[call_sid] = None
            while len(self._ended) > _REMEMBER_ENDED:
                self._ended.popitem(last=False)

    def get(self, call_sid: str) -> LiveCall | None:
        return self._live.get(call_sid)

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, call_sid: object) -> bool:
        return call_sid in self._live

    def calls(self) -> list[LiveCall]:
        return list(self._live.values())

    def end_all_politely(self) -> None:
        """Ask every live call to say goodbye and hang up (the server must stop)."""
        for call in self.calls():
            if call.end_politely is not None:
                call.end_politely()
