"""Call-control tools: hand the call to the front desk, or end it.

They change no database. Each answers with the runtime's call-action request
(:func:`dialgraph.action_message`): a ``ToolMessage`` whose artifact asks for a
transfer or a hang-up. The request lives in the checkpoint, and the runtime
carries it out once the caller has heard the reply, so the caller hears
"transferring you" before the line moves. The transfer names a destination
(:data:`FRONT_DESK_DESTINATION`); the number behind it is in the clinic's
phone settings, never shown to the model.

The names stay the clinic's own (``transfer_to_front_desk``, ``end_call``):
the offline model and the prompt call them by name.
"""

from __future__ import annotations

from typing import Annotated

from langchain_core.messages import ToolMessage
from langchain_core.tools import InjectedToolCallId, tool

from dialgraph import action_message

__all__ = ["CALL_CONTROL_TOOLS", "FRONT_DESK_DESTINATION", "end_call", "transfer_to_front_desk"]

FRONT_DESK_DESTINATION = "front desk"  # a key of the clinic's PhoneSettings.transfer_targets
TRANSFER_TEXT = "Transferring you to the front desk."
END_CALL_TEXT = "The call will end after this reply."


@tool(parse_docstring=True)
def transfer_to_front_desk(
    reason: str, tool_call_id: Annotated[str, InjectedToolCallId]
) -> ToolMessage:
    """Hand the call to a person at the front desk.

    Use when the caller asks for a person, for anything you cannot do, or
    after repeated misunderstandings. Tell the caller you are transferring them.

    Args:
        reason: Why, in a few words (e.g. "caller asked for a person", "billing question").
    """
    return action_message(
        "transfer",
        tool_call_id,
        name="transfer_to_front_desk",
        content=TRANSFER_TEXT,
        destination=FRONT_DESK_DESTINATION,
        reason=reason.strip() or "caller asked for a person",
    )


@tool(parse_docstring=True)
def end_call(
    tool_call_id: Annotated[str, InjectedToolCallId], reason: str = "caller said goodbye"
) -> ToolMessage:
    """End the call after your reply, once the caller is done or says goodbye.

    Say a short goodbye in the same reply.

    Args:
        reason: Why the call ends, in a few words.
    """
    return action_message(
        "hangup",
        tool_call_id,
        name="end_call",
        content=END_CALL_TEXT,
        reason=reason.strip() or "caller said goodbye",
    )


CALL_CONTROL_TOOLS = [transfer_to_front_desk, end_call]
