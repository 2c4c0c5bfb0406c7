"""A scenario played as text: the caller's words reach the flow as perfect transcripts.

No audio, no recogniser, no turn-taking: what the caller says is what the
flow gets (folded as a recogniser writes it: lower case, no punctuation), so
a failure here is one of understanding or dialogue, never of hearing. The
same scenario in audio mode then shows what the phone line costs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from graphs.runtime.loader import Flow
from graphs.runtime.text_call import TextCall
from spoken.words import fold
from telephony.eval.caller import EXACT
from telephony.eval.model_caller import caller_for
from telephony.eval.results import CallRecord, Exchange
from telephony.eval.scenario import Scenario
from telephony.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["MAX_REPLIES", "run_text"]

MAX_REPLIES = 40  # a text call still going after this many replies never ends
SILENCE_REPROMPTS = Settings().silence_reprompts  # then a live call says goodbye and hangs up


async def run_text(
    scenario: Scenario,
    flow: Flow,
    *,
    var_dir: Path,
    encryption_key: str | None = None,
    caller_model: BaseChatModel | None = None,
) -> CallRecord:
    """Play ``scenario`` against ``flow`` as text; the call's record (not yet judged).

    The call gets a database of its own in ``var_dir`` (encrypted with
    ``encryption_key``, as ``DIALGRAPH_CHECKPOINT_KEY``), where the
    scenario's earlier calls (``before``) are played first. A failure inside
    the flow ends this call with ``ended_by="error"`` and the error in one line.
    ``caller_model`` plays the scenario if it has a ``goal``.
    """
    earlier = [
        await _play(call, flow, var_dir=var_dir, encryption_key=encryption_key)
        for call in scenario.before
    ]
    record = await _play(
        scenario, flow, var_dir=var_dir, encryption_key=encryption_key, caller_model=caller_model
    )
    record.earlier = earlier
    return record


async def _play(
    scenario: Scenario,
    flow: Flow,
    *,
    var_dir: Path,
    encryption_key: str | None,
    caller_model: BaseChatModel | None = None,
) -> CallRecord:
    record = CallRecord(scenario=scenario.name, mode="text")
    caller = caller_for(scenario, caller_model, similarity=EXACT)
    started = time.monotonic()
    try:
        async with TextCall(
            flow,
            caller=scenario.caller.number,
            var_dir=var_dir,
            today=scenario.today,
            encryption_key=encryption_key,
        ) as call:
            reply = await call.start()
            silences = 0
            while True:
                exchange = Exchange(
                    turn=len(record.exchanges) + 1,
                    agent=reply,
                    at_s=round(time.monotonic() - started, 3),
                )
                record.exchanges.append(exchange)
                if (action := call.action) is not None:
                    kind = action.get("kind", "")
                    record.ended_by = "transfer" if kind == "transfer" else "agent"
                    record.end_reason = action.get("reason") or action.get("target") or kind
                    if kind == "transfer":
                        record.transfers.append(action.get("target", ""))
                    break
                if exchange.turn >= MAX_REPLIES:
                    record.ended_by = "timeout"
                    record.end_reason = f"still going after {MAX_REPLIES} replies"
                    break
                answer = await caller.respond(reply)
                exchange.caller, exchange.rule = answer.describe(), caller.matched[-1]
                if answer.kind == "hangup":
                    record.ended_by, record.end_reason = "caller", "the caller hung up"
                    break
                silences = silences + 1 if answer.kind == "silence" else 0
                if silences > SILENCE_REPROMPTS:
                    # On the phone the session, not the flow, ends a silent call politely.
                    record.ended_by, record.end_reason = "agent", "caller silent"
                    break
                if answer.kind == "say":
                    reply = await call.say(fold(answer.text))
                elif answer.kind == "press":
                    reply = await call.press(answer.text)
                else:
                    reply = await call.silence()
                if answer.hangup_after:
                    record.ended_by, record.end_reason = "caller", "the caller hung up"
                    break
            record.note_final_state(await call.state())
    except Exception as exc:  # a crashed flow fails this scenario, never the run
        record.ended_by = "error"
        record.end_reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    record.duration_s = round(time.monotonic() - started, 3)
    return record
