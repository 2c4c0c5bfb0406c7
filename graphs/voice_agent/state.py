"""The checkpointed state of one call's conversation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from langchain_core.messages import AnyMessage

from memory.window import windowed_messages

__all__ = ["MESSAGE_WINDOW", "InputState", "State"]

MESSAGE_WINDOW = 40  # ~10 caller turns of context: enough for any booking dialogue
# One reducer object: LangGraph compares the input and full schemas' channels by identity.
keep_recent_messages = windowed_messages(MESSAGE_WINDOW)


@dataclass
class InputState:
    """What one caller turn brings in."""

    messages: Annotated[list[AnyMessage], keep_recent_messages] = field(default_factory=list)
    """The recent conversation: caller turns, the agent's replies, tool calls and results.

    Bounded to the last ``MESSAGE_WINDOW`` messages (never splitting a tool
    call from its results) so every turn costs the same at turn 200 as at
    turn 1; the whole call is kept in its transcript. An interrupted reply is
    stored as the part the caller actually heard."""


@dataclass
class State(InputState):
    """The whole conversation state of a call.

    Call actions (transfer, hang-up) are not kept here: the call-action tools
    answer with a request that lives in ``messages`` (``dialgraph.action_message``)
    and the runtime carries it out after the reply.
    """

    caller_name: str | None = None
    """The caller's name, once known (from memory or given during the call)."""

    greeted: bool = False
    """Whether the greeting turn has run."""
