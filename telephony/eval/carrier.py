"""Twilio's call control, played for the simulated calls: what the agent asked of the carrier.

In production a transfer or hang-up is a Twilio REST request, after which
Twilio ends the media stream. In an eval the softphone plays Twilio's media
side, and this plays its REST side: it accepts every request, keeps the log
the judges read (who was transferred where, who was hung up on, when), and
the session then closes the stream as it does after Twilio answered.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

__all__ = ["CarrierRequest", "RecordingCarrier"]


@dataclass(frozen=True, slots=True)
class CarrierRequest:
    """One call-control request: ``transfer`` (with its target) or ``hangup``."""

    kind: str
    target: str = ""
    at: float = 0.0


class RecordingCarrier:
    """A :class:`~telephony.call.agent.CallControl` that logs each request per call."""

    name = "eval carrier"

    def __init__(self) -> None:
        self._log: dict[str, list[CarrierRequest]] = defaultdict(list)

    async def transfer(self, call_sid: str, target: str, *, caller_id: str = "") -> None:
        self._log[call_sid].append(CarrierRequest("transfer", target, time.monotonic()))

    async def hangup(self, call_sid: str) -> None:
        self._log[call_sid].append(CarrierRequest("hangup", at=time.monotonic()))

    def requests(self, call_sid: str) -> list[CarrierRequest]:
        """What the agent asked for on ``call_sid``, in order."""
        return list(self._log.get(call_sid, ()))

    def forget(self, call_sid: str) -> None:
        self._log.pop(call_sid, None)
