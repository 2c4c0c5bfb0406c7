"""Twilio's HTTP side: the voice webhook, the status callback, and a health check.

An answered outbound call placed with answering-machine detection arrives
with ``AnsweredBy``; :func:`telephony.outbound.dial.answer_action` decides whether it
is streamed as usual, hung up on, or left the voicemail message (TwiML
``<Say>`` then ``<Hangup/>``). A call that is not streamed gives its limit
slot back at once. The TwiML itself is built by :mod:`telephony.wire.twiml`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, cast

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import FormMultiDict
from litestar.enums import MediaType
from litestar.exceptions import ClientException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT, HTTP_503_SERVICE_UNAVAILABLE

from memory.callerid import normalise_caller
from telephony.admission.limits import busy_twiml
from telephony.outbound.dial import ANSWERED_BY, CONNECT, LEAVE_MESSAGE, answer_action
from telephony.settings import Settings
from telephony.web.signature import SignatureError, stream_url, verify_signature
from telephony.web.state import WebState
from telephony.wire.twiml import connect_stream_twiml, hang_up_twiml

__all__ = [
    "TwilioController",
    "VoiceCall",
    "healthz",
    "metrics",
    "readyz",
    "require_twilio_signature",
]

logger = logging.getLogger("dialgraph.web")

# Twilio SIDs are two letters and 32 hex digits; being a little looser keeps
# test tools working while still keeping log lines and TwiML clean.
_SID = re.compile(r"^[A-Za-z]{2}[A-Za-z0-9]{1,62}$")
_STATUS = re.compile(r"^[a-z-]{1,20}$")  # queued, ringing, in-progress, no-answer, ...
_ANSWERED_BY = re.compile(r"^[a-z_]{1,32}$")  # human, machine_end_beep, fax, ...


async def require_twilio_signature(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: refuse with 403 unless the request carries a valid Twilio signature.

    A no-op when no auth token is configured. The refusal is logged once, at
    WARNING, with the reason and the URL checked (never the token or the form).
    """
    settings: Settings = connection.app.state.settings
    if not settings.twilio_auth_token:
        return
    params: FormMultiDict | None = None
    if isinstance(connection, Request):
        params = await connection.form()
    try:
        verify_signature(connection, settings, params)
    except SignatureError as exc:
        logger.warning(
            "refused %s %s: %s", connection.scope.get("method", ""), connection.scope["path"], exc
        )
        raise PermissionDeniedException(detail=f"Forbidden: {exc.reason}") from None


@dataclass(frozen=True, slots=True)
class VoiceCall:
    """The fields of Twilio's voice webhook that the TwiML needs.

    Attributes:
        call_sid: ``CallSid``.
        caller: The person on the line: ``From`` on an inbound call, ``To`` on
            an outbound one, in E.164; ``""`` (unknown) for a withheld or
            unparseable caller ID (see :mod:`memory.callerid`), so withheld
            callers never share caller memory. Caller memory and caller ID on
            transfers use it.
        called: Our number: ``To`` inbound, ``From`` outbound.
        direction: ``"inbound"`` or ``"outbound"`` (Twilio's ``outbound-api`` and
            ``outbound-dial`` both count as outbound).
        answered_by: ``AnsweredBy`` of an outbound call placed with machine
            detection (``human``, ``machine_end_beep``, ...); ``""`` for an
            inbound call, without detection, or for a malformed value.
    """

    call_sid: str
    caller: str = ""
    called: str = ""
    direction: str = "inbound"
    answered_by: str = ""

    @classmethod
    def from_form(cls, form: FormMultiDict) -> VoiceCall:
        """Read the webhook's form; raise ``ClientException`` (400) without a usable CallSid."""
        call_sid = str(form.get("CallSid") or "")
        if not call_sid:
            raise ClientException(
                detail="missing CallSid: this endpoint takes Twilio's voice webhook"
            )
        if not _SID.match(call_sid):
            raise ClientException(detail="malformed CallSid")
        outbound = str(form.get("Direction") or "inbound").startswith("outbound")
        ours, theirs = ("From", "To") if outbound else ("To", "From")
        answered_by = str(form.get("AnsweredBy") or "") if outbound else ""
        return cls(
            call_sid=call_sid,
            caller=normalise_caller(str(form.get(theirs) or "")),
            called=str(form.get(ours) or ""),
            direction="outbound" if outbound else "inbound",
            answered_by=answered_by if _ANSWERED_BY.match(answered_by) else "",
        )

    def stream_parameters(self) -> dict[str, str]:
        """What the media stream is told about the call, as ``<Parameter>``s.

        Empty values are left out (the session reads a missing one as ``""``).
        The call token is issued over exactly this mapping.
        """
        params = {"caller": self.caller, "called": self.called, "direction": self.direction}
        return {name: value for name, value in params.items() if value}


class TwilioController(Controller):
    """The routes Twilio calls over HTTP; every one is signature-checked."""

    path = "/twilio"
    guards = [require_twilio_signature]

    @post("/voice", status_code=HTTP_200_OK, media_type=MediaType.XML, name="twilio-voice")
    async def voice(self, request: Request[Any, Any, Any], state: WebState) -> Response[str]:
        """Answer an incoming (or answered outbound) call with ``<Connect><Stream>``.

        An outbound call a machine or fax answered gets
        :func:`~telephony.wire.twiml.hang_up_twiml` instead (see
        :func:`telephony.outbound.dial.answer_action`).
        """
        call = VoiceCall.from_form(await request.form())
        services = state.services
        action = answer_action(call.answered_by, state.settings.voicemail)
        if call.answered_by:
            label = call.answered_by if call.answered_by in ANSWERED_BY else "other"
            services.metrics.outbound_answered(label, action)
        decision = await services.limit_store.admit(call.call_sid, call.caller)
        if action != CONNECT:
            if decision.allowed:  # nothing will stream: give the slot back now
                await services.limit_store.release(call.call_sid, call.caller)
            message = state.voicemail_message if action == LEAVE_MESSAGE else ""
            logger.info(
                "voice webhook: %s answered by %s: %s",
                call.call_sid,
                call.answered_by,
                "leaving the voicemail message, then hanging up" if message else "hanging up",
            )
            return Response(hang_up_twiml(message), media_type=MediaType.XML)
        if not decision.allowed:
            # Over a limit: a polite apology in TwiML, never an error.
            services.metrics.call_refused(decision.reason)
            logger.warning("voice webhook: refused %s (%s)", call.call_sid, decision.reason)
            return Response(busy_twiml(decision.reason), media_type=MediaType.XML)
        params = call.stream_parameters()
        token = services.tokens.issue(call.call_sid, params)
        url = stream_url(request, state.settings)
        how = f"{call.direction}, answered by {call.answered_by}" if call.answered_by else ""
        logger.info(
            "voice webhook: connecting %s (%s) to the media stream",
            call.call_sid,
            how or call.direction,
        )
        state.drain.connected()  # a draining server waits for this stream too
        return Response(connect_stream_twiml(url, params, token), media_type=MediaType.XML)

    @post("/status", status_code=HTTP_204_NO_CONTENT, name="twilio-status")
    async def status(self, request: Request[Any, Any, Any], state: WebState) -> None:
        """Log a call status callback (no phone numbers); free a finished call's slot."""
        form = await request.form()
        call_sid = str(form.get("CallSid") or "")
        status = str(form.get("CallStatus") or "")
        logger.info(
            "status callback: call %s is %s",
            call_sid if _SID.match(call_sid) else "(no valid CallSid)",
            status if _STATUS.match(status) else "(unknown status)",
        )
        # A call whose media stream never started (busy, no answer) still held a slot.
        if status in _FINISHED and _SID.match(call_sid):
            await state.services.limit_store.release(call_sid, VoiceCall.from_form(form).caller)


_FINISHED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


@get("/healthz", name="healthz", sync_to_thread=False)
def healthz(state: WebState) -> dict[str, Any]:
    """Liveness (200 while the process runs, draining or not) and its live calls."""
    status = "draining" if state.drain.draining else "ok"
    return {"status": status, "live_calls": len(state.services.registry)}


@get("/readyz", name="readyz", sync_to_thread=False)
def readyz(state: WebState) -> Response[dict[str, Any]]:
    """Readiness: 503 once draining, so a load balancer sends new calls elsewhere."""
    body = cast("dict[str, Any]", healthz.fn(state))  # litestar types every handler async
    code = HTTP_503_SERVICE_UNAVAILABLE if state.drain.draining else HTTP_200_OK
    return Response(body, status_code=code)


@get("/metrics", name="metrics", sync_to_thread=False, media_type="text/plain; version=0.0.4")
def metrics(state: WebState) -> Response[str]:
    """Prometheus metrics: live calls, turns, latency histograms, barge-ins, errors."""
    return Response(state.services.metrics.render(), media_type="text/plain; version=0.0.4")
