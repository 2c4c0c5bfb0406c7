"""Graceful shutdown for a phone service: finish the calls, then exit.

A plain ASGI server closes every WebSocket when it is told to stop, and for a
Twilio media stream a closed socket ends ``<Connect>``: every caller on the
line is cut off by a deploy. :class:`DrainingServer` instead turns the first
SIGTERM/SIGINT into a drain:

1. ``GET /readyz`` starts answering 503 (a load balancer stops sending new
   webhooks here); ``/healthz`` stays 200 (the process is alive) and says
   ``"draining"``.
2. Calls already on the line go on. A webhook that still arrives is answered
   as usual (refusing it would hang up on a caller).
3. The server exits once no call is live and no webhook was answered in the
   last ``quiet_s`` seconds (its media stream may still be on its way). When
   ``timeout_s`` runs out first, each call still live is asked to say a short
   goodbye and hang up (``end_calls``), and the server exits once they have,
   or ``goodbye_s`` later. A second signal stops at once.

Progress is logged every ``report_every_s`` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

import uvicorn

__all__ = ["DrainState", "DrainingServer"]

logger = logging.getLogger("dialgraph.drain")


@dataclass(slots=True)
class DrainState:
    """Shared by the web handlers and the server (on ``app.state.drain``).

    Attributes:
        draining: Set when the drain starts; ``/readyz`` answers 503 from then.
        last_connect_at: ``clock()`` when a webhook last connected a call.
        clock: Monotonic seconds (a test may pass its own).
    """

    draining: bool = False
    last_connect_at: float = float("-inf")
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def connected(self) -> None:
        """A webhook just answered ``<Connect><Stream>``: its stream is on its way."""
        self.last_connect_at = self.clock()


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first stop signal drains live calls (module docstring).

    Args:
        config: The uvicorn configuration.
        drain: The app's :class:`DrainState`.
        live_calls: How many calls this process is serving right now.
        end_calls: Ask every live call to say goodbye and hang up.
        timeout_s: Longest the drain may take; ``0`` stops at once (plain uvicorn).
        goodbye_s: How long the goodbyes may take after the timeout.
        quiet_s: How long after the last connected webhook a stream may still come.
        report_every_s: Seconds between progress lines.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        drain: DrainState,
        live_calls: Callable[[], int],
        timeout_s: float,
        end_calls: Callable[[], None] = lambda: None,
        goodbye_s: float = 15.0,
        quiet_s: float = 10.0,
        report_every_s: float = 10.0,
    ) -> None:
        super().__init__(config)
        self._drain = drain
        self._live_calls = live_calls
        self._end_calls = end_calls
        self._timeout_s = timeout_s
        self._goodbye_s = goodbye_s
        self._goodbyes_at: float | None = None
        self._quiet_s = quiet_s
        self._report_every_s = report_every_s
        self._requested = False
        self._started_at: float | None = None
        self._reported_at = 0.0

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal: request a drain (acted on by :meth:`on_tick`). Later ones: stop."""
        if self._timeout_s > 0 and not self._requested and not self.should_exit:
            self._requested = True  # nothing else here: this runs inside a signal handler
            return
        if self._requested and not self.should_exit:
            self.force_exit = True  # a second signal: stop now, cut the calls
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        """uvicorn's 10 Hz tick: start the drain, watch it, end it."""
        if self._requested and not self.should_exit and self._drain_done():
            self.should_exit = True
        return await super().on_tick(counter)

    def _drain_done(self) -> bool:
        now = self._drain.clock()
        live = self._live_calls()
        if self._started_at is None:
            self._started_at = self._reported_at = now
            self._drain.draining = True
            logger.info(
                "draining: %d live calls; waiting up to %.0f s for them to end "
                "(signal again to stop now)",
                live,
                self._timeout_s,
            )
        quiet = now - self._drain.last_connect_at >= self._quiet_s
        if live == 0 and quiet:
            logger.info("drained: no live calls after %.1f s; stopping", now - self._started_at)
            return True
        if self._goodbyes_at is not None:
            if live and now - self._goodbyes_at < self._goodbye_s:
                return False
            if live:
                logger.warning("drain: %d calls still live after their goodbye; cutting", live)
            return True
        if now - self._started_at >= self._timeout_s:
            logger.warning(
                "drain timed out after %.0f s: saying goodbye to %d live calls",
                self._timeout_s,
                live,
            )
            self._goodbyes_at = now
            try:
                self._end_calls()
            except Exception:
                logger.exception("drain: could not end the live calls politely")
            return False
        if now - self._reported_at >= self._report_every_s:
            self._reported_at = now
            logger.info("draining: %d live calls after %.0f s", live, now - self._started_at)
        return False
