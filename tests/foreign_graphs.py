"""Three graphs written the way LangGraph users write them, not for Dialgraph.

Loaded by ``tests/integration/test_foreign_graphs.py`` through the loader,
and by ``langgraph dev`` in that test (so Studio can read their calls).
Each uses only LangGraph, LangChain and the call tools Dialgraph exports.

- ``support_agent``: ``create_agent`` with a chat model (a scripted test
  double here) that greets, then calls ``transfer_call``;
- ``two_questions``: a hand-built ``StateGraph`` whose node asks two
  questions with plain ``interrupt()``, then hangs up through a ``ToolNode``;
- ``no_greeting``: a graph that says nothing at call start (the runtime's
  configured greeting plays) and hangs up when the caller says goodbye.
"""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import interrupt

from dialgraph import PhoneSettings, SpeechHints, hang_up, transfer_call
from tests.fakes_graph import ScriptedChatModel, Step

SUPPORT_NUMBER = "+15550100300"
GREETING = "Welcome to the parts desk. How can I help?"

# -- create_agent -------------------------------------------------------------------
support_agent = create_agent(
    ScriptedChatModel(
        steps=[
            Step(text="Hello, you have reached the support line."),
            Step(tool_calls=[("transfer_call", {"reason": "caller asked for a person"})]),
            Step(text="Of course, putting you through to a person now."),
        ]
    ),
    tools=[transfer_call],
    system_prompt="You answer the support line.",
)


# -- interrupt() ----------------------------------------------------------------------
def questions(state: MessagesState) -> dict[str, Any]:
    """Ask for a day and a time, then say goodbye and hang up."""
    day = interrupt("Which day would you like to come in?")
    time = interrupt("And at what time?")
    text = f"Thank you, see you on {day['text']} at {time['text']}. Goodbye."
    call = {"name": "hang_up", "args": {"reason": "booked"}, "id": "hang_up_1"}
    return {"messages": [AIMessage(text, tool_calls=[call])]}


_questions = StateGraph(MessagesState)
_questions.add_node("questions", questions)
_questions.add_node("tools", ToolNode([hang_up]))
_questions.add_edge(START, "questions")
_questions.add_edge("questions", "tools")
_questions.add_edge("tools", END)
two_questions = _questions.compile()


# -- no greeting ----------------------------------------------------------------------
def listen(state: MessagesState) -> dict[str, Any]:
    """Say nothing at the start; answer a goodbye with a goodbye and hang up."""
    last = state["messages"][-1]
    words = str(last.content).lower()
    if "bye" in words:
        call = {"name": "hang_up", "args": {"reason": "goodbye"}, "id": f"bye_{len(words)}"}
        return {"messages": [AIMessage("Goodbye, thanks for calling.", tool_calls=[call])]}
    if words.startswith("("):  # the call-start turn: nothing to say
        return {}
    return {"messages": [AIMessage("Noted. Anything else?")]}


def after_listen(state: MessagesState) -> str:
    last = state["messages"][-1]
    return "tools" if getattr(last, "tool_calls", None) else END


_quiet = StateGraph(MessagesState)
_quiet.add_node("listen", listen)
_quiet.add_node("tools", ToolNode([hang_up]))
_quiet.add_edge(START, "listen")
_quiet.add_conditional_edges("listen", after_listen, ["tools", END])
_quiet.add_edge("tools", END)
no_greeting = _quiet.compile()

phone = PhoneSettings(
    name="Parts desk",
    greeting=GREETING,
    transfer_targets={"support": SUPPORT_NUMBER},
    speech=SpeechHints(
        phrases=(
            "i would like to talk to a person please",
            "can i speak to someone",
            "tuesday",
            "on tuesday",
            "three o'clock",
            "at three o'clock",
            "thank you goodbye",
            "goodbye",
        )
    ),
)
