"""The echo line: the smallest graph that exercises a whole call.

It greets the caller, repeats what it recognised or which keys were pressed,
and says goodbye and hangs up when the caller says goodbye (or presses
``#``). A quick way to check a telephone set-up end to end (ASR in, TTS out,
barge-in, marks, hang-up): ``dialgraph demo --graph echo``.

Written the way a team writes its own flow, with nothing but LangGraph and
``dialgraph``::

    START -> echo --route_after_echo--> hang_up (ToolNode) -> END
                                   \\--> END

``echo`` answers every caller turn from its tag (:func:`dialgraph.caller_turn`);
to end the call it calls the ``hang_up`` tool like a model would, so the
request is in the checkpoint and the runtime hangs up once the goodbye was
heard. No model, no network.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from dialgraph import PhoneSettings, caller_turn, hang_up, is_call_start

__all__ = ["GREETING", "builder", "graph", "phone"]

GREETING = (
    "Hello, this is the Dialgraph echo line. Say something, or press a key, and I will repeat it."
)
_GOODBYE = re.compile(r"\b(good ?bye|bye|hang up)\b", re.IGNORECASE)
_HANG_UP_KEY = "#"

phone = PhoneSettings(name="the Dialgraph echo line", greeting=GREETING)


def _goodbye(words: str, reason: str) -> AIMessage:
    """Say ``words`` and call ``hang_up``: the call ends once they were heard."""
    call = {"name": hang_up.name, "args": {"reason": reason}, "id": f"echo-{uuid.uuid4().hex}"}
    return AIMessage(words, tool_calls=[call])


def echo(state: MessagesState) -> dict[str, Any]:
    """Answer the caller's turn: greet, repeat, or say goodbye."""
    messages = state["messages"]
    if is_call_start(messages):
        return {"messages": [AIMessage(GREETING)]}
    turn = caller_turn(messages[-1]) if messages else None
    if turn is None:
        raise ValueError("echo runs on a caller turn; the last message is not one")
    source = turn["source"]
    if source == "dtmf":
        keys = turn.get("digits") or turn["text"]
        if keys.strip() == _HANG_UP_KEY:
            return {"messages": [_goodbye("Goodbye.", "caller pressed #")]}
        return {"messages": [AIMessage(f"You pressed {keys}.")]}
    if source == "silence":
        return {"messages": [AIMessage("Are you still there? Say something and I will repeat it.")]}
    if source == "event":
        return {}  # nothing happens on this line that the caller needs to hear about
    if _GOODBYE.search(turn["text"]):
        return {"messages": [_goodbye("Goodbye, thanks for calling.", "caller said goodbye")]}
    return {"messages": [AIMessage(f"You said: {turn['text']}.")]}


def route_after_echo(state: MessagesState) -> Literal["hang_up", "__end__"]:
    """To the ``hang_up`` tool when the reply called it, else the turn is over."""
    last = state["messages"][-1] if state["messages"] else None
    if isinstance(last, AIMessage) and last.tool_calls:
        return "hang_up"
    return "__end__"


builder = StateGraph(MessagesState)
builder.add_node("echo", echo)
builder.add_node("hang_up", ToolNode([hang_up]))
builder.add_edge(START, "echo")
builder.add_conditional_edges("echo", route_after_echo, ["hang_up", END])
builder.add_edge("hang_up", END)

graph = builder.compile(name="echo")
