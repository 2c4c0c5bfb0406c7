"""Outbound calls: ``dialgraph dial +1...`` rings a number and the answer talks to the graph.

How it works:

1. The compliance gate (:mod:`telephony.admission.compliance`) decides first: a number
   on the do-not-call list, outside calling hours in the callee's time zone,
   or with an unknown time zone is refused before anything reaches Twilio.
2. Twilio is asked to create the call (``POST .../Calls.json``) with
   ``Url = {public_url}/twilio/voice``: the same voice webhook inbound calls
   use. When the callee answers, Twilio POSTs it with ``Direction=outbound-api``
   and the call streams into the same graph as any inbound call.
   ``StatusCallback = {public_url}/twilio/status`` logs how the call ended
   (no-answer, busy, completed).
3. The new call's SID is returned; the call itself is then served by the
   running ``dialgraph serve`` behind the public URL.

Answering machines (``DIALGRAPH_VOICEMAIL``): unless it is ``off``, the call
is created with Twilio's synchronous answering-machine detection
(``MachineDetection``, ``AsyncAmd=false``, ``MachineDetectionTimeout``), so
the voice webhook's form carries ``AnsweredBy``. ``hangup`` asks for
``Enable`` (a verdict as soon as Twilio knows); ``message`` asks for
``DetectMessageEnd`` (after the greeting and its beep, so a message lands in
the mailbox). :func:`answer_action` turns ``AnsweredBy`` into what the
webhook does: stream a person (or an ``unknown``), hang up on a fax or a
machine, or leave the message on a machine whose greeting has ended.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from telephony.admission.compliance import (
    DEFAULT_CALLING_HOURS,
    ComplianceDecision,
    ComplianceGate,
    mask_number,
)
from telephony.settings import ConfigError, Settings

__all__ = [
    "ANSWERED_BY",
    "CONNECT",
    "HANG_UP",
    "LEAVE_MESSAGE",
    "DialRefused",
    "OutboundCalls",
    "answer_action",
    "dial",
    "machine_detection_for",
    "place_outbound_call",
]

logger = logging.getLogger("dialgraph.dial")

MACHINE_DETECTION = ("Enable", "DetectMessageEnd")  # Twilio's MachineDetection values
# Twilio's AnsweredBy values. With Enable: human, machine_start, fax, unknown;
# with DetectMessageEnd a machine is reported once its greeting ended (machine_end_*).
ANSWERED_BY = (
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
)
# What the voice webhook does with an answered outbound call.
CONNECT, LEAVE_MESSAGE, HANG_UP = "connect", "message", "hangup"
_DETECTION_FOR = {"hangup": "Enable", "message": "DetectMessageEnd"}  # DIALGRAPH_VOICEMAIL
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


class DialRefused(Exception):
    """The compliance gate refused the call; nothing was sent to Twilio.

    Attributes:
        decision: The gate's decision, with its human reason.
    """

    def __init__(self, decision: ComplianceDecision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


class OutboundCalls(Protocol):
    """Whatever can create a call (``TwilioCallControl`` in production)."""

    async def place_call(
        self,
        to: str,
        from_: str,
        url: str,
        status_callback: str,
        *,
        machine_detection: str | None = None,
        machine_detection_timeout: int | None = None,
    ) -> str: ...


def machine_detection_for(voicemail: str) -> str | None:
    """Twilio's ``MachineDetection`` for a ``DIALGRAPH_VOICEMAIL`` value; ``None`` for ``off``."""
    return _DETECTION_FOR.get(voicemail)


def answer_action(answered_by: str, voicemail: str) -> str:
    """What the voice webhook does with an outbound call Twilio says ``answered_by`` answered.

    Returns :data:`CONNECT` (stream it to the graph) for a person, for
    ``unknown`` (Twilio could not tell in time), for no ``AnsweredBy`` at all,
    for a value Twilio may add later, and for anything while ``voicemail`` is
    ``off``; :data:`HANG_UP` for a fax or a machine; :data:`LEAVE_MESSAGE` for
    a machine whose greeting has ended (``machine_end_*``) when ``voicemail``
    is ``message``. A ``machine_start`` in ``message`` mode (the call was
    placed with ``Enable``) hangs up: the greeting is still playing, so a
    message would be lost over it.
    """
    if voicemail == "off" or answered_by in {"", "human", "unknown"}:
        return CONNECT
    if answered_by == "fax":
        return HANG_UP
    if answered_by.startswith("machine_end") and voicemail == "message":
        return LEAVE_MESSAGE
    return HANG_UP if answered_by.startswith("machine") else CONNECT


async def dial(
    to: str,
    settings: Settings,
    *,
    control: OutboundCalls,
    gate: ComplianceGate,
    from_: str,
    machine_detection: str | None = None,
    now: Callable[[], datetime] | None = None,
) -> str:
    """Check the gate, then have Twilio ring ``to``; return the new call's SID.

    Args:
        to: The callee (E.164; common formatting is normalised).
        settings: Needs ``public_url`` and the Twilio credentials.
        control: Creates the call (``TwilioCallControl``).
        gate: The compliance gate.
        from_: The Twilio number the call comes from (E.164).
        machine_detection: ``"Enable"`` or ``"DetectMessageEnd"``; ``None``:
            what ``settings.voicemail`` asks for (none when it is ``off``).
        now: Clock for the calling-hours check (default: the gate's).

    Raises:
        ConfigError: No public URL, no credentials, or a bad ``from_`` /
            ``machine_detection`` / ``voicemail_timeout``; nothing was sent.
        DialRefused: The gate refused; nothing was sent.
        ProviderError: Twilio refused or could not be reached.
    """
    if machine_detection is None:
        machine_detection = machine_detection_for(settings.voicemail)
    _require_config(settings, from_, machine_detection)
    decision = gate.check(to, at=now() if now is not None else None)
    if not decision.allowed:
        logger.warning("outbound call not placed: %s", decision.reason)
        raise DialRefused(decision)
    logger.info("compliance gate: %s", decision.reason)
    base = settings.public_url
    if urlsplit(base).hostname in _LOOPBACK_HOSTS:
        logger.warning("DIALGRAPH_PUBLIC_URL %s is loopback: real Twilio cannot reach it", base)
    sid = await control.place_call(
        decision.number,
        from_,
        f"{base}/twilio/voice",
        f"{base}/twilio/status",
        machine_detection=machine_detection,
        machine_detection_timeout=settings.voicemail_timeout if machine_detection else None,
    )
    logger.info(
        "outbound call %s to %s created (machine detection: %s)",
        sid,
        mask_number(decision.number),
        machine_detection or "off",
    )
    return sid


async def place_outbound_call(
    to: str,
    settings: Settings,
    *,
    from_: str,
    dnc_path: str | Path,
    calling_hours: tuple[int, int] = DEFAULT_CALLING_HOURS,
    machine_detection: str | None = None,
    api_url: str = "",
    now: Callable[[], datetime] | None = None,
) -> str:
    """:func:`dial` with a Twilio client and a gate built from plain values (the CLI's entry).

    ``api_url`` overrides Twilio's API origin (a local fake in tests).
    Raises what :func:`dial` raises.
    """
    from telephony.outbound.twilio_rest import TwilioCallControl

    detection = machine_detection or machine_detection_for(settings.voicemail)
    _require_config(settings, from_, detection)
    gate = ComplianceGate(dnc_path, allowed_hours=calling_hours, now=now)
    async with TwilioCallControl(
        settings.twilio_account_sid, settings.twilio_auth_token, base_url=api_url or None
    ) as control:
        return await dial(
            to,
            settings,
            control=control,
            gate=gate,
            from_=from_,
            machine_detection=machine_detection,
        )


def _require_config(settings: Settings, from_: str, machine_detection: str | None) -> None:
    if not settings.public_url:
        raise ConfigError(
            "DIALGRAPH_PUBLIC_URL is not set: Twilio fetches the answered call's TwiML from "
            "{public_url}/twilio/voice, so it needs the public base URL of `dialgraph serve`"
        )
    if not settings.twilio_account_sid or not settings.twilio_auth_token:
        raise ConfigError(
            "placing a call needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (Twilio REST API)"
        )
    if not _E164.match(from_ or ""):
        raise ConfigError(
            "the calling number (DIALGRAPH_OUTBOUND_FROM or --from) must be one of your "
            f"Twilio numbers in E.164, e.g. +15550100100; got {from_!r}"
        )
    if machine_detection is not None and machine_detection not in MACHINE_DETECTION:
        raise ConfigError(
            f"machine detection must be one of {', '.join(MACHINE_DETECTION)}; "
            f"got {machine_detection!r}"
        )
    if machine_detection is not None and settings.voicemail_timeout < 1:
        raise ConfigError("DIALGRAPH_VOICEMAIL_TIMEOUT must be at least 1 second")
