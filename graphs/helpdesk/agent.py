"""The Northwind Broadband helpdesk as a ``create_agent`` graph, for when a chat model is set.

The same tools as the explicit graph (``graph.py``), plus the call actions a
model needs (``transfer_call``, ``hang_up``, and ``collect_digits`` so a
ticket number can be keyed); the model decides the steps. The model is named
by ``DIALGRAPH_HELPDESK_MODEL`` (``provider:model`` as
``init_chat_model`` takes it, e.g. ``openai:gpt-4.1-mini``, with the
provider's usual key; unset, :data:`DEFAULT_MODEL`) and built only when a
graph is built, so this module imports without any key. The explicit graph
reads the same setting, but only when it is set: there the model helps the
rules understand a turn (``understander.py``).

``graph`` is a factory: Dialgraph calls it once per call with the call's
facts (``Flow.per_call``); ``langgraph dev`` calls it with its run config.
``phone`` is the helpdesk's phone settings, whose start-up hook here also
builds the model once, so a missing key stops the service at start-up
rather than at the first call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Mapping
from typing import Any

from langchain.agents import create_agent
from langchain.chat_models import init_chat_model
from langchain_core.language_models import BaseChatModel

from dialgraph import CallFacts, StartupInfo, call_facts, collect_digits, hang_up, transfer_call
from graphs.helpdesk.context import HelpdeskContext
from graphs.helpdesk.settings import phone as _phone
from graphs.helpdesk.settings import prepare
from graphs.helpdesk.understander import MODEL_ENV
from spoken.names import month_name, weekday_name
from tools.helpdesk import HELPDESK_TOOLS

__all__ = ["DEFAULT_MODEL", "MODEL_ENV", "SYSTEM_PROMPT", "graph", "make_model", "phone"]

DEFAULT_MODEL = "openai:gpt-4.1-mini"  # quick enough for a phone turn, good at tool calls

SYSTEM_PROMPT = """\
You answer the phone for Northwind Broadband, an internet provider. Your words \
are read aloud: speak in one to three short, plain sentences, with no lists or \
symbols.

You can:
- check for a known outage by the caller's five-digit ZIP code (check_outage);
- read a repair ticket's status by its six-digit number (ticket_status); callers \
may say it or key it (collect_digits lets them key it);
- open a repair ticket (open_ticket): first read the summary back and open it \
only after the caller says yes.

Never guess outages or ticket details: use the tools and say what they return. \
When the caller asks for a person, or for anything you cannot do, call \
transfer_call and say you are putting them through. When they are done, say \
goodbye and call hang_up.

Notes in brackets come from the phone line, not the caller: at "(call started)" \
greet the caller and say what you can help with; at "(silence)" ask if they are \
still there; "[event: transfer_failed]" means the transfer did not go through \
and the caller is still on the line.

Today is {today}."""


def _written_date(day: dt.date) -> str:
    """ "Tuesday, March 04, 2025": English names whatever the server's locale."""
    return f"{weekday_name(day)}, {month_name(day)} {day.day:02d}, {day.year}"


def make_model() -> BaseChatModel:
    """The chat model named by ``DIALGRAPH_HELPDESK_MODEL`` (default: :data:`DEFAULT_MODEL`)."""
    return init_chat_model(os.environ.get(MODEL_ENV) or DEFAULT_MODEL, temperature=0.2)


def graph(call: CallFacts | Mapping[str, Any] | None = None) -> Any:
    """The helpdesk agent for one call.

    Args:
        call: The call's facts (from Dialgraph), or a run config (from
            ``langgraph dev``, whose call facts are then empty).
    """
    facts = call if isinstance(call, CallFacts) else call_facts(call or {})
    return create_agent(
        make_model(),
        tools=[*HELPDESK_TOOLS, transfer_call, hang_up, collect_digits],
        system_prompt=SYSTEM_PROMPT.format(today=_written_date(facts.local_date())),
        context_schema=HelpdeskContext,
        name="helpdesk_agent",
    )


async def _start(startup: StartupInfo) -> None:
    make_model()  # no key, unknown provider: fail now, not on the first call
    await prepare(startup)


phone = dataclasses.replace(_phone, on_startup=_start)
