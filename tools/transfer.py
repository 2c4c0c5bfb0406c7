"""Call-control tools: hand the call to the front desk, or end it.

They change no database; they record the request in graph state through a
``Command`` (``state.transfer`` / ``state.end_call``). The telephony layer acts
on it after the agent's reply has been spoken, so the caller hears
"transferring you" before the line moves.
"""

from __future__ import annotations

from langchain_core.messages import ToolMessage
from langchain_core.tools import tool
from langgraph.types import Command

from tools._runtime import CallRuntime
from tools.clinic import FRONT_DESK

__all__ = ["CALL_TOOLS", "end_call", "transfer_to_front_desk"]

TRANSFER_TEXT = "Transferring you to the front desk."
END_CALL_TEXT = "The call will end after this reply."


def _reply(runtime: CallRuntime, name: str, content: str, artifact: dict) -> ToolMessage:
    return ToolMessage(
        content=content, artifact=artifact, name=name, tool_call_id=runtime.tool_call_id or ""
    )


@tool(parse_docstring=True)
def transfer_to_front_desk(reason: str, runtime: CallRuntime) -> Command:
    """Hand the call to a person at the front desk.

    Use when the caller asks for a person, for anything you cannot do, or
    after repeated misunderstandings. Tell the caller you are transferring them.

    Args:
        reason: Why, in a few words (e.g. "caller asked for a person", "billing question").
    """
    reason = reason.strip() or "caller asked for a person"
    transfer = {"target": FRONT_DESK, "reason": reason}
    artifact = {"ok": True, **transfer}
    message = _reply(runtime, "transfer_to_front_desk", TRANSFER_TEXT, artifact)
    return Command(update={"transfer": transfer, "messages": [message]})


@tool(parse_docstring=True)
def end_call(runtime: CallRuntime, reason: str = "caller said goodbye") -> Command:
    """End the call after your reply, once the caller is done or says goodbye.

    Say a short goodbye in the same reply.

    Args:
        reason: Why the call ends, in a few words.
    """
    artifact = {"ok": True, "reason": reason.strip() or "caller said goodbye"}
    message = _reply(runtime, "end_call", END_CALL_TEXT, artifact)
    return Command(update={"end_call": True, "messages": [message]})


CALL_TOOLS = [transfer_to_front_desk, end_call]
