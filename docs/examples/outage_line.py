"""An outage line (docs/graph-contract.md): ``--graph docs/examples/outage_line.py:graph``."""

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph

from dialgraph import (
    Expect,
    PhoneSettings,
    SpeechHints,
    ask,
    call_action,
    caller_turn,
    digits_of,
    is_call_start,
)  # fmt: skip

OUTAGES = {"55103": "a cable cut near Main Street; repairs finish by six pm"}


def greet(state: MessagesState) -> dict:
    return {"messages": [AIMessage("Northwind outage line. Is your internet down?")]}


def check_area(state: MessagesState) -> dict:
    answer = caller_turn(state["messages"][-1]) or {"text": ""}
    if any(w in answer["text"].lower() for w in ("person", "agent", "human")):
        return {"messages": call_action("transfer", say="Putting you through.", reason="asked")}
    zip_code = digits_of(ask("Which ZIP code? Say it or key it.", Expect.digits(5)))
    outage = OUTAGES.get(zip_code)
    reply = f"Yes, {outage}." if outage else "There is no known outage there."
    return {"messages": call_action("hangup", say=f"{reply} Goodbye!", reason="answered")}


def route(state: MessagesState) -> str:
    return "greet" if is_call_start(state["messages"]) else "check_area"


builder = StateGraph(MessagesState)
builder.add_node("greet", greet)
builder.add_node("check_area", check_area)
builder.add_conditional_edges(START, route, ["greet", "check_area"])
builder.add_edge("greet", END)
builder.add_edge("check_area", END)
graph = builder.compile()

phone = PhoneSettings(
    name="Northwind Broadband",
    transfer_targets={"support": "+15550100300"},
    speech=SpeechHints(phrases=("yes my internet is down", "five five one zero three")),
)
