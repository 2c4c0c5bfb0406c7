"""The checkpointed state of one helpdesk call: the conversation, the step, the slots."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import AnyMessage

from memory.window import DEFAULT_MAX_MESSAGES, windowed_messages

__all__ = ["HeardValue", "InputState", "Pending", "Request", "Stage", "State", "ValueSlot"]

# One reducer object: LangGraph compares the input and full schemas' channels by identity.
keep_recent_messages = windowed_messages(DEFAULT_MAX_MESSAGES)

Stage = Literal[
    "greeting", "menu", "outage", "ticket_status", "new_ticket", "transferring", "ended"
]
"""Where the call is: the step the last reply belongs to."""

Request = Literal[
    "outage",
    "ticket_status",
    "new_ticket",
    "open_ticket",
    "person",
    "goodbye",
    "declined",
    "transfer_failed",
]
"""What the caller's latest turn asks the helpdesk to do, with a yes or a no
resolved against ``pending`` (a yes to "Shall I go ahead?" is ``open_ticket``,
a no is ``declined``); ``transfer_failed`` is the line's event after a transfer
that did not go through."""

Pending = Literal["open_ticket", "offer_ticket", "transfer", "confirm_value"]
"""What a yes from the caller does now: open the ticket just read back, start a
new ticket (offered when there is no outage), put the call through, or use the
value just read back (``unconfirmed``; a no asks for it again)."""

ValueSlot = Literal["zip_code", "ticket_number"]
"""The values a look-up needs, which the helpdesk reads back when heard unsure."""


class HeardValue(TypedDict):
    """A ZIP code or ticket number heard with too little confidence to use unconfirmed."""

    slot: ValueSlot
    """Which value it is."""
    value: str
    """The digits heard."""
    confidence: float
    """How sure the understanding step was (below the graph's ``CONFIRM_BELOW``)."""
    heard: str
    """The caller's words it was read from (perhaps the recogniser's other reading)."""


@dataclass
class InputState:
    """What one caller turn brings in (also the input form Studio shows)."""

    messages: Annotated[list[AnyMessage], keep_recent_messages] = field(default_factory=list)
    """The recent conversation: caller turns (tagged, see ``dialgraph.caller_turn``),
    the helpdesk's replies, tool calls and their results. Bounded so every turn
    costs the same however long the call; the whole call is in its transcript."""


@dataclass
class State(InputState):
    """The whole state of a helpdesk call."""

    stage: Stage = "greeting"
    """The step the last reply belongs to (shown in Studio; ``ended`` after goodbye)."""

    request: Request | None = None
    """What the latest caller turn asked for; ``None`` when it was not understood."""

    pending: Pending | None = None
    """The yes/no question the last reply asked, as what a yes does; ``None`` if none."""

    misses: int = 0
    """Caller turns in a row that were silent or not understood (two: offer a person)."""

    zip_code: str = ""
    """The caller's ZIP code, once given (five digits)."""

    ticket_number: str = ""
    """The ticket asked about, or the one opened on this call (six digits)."""

    description: str = ""
    """The fault in the caller's words: the summary of the ticket to open."""

    unconfirmed: HeardValue | None = None
    """A value heard unsure, read back and waiting for the caller's yes
    (``pending`` is ``confirm_value``); never used before it."""

    heard: dict[str, Any] | None = None
    """What the latest caller turn was understood as, ``Understanding.as_dict()``:
    intent, answer and values, each with its confidence, and which understander
    read it (``rules``, ``rules+model``)."""
