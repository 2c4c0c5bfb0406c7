"""What the clinic does around its calls: at start-up, per call, after a call.

These are the clinic's hooks in its phone settings (``phone`` in
:mod:`graphs.clinic.settings`); the runtime calls them and knows nothing
of the clinic:

- :func:`call_context` builds the graph's :class:`Context` for a call from
  the call's facts and where the service keeps its data;
- :func:`open_clinic` checks the chat model setting, seeds the calendar and
  loads the spoken-language libraries' data once, when the service starts
  (so a wrong ``DIALGRAPH_MODEL`` stops the start, not the first caller's
  turn, and the first booking does not wait for dateparser);
- :func:`remember_visit` notes a known caller's visit in long-term memory
  when the call ends.
"""

from __future__ import annotations

import os

from langgraph.store.base import BaseStore

from dialgraph import CallFacts, StartupInfo
from graphs.clinic.context import Context
from graphs.clinic.models import get_chat_model
from memory.store import CallerMemory
from spoken import warm as warm_spoken
from tools.calendar import get_calendar

__all__ = ["MODEL_ENV", "call_context", "model_spec", "open_clinic", "remember_visit"]

MODEL_ENV = "DIALGRAPH_MODEL"  # local | openai:<model> | openai-compatible:<url>|<model>


def model_spec() -> str:
    """The dialogue model named by ``DIALGRAPH_MODEL`` (``local`` when unset)."""
    return os.environ.get(MODEL_ENV, "").strip() or "local"


def call_context(facts: CallFacts, startup: StartupInfo) -> Context:
    """The clinic's run context for one call."""
    return Context(
        call_sid=facts.call_sid,
        caller=facts.caller,
        model=model_spec(),
        db_url=startup.database_url,
        today=startup.today,  # may pin the clock too ("2026-11-24T08:00")
        timezone=facts.timezone or startup.timezone,
    )


async def open_clinic(startup: StartupInfo) -> None:
    """Check the model setting, seed the calendar relative to today (idempotent), warm up.

    Raises:
        ModelSpecError: ``DIALGRAPH_MODEL`` is not one of the documented forms.
    """
    get_chat_model(model_spec())
    warm_spoken()  # the tools read model-written days with dateparser: ~0.5 s on first use
    today = Context(db_url=startup.database_url, today=startup.today, timezone=startup.timezone)
    await get_calendar(startup.database_url).seed(today.today_date())


async def remember_visit(facts: CallFacts, store: BaseStore) -> None:
    """Count the call as a visit of a caller whose number is known."""
    if facts.caller:
        await CallerMemory(store).record_visit(facts.caller)
