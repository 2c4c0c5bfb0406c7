"""Carry out the call action an agent asked for (transfer or hang up)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from telephony.metrics import CallMetrics
from telephony.providers.base import CallAction, CallControl, CallInfo, ProviderError

__all__ = ["perform_call_action"]


async def perform_call_action(
    action: CallAction | Mapping[str, str],
    call: CallInfo,
    control: CallControl | None,
    metrics: CallMetrics,
    log: logging.Logger | logging.LoggerAdapter,
) -> str | None:
    """Transfer or hang up ``call``; returns the action's kind once the stream should end.

    A transfer moves the live call with ``<Dial>`` (the caller's number as
    caller ID); a hang-up ends it through the REST API when call control is
    configured. Either way the media stream is then closed: that ends
    ``<Connect>``, and with nothing after it the call ends. A transfer without
    call control cannot happen: it is logged and the call goes on (``None``).
    """
    if isinstance(action, Mapping):
        action = CallAction(
            action.get("kind", "hangup"),  # type: ignore[arg-type]
            action.get("target", ""),
            action.get("reason", ""),
        )
    log.info("agent asked to %s (%s)", action.kind, action.reason or "no reason given")
    try:
        if action.kind == "transfer" and control is not None:
            await control.transfer(call.call_sid, action.target, caller_id=call.caller)
        elif action.kind == "transfer":
            log.error("transfer requested but no call control is configured")
            return None
        elif control is not None:
            await control.hangup(call.call_sid)
    except ProviderError as exc:
        metrics.error("call_control")
        log.error("call control failed: %s", exc)
    return action.kind
