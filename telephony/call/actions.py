"""Carry out the call action an agent asked for (transfer or hang up).

How it works. :func:`perform_call_action` runs one :class:`CallAction` through
the ``CallControl`` and says how it went (:class:`ActionResult`):

- ``done``: the media stream should end now. After a transfer Twilio has
  moved the call; after a hang-up the call is over. A hang-up whose REST
  request failed is done as well: closing the stream ends ``<Connect>``, and
  with nothing after it the call ends.
- ``failed``: a transfer that did not happen (no call control configured,
  Twilio refused it, or could not be reached). The stream must stay open:
  the caller is still on the line. The session then runs one more agent turn
  with the input source ``"event"`` and the text ``"transfer_failed"``, so
  the dialogue itself apologises and its state records that nobody was put
  through.

A transfer that fails with a transient error (Twilio 5xx or 429, a timeout,
no connection: ``ProviderError.retryable``) is tried once more at once,
unless the first attempt already kept the caller waiting longer than
:data:`RETRY_WITHIN_S`; a refusal (4xx: a bad number, a call that is gone) is
not repeated. Twilio may have acted on a request it answered with a 5xx; the
repeat then only restarts the ``<Dial>`` of a call that is moving anyway.
Each failure is counted (``call_control`` errors) and logged in one line that
names neither the caller's nor the target's number.

:class:`CallActions` is the session's side of this (mixed into
``CallSession``; everything that moves or ends the call lives here): carry out the
action once the caller heard the reply, the recovery turn after a failed
transfer, and the polite endings (say goodbye, then hang up).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from telephony.admission.limits import LIMIT_GOODBYE
from telephony.call.agent import TRANSFER_FAILED, CallAction, CallControl, InputSource
from telephony.call.phrases import SHUTDOWN_GOODBYE, SILENT_GOODBYE, fallback_phrase
from telephony.metrics import CallMetrics
from telephony.speech.base import CallInfo, ProviderError

if TYPE_CHECKING:
    from telephony.call.playout import PlayoutBuffer
    from telephony.call.report import CallReport, TurnTiming
    from telephony.call.services import CallServices
    from telephony.clock import Clock

__all__ = [
    "RETRY_WITHIN_S",
    "ActionResult",
    "CallActions",
    "Outcome",
    "as_call_action",
    "perform_call_action",
]

RETRY_WITHIN_S = 2.0  # a transfer that failed slower than this is not repeated


class Outcome(StrEnum):
    """How a call action went."""

    DONE = "done"
    """Carried out: end the media stream."""
    FAILED = "failed"
    """Not carried out: the call goes on."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What :func:`perform_call_action` did.

    Attributes:
        action: The action, as carried out.
        outcome: Whether the stream should end (``DONE``) or the call go on.
    """

    action: CallAction
    outcome: Outcome

    @property
    def done(self) -> bool:
        """Whether the media stream should end now."""
        return self.outcome is Outcome.DONE


def as_call_action(action: CallAction | Mapping[str, str]) -> CallAction:
    """``action`` as a :class:`CallAction` (graphs hand over plain mappings)."""
    if isinstance(action, CallAction):
        return action
    return CallAction(
        action.get("kind", "hangup"),  # type: ignore[arg-type]
        action.get("target", ""),
        action.get("reason", ""),
    )


async def perform_call_action(
    action: CallAction | Mapping[str, str],
    call: CallInfo,
    control: CallControl | None,
    metrics: CallMetrics,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    *,
    now: Callable[[], float] = time.monotonic,
) -> ActionResult:
    """Transfer or hang up ``call``; say whether the media stream should end.

    A transfer moves the live call with ``<Dial>`` (the caller's number as
    caller ID); a hang-up ends it through the REST API when call control is
    configured. ``now`` times the first transfer attempt (for the retry).
    """
    action = as_call_action(action)
    log.info("agent asked to %s (%s)", action.kind, action.reason or "no reason given")
    if action.kind != "transfer":
        if control is not None:
            try:
                await control.hangup(call.call_sid)
            except ProviderError as exc:
                metrics.error("call_control")
                log.error("hang-up failed, ending the stream anyway: %s", exc)
        return ActionResult(action, Outcome.DONE)
    if control is None:
        return _failed(action, "no call control is configured", metrics, log)
    started = now()
    try:
        await control.transfer(call.call_sid, action.target, caller_id=call.caller)
    except Exception as exc:
        transient = isinstance(exc, ProviderError) and exc.retryable
        if not transient or now() - started > RETRY_WITHIN_S:
            return _failed(action, exc, metrics, log)
        try:
            await control.transfer(call.call_sid, action.target, caller_id=call.caller)
        except Exception as again:
            return _failed(action, again, metrics, log, retried=True)
        log.info("transfer went through on the second attempt (first: %s)", exc)
    return ActionResult(action, Outcome.DONE)


def _failed(
    action: CallAction,
    why: Exception | str,
    metrics: CallMetrics,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    *,
    retried: bool = False,
) -> ActionResult:
    """Count and log (one line) a transfer that did not happen.

    A provider's message names no phone number (Twilio's are masked); any
    other exception is a bug, logged with its traceback.
    """
    metrics.error("call_control")
    bug = why if isinstance(why, Exception) and not isinstance(why, ProviderError) else None
    log.error(
        "transfer failed%s, the call goes on: %s",
        " after one retry" if retried else "",
        f"{type(why).__name__} (unexpected)" if bug is not None else why,
        exc_info=bug,
    )
    return ActionResult(action, Outcome.FAILED)


class CallActions:
    """Call actions, as ``CallSession`` carries them out (a mixin of the session).

    It uses the session's call facts, engines, clock, log and playout buffer,
    and its ``submit``, ``interrupt``, ``_speak`` and ``_finish``.
    """

    info: CallInfo | None
    _services: CallServices
    _clock: Clock
    _log: logging.LoggerAdapter[logging.Logger]
    _buffer: PlayoutBuffer
    _progress: asyncio.Event
    _turn: int
    _closing: bool
    _own_turn: int
    report: CallReport
    _barge_task: asyncio.Task[str] | None

    if TYPE_CHECKING:  # the session's own methods

        @property
        def replying(self) -> bool: ...

        def submit(self, text: str, source: InputSource = "speech") -> None: ...
        async def interrupt(self, reason: str = "barge-in") -> str: ...
        async def _speak(self, turn: int, phrases: asyncio.Queue[str | None]) -> None: ...
        def _finish(self, reason: str, code: int = ...) -> None: ...
        def _record_spoken(self, text: str, *, interrupted: bool = False) -> None: ...
        def _observe(self, who: str, text: str, timing: TurnTiming | None = None) -> None: ...

    async def _perform(
        self, action: CallAction | Mapping[str, str] | None, *, after_event: bool = False
    ) -> None:
        """Carry out the agent's call action; a transfer that failed leaves the call on.

        The agent then hears of the failure as an ``event`` turn and answers
        the caller itself. If that turn (``after_event``) asked for a transfer
        again and it failed again, a fixed phrase is said instead: no loop.
        """
        if action is None or self.info is None:
            return
        services = self._services
        result = await perform_call_action(
            action,
            self.info,
            services.call_control,
            services.metrics,
            self._log,
            now=self._clock.now,
        )
        if result.done:
            self._finish(f"agent {result.action.kind}")
        elif not after_event:
            self.submit(TRANSFER_FAILED, "event")
        else:
            await self._say(fallback_phrase("event", TRANSFER_FAILED))

    def end_for_shutdown(self) -> None:
        """The server must stop now: say so, then hang up (idempotent)."""
        if not self._closing:
            self._closing = True
            self._log.warning("server stopping: ending the call with a goodbye")
            self._barge_task = asyncio.create_task(
                self._close_politely(SHUTDOWN_GOODBYE, "server stopping")
            )

    def _end_for_limit(self, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self._log.info("call limit reached: %s", reason)
            self._services.metrics.call_refused(reason)
            self._barge_task = asyncio.create_task(
                self._close_politely(LIMIT_GOODBYE[reason], f"limit: {reason}")
            )

    async def _close_politely(
        self, goodbye: str = SILENT_GOODBYE, reason: str = "caller silent"
    ) -> str:
        """Say ``goodbye`` (silence after a reprompt, or a call limit), then hang up."""
        if self.replying:
            await self.interrupt("caller silent")
        await self._say(goodbye)
        await self._perform(CallAction("hangup", reason=reason))
        return goodbye

    async def _say(self, text: str) -> None:
        """Speak a fixed ``text`` (no agent run), wait until the caller heard it, and
        tell the agent (for its record: the checkpoint and the transcript)."""
        self._turn += 1
        self._own_turn = turn = self._turn
        phrases: asyncio.Queue[str | None] = asyncio.Queue()
        phrases.put_nowait(text)
        phrases.put_nowait(None)
        await self._speak(turn, phrases)
        await self._until_heard()
        self.report.heard[turn] = heard = self._buffer.heard_text(turn)
        self._observe("agent", heard)
        self._record_spoken(heard)

    async def _until_heard(self) -> None:
        """Wait until the caller heard all audio sent so far (its marks came back)."""
        while self._buffer.speaking:
            self._progress.clear()
            await self._progress.wait()
