"""perform_call_action: what a transfer or hang-up did, and when it is tried again.

The call control is a scripted fake; the clock is a counter the fake moves,
so "the first attempt took long" needs no real waiting.
"""

from __future__ import annotations

import logging

import pytest

from telephony.call.actions import RETRY_WITHIN_S, Outcome, perform_call_action
from telephony.call.agent import CallAction
from telephony.metrics import CallMetrics
from telephony.speech.base import CallInfo, ProviderError
from tests.fakes import FakeCallControl

CALLER = "+15551230000"
FRONT_DESK = "+15550100200"
CALL = CallInfo(call_sid="CA" + "1" * 32, stream_sid="MZ" + "2" * 32, caller=CALLER)
TRANSFER = CallAction("transfer", FRONT_DESK, "caller asked")
SERVER_ERROR = ProviderError("twilio", "Twilio error 20500 (HTTP 500)", retryable=True)
BAD_NUMBER = ProviderError("twilio", "Twilio error 21211 (HTTP 400)", retryable=False)
CALL_CONTROL_ERRORS = 'dialgraph_errors_total{kind="call_control"}'

log = logging.getLogger("test.actions")


class SlowControl(FakeCallControl):
    """Each transfer attempt takes ``seconds`` on the fake clock."""

    def __init__(self, seconds: float, failures: list[Exception]) -> None:
        super().__init__(failures)
        self.seconds = seconds
        self.clock = 0.0

    def now(self) -> float:
        return self.clock

    async def transfer(self, call_sid: str, target: str, *, caller_id: str = "") -> None:
        self.clock += self.seconds
        await super().transfer(call_sid, target, caller_id=caller_id)


def errors(metrics: CallMetrics) -> int:
    lines = [x for x in metrics.render().splitlines() if x.startswith(CALL_CONTROL_ERRORS)]
    return int(float(lines[0].split()[-1])) if lines else 0


def failure_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_transfer_that_goes_through_ends_the_stream() -> None:
    control, metrics = FakeCallControl(), CallMetrics()
    result = await perform_call_action(TRANSFER, CALL, control, metrics, log)
    assert result.outcome is Outcome.DONE and result.done
    assert control.transfers == [(CALL.call_sid, FRONT_DESK, CALLER)]
    assert errors(metrics) == 0


async def test_without_call_control_the_transfer_fails_and_the_call_goes_on(caplog) -> None:
    metrics = CallMetrics()
    result = await perform_call_action(TRANSFER, CALL, None, metrics, log)
    assert result.outcome is Outcome.FAILED and not result.done
    assert result.action == TRANSFER
    assert errors(metrics) == 1
    (line,) = failure_lines(caplog)
    assert "no call control" in line.getMessage()


async def test_a_refused_transfer_is_not_repeated(caplog) -> None:
    control, metrics = FakeCallControl([BAD_NUMBER]), CallMetrics()
    result = await perform_call_action(TRANSFER, CALL, control, metrics, log)
    assert result.outcome is Outcome.FAILED
    assert len(control.attempts) == 1, "a 4xx is not retried"
    assert errors(metrics) == 1
    (line,) = failure_lines(caplog)
    assert "21211" in line.getMessage() and "after one retry" not in line.getMessage()


async def test_a_transient_failure_is_retried_once_and_can_succeed(caplog) -> None:
    control, metrics = FakeCallControl([SERVER_ERROR]), CallMetrics()
    result = await perform_call_action(TRANSFER, CALL, control, metrics, log)
    assert result.outcome is Outcome.DONE
    assert len(control.attempts) == 2 and len(control.transfers) == 1
    assert errors(metrics) == 0
    assert not failure_lines(caplog)


async def test_two_transient_failures_fail_with_one_log_line_and_no_numbers(caplog) -> None:
    control, metrics = FakeCallControl([SERVER_ERROR, SERVER_ERROR]), CallMetrics()
    caplog.set_level(logging.DEBUG)
    result = await perform_call_action(TRANSFER, CALL, control, metrics, log)
    assert result.outcome is Outcome.FAILED
    assert len(control.attempts) == 2, "one retry, not more"
    assert errors(metrics) == 1
    (line,) = failure_lines(caplog)
    assert "after one retry" in line.getMessage()
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert FRONT_DESK not in everything and CALLER not in everything


@pytest.mark.parametrize(
    ("seconds", "attempts"), [(RETRY_WITHIN_S / 2, 2), (RETRY_WITHIN_S + 1, 1)]
)
async def test_a_failure_that_kept_the_caller_waiting_is_not_repeated(seconds, attempts) -> None:
    control = SlowControl(seconds, [SERVER_ERROR, SERVER_ERROR])
    result = await perform_call_action(TRANSFER, CALL, control, CallMetrics(), log, now=control.now)
    assert result.outcome is Outcome.FAILED
    assert len(control.attempts) == attempts


async def test_an_unexpected_error_in_call_control_is_a_failed_transfer(caplog) -> None:
    control, metrics = FakeCallControl([RuntimeError("bug")]), CallMetrics()
    result = await perform_call_action(TRANSFER, CALL, control, metrics, log)
    assert result.outcome is Outcome.FAILED
    assert len(control.attempts) == 1
    (line,) = failure_lines(caplog)
    assert "RuntimeError" in line.getMessage()
    # The traceback is kept (as exc_text once a redacting filter has rendered it).
    assert line.exc_info is not None or "RuntimeError: bug" in (line.exc_text or "")


async def test_a_hang_up_ends_the_stream_even_when_twilio_fails(caplog) -> None:
    class Failing(FakeCallControl):
        async def hangup(self, call_sid: str) -> None:
            raise SERVER_ERROR

    metrics = CallMetrics()
    action = {"kind": "hangup", "reason": "caller said goodbye"}  # as graphs hand it over
    result = await perform_call_action(action, CALL, Failing(), metrics, log)
    assert result.outcome is Outcome.DONE
    assert result.action == CallAction("hangup", "", "caller said goodbye")
    assert errors(metrics) == 1
    assert (await perform_call_action(action, CALL, None, metrics, log)).done
