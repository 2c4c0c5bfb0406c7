"""Tools of the Northwind Broadband helpdesk: outages by ZIP code, ticket status, new tickets.

Plain LangChain tools, used by the helpdesk's explicit graph (through its
``ToolNode``) and by its ``create_agent`` variant alike. Each answers with a
sentence to read to the caller and an artifact (a plain dict) the graph can
route on.

- **Where the data is**: the run's context carries ``database_url`` (the
  flow's ``PhoneSettings.context`` puts ``StartupInfo.database_url`` there);
  read structurally, so these tools import no graph. Without a context
  (Studio, a bare ``ToolNode``) they use the service's own default:
  ``DIALGRAPH_DATABASE_URL``, else ``var/dialgraph.db``.
- **Never dead air**: a failure (database down, a bug) comes back as a polite
  sentence offering a person, never as an exception into the call.
- **Numbers as heard**: arguments may be digits or digit words ("five five
  one oh three"); ZIP codes and ticket numbers are read back digit by digit
  ("5 5 1 0 3"), which text-to-speech says one digit at a time.
- ``open_ticket`` writes, so it is a :func:`dialgraph.side_effect`: a
  barge-in never cuts it halfway and a repeated tool call never opens a
  second ticket.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from typing import Any

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime

from dialgraph import call_facts, side_effect
from memory.checkpointer import DATABASE_URL_ENV, DEFAULT_SQLITE_NAME
from spoken.digits import normalise
from tools._helpdesk_db import Helpdesk, Outage, Ticket, get_helpdesk

__all__ = [
    "HELPDESK_TOOLS",
    "TICKET_DIGITS",
    "UNAVAILABLE",
    "ZIP_DIGITS",
    "check_outage",
    "default_database_url",
    "digits_in",
    "open_ticket",
    "prepare_helpdesk",
    "spoken_digits",
    "ticket_status",
    "with_digits",
]

logger = logging.getLogger(__name__)

ZIP_DIGITS = 5
TICKET_DIGITS = 6
UNAVAILABLE = (
    "I'm sorry, I can't reach our service systems right now. "
    "I can put you through to a person if you like."
)
_STATUS_WORDS = {
    "open": "is open",
    "scheduled": "is scheduled",
    "in_progress": "is in progress",
    "resolved": "has been resolved",
}

# Injected by ToolNode, never shown to the model (``Any``: the context is read
# structurally, and an unparametrised ToolRuntime makes pydantic warn per call).
HelpdeskRuntime = ToolRuntime[Any, Any]


def default_database_url() -> str:
    """The service's database when no context names one (same default as the service)."""
    return os.environ.get(DATABASE_URL_ENV, "").strip() or f"sqlite:///var/{DEFAULT_SQLITE_NAME}"


def with_digits(text: str) -> str:
    """``text`` with spoken digit runs written as digits ("is it five five one oh three"
    -> "is it 55103"), by the same rules as redaction (:mod:`spoken.digits`)."""
    return normalise(text).normalised


def digits_in(text: str) -> str:
    """Every digit in ``text``, spoken digits included: "five five one oh three" -> "55103"."""
    return "".join(ch for ch in with_digits(text) if ch.isdigit())


def spoken_digits(digits: str) -> str:
    """A number read digit by digit: "55103" -> "5 5 1 0 3"."""
    return " ".join(digits)


def _helpdesk(runtime: HelpdeskRuntime | None) -> Helpdesk:
    context = getattr(runtime, "context", None)
    if isinstance(context, Mapping):
        url = context.get("database_url")
    else:
        url = getattr(context, "database_url", None)
    return get_helpdesk(str(url or default_database_url()))


def _request_key(runtime: HelpdeskRuntime | None) -> str:
    """``"{thread_id}:{tool_call_id}"``; random outside a graph (then not idempotent)."""
    config = getattr(runtime, "config", None) or {}
    thread_id = str((config.get("configurable") or {}).get("thread_id") or "no-thread")
    call_id = getattr(runtime, "tool_call_id", None) or f"direct-{uuid.uuid4().hex}"
    return f"{thread_id}:{call_id}"


def _unavailable() -> tuple[str, dict[str, Any]]:
    return UNAVAILABLE, {"ok": False, "error": "unavailable"}


# -- what the tools say ----------------------------------------------------------------
def _describe_outage(zip_code: str, outage: Outage | None) -> str:
    """Words for the outage on record in ``zip_code`` (or for none)."""
    where = f"ZIP code {spoken_digits(zip_code)}"
    if outage is None:
        return f"There's no known outage in {where}."
    if outage.status == "resolved":
        return (
            f"There was an outage in {where}, caused by {outage.cause}, but it has been fixed. "
            "If you're still offline, please restart your router."
        )
    return (
        f"Yes, there's a known outage in {where}, in {outage.area}, caused by {outage.cause}. "
        f"We expect service to be back {outage.restore_by}."
    )


def _describe_ticket(ticket: Ticket) -> str:
    """Words for a ticket's status and latest note."""
    status = _STATUS_WORDS.get(ticket.status, f"is {ticket.status.replace('_', ' ')}")
    return f"Ticket {spoken_digits(ticket.number)} {status}. {ticket.note}"


# -- the tools -------------------------------------------------------------------------
@tool(response_format="content_and_artifact", parse_docstring=True)
async def check_outage(zip_code: str, runtime: HelpdeskRuntime) -> tuple[str, dict[str, Any]]:
    """Check whether there is a known service outage in a ZIP code.

    Args:
        zip_code: The caller's five-digit ZIP code, e.g. "55103".
    """
    digits = digits_in(zip_code)
    if len(digits) != ZIP_DIGITS:
        return (
            "A ZIP code has five digits. Could you tell me yours again?",
            {"ok": False, "error": "bad_zip", "zip_code": digits},
        )
    try:
        outage = await _helpdesk(runtime).outage(digits)
    except Exception:
        logger.exception("check_outage failed")  # no arguments: they are the caller's words
        return _unavailable()
    status = outage.status if outage is not None else "none"
    return _describe_outage(digits, outage), {"ok": True, "zip_code": digits, "outage": status}


@tool(response_format="content_and_artifact", parse_docstring=True)
async def ticket_status(ticket_number: str, runtime: HelpdeskRuntime) -> tuple[str, dict[str, Any]]:
    """Look up the status of an existing repair ticket.

    Args:
        ticket_number: The six-digit ticket number, e.g. "482913".
    """
    digits = digits_in(ticket_number)
    if len(digits) != TICKET_DIGITS:
        return (
            "Ticket numbers have six digits. Could you give me yours again?",
            {"ok": False, "error": "bad_number", "ticket_number": digits},
        )
    try:
        ticket = await _helpdesk(runtime).ticket(digits)
    except Exception:
        logger.exception("ticket_status failed")
        return _unavailable()
    if ticket is None:
        return (
            f"I couldn't find ticket {spoken_digits(digits)}. "
            "The number is in the email we sent when the ticket was opened.",
            {"ok": False, "error": "not_found", "ticket_number": digits},
        )
    return _describe_ticket(ticket), {
        "ok": True,
        "ticket_number": ticket.number,
        "status": ticket.status,
    }


@side_effect
@tool(response_format="content_and_artifact", parse_docstring=True)
async def open_ticket(
    summary: str, runtime: HelpdeskRuntime, zip_code: str = ""
) -> tuple[str, dict[str, Any]]:
    """Open a repair ticket for the caller's problem (this writes to the ticket system).

    Read the summary back to the caller and get a yes before calling this.

    Args:
        summary: The problem in the caller's words, one short sentence.
        zip_code: The caller's five-digit ZIP code, if they gave it.
    """
    summary = " ".join(summary.split())
    if not summary:
        return (
            "Please tell me briefly what's wrong first.",
            {"ok": False, "error": "no_summary"},
        )
    zip_digits = digits_in(zip_code)
    try:
        ticket, replayed = await _helpdesk(runtime).open_ticket(
            _request_key(runtime),
            summary=summary,
            zip_code=zip_digits if len(zip_digits) == ZIP_DIGITS else "",
            caller=call_facts(getattr(runtime, "config", None)).caller,
        )
    except Exception:
        logger.exception("open_ticket failed")
        return _unavailable()
    return (
        f"I've opened ticket {spoken_digits(ticket.number)} for you. {ticket.note}",
        {"ok": True, "ticket_number": ticket.number, "replayed": replayed},
    )


HELPDESK_TOOLS: list[BaseTool] = [check_outage, ticket_status, open_ticket]
"""The helpdesk's own tools (call actions such as ``transfer_call`` come from ``dialgraph``)."""


async def prepare_helpdesk(database_url: str) -> None:
    """Create the ``helpdesk_*`` tables and write the demo rows (idempotent)."""
    await get_helpdesk(database_url).setup()
