"""The bounded message window: where it cuts, and that a graph keeps working with it."""

from __future__ import annotations

import uuid
from typing import Annotated, TypedDict

import pytest
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import REMOVE_ALL_MESSAGES

from memory.window import trim_window, windowed_messages


def _h(i: int) -> HumanMessage:
    return HumanMessage(f"caller {i}", id=f"h{i}")


def _a(i: int) -> AIMessage:
    return AIMessage(f"agent {i}", id=f"a{i}")


def _call(i: int, n_calls: int = 1) -> AIMessage:
    calls = [
        {"name": "check_availability", "args": {"day": "tuesday"}, "id": f"c{i}-{k}"}
        for k in range(n_calls)
    ]
    return AIMessage("", id=f"t{i}", tool_calls=calls)


def _tool(i: int, k: int = 0) -> ToolMessage:
    return ToolMessage("free at 15:00", tool_call_id=f"c{i}-{k}", id=f"r{i}-{k}")


def _ids(messages: list[AnyMessage]) -> list[str]:
    return [m.id for m in messages]


S = SystemMessage("You are the receptionist.", id="sys")


@pytest.mark.parametrize(
    ("history", "max_messages", "kept"),
    [
        # Under budget: unchanged.
        ([_h(1), _a(1)], 4, ["h1", "a1"]),
        # Plain turns: the newest turns that fit, starting at a caller line.
        ([_h(1), _a(1), _h(2), _a(2), _h(3), _a(3)], 4, ["h2", "a2", "h3", "a3"]),
        # Odd budget: cut moves forward to the next caller line (3 kept, not 5 split).
        ([_h(1), _a(1), _h(2), _a(2), _h(3), _a(3)], 3, ["h3", "a3"]),
        # A tool round inside the budget stays whole.
        (
            [_h(1), _a(1), _h(2), _call(2), _tool(2), _a(2)],
            4,
            ["h2", "t2", "r2-0", "a2"],
        ),
        # The budget would start on a ToolMessage: cut at the next caller line instead.
        (
            [_h(1), _call(1), _tool(1), _a(1), _h(2), _a(2)],
            4,
            ["h2", "a2"],
        ),
        # One turn longer than the budget: start at an AI message, never a tool answer.
        (
            [_h(1), _call(1), _tool(1), _call(2), _tool(2), _a(2)],
            3,
            ["t2", "r2-0", "a2"],
        ),
        # Only tool answers fit: go back to the AI message that asked (over budget).
        (
            [_h(1), _call(1, n_calls=3), _tool(1, 0), _tool(1, 1), _tool(1, 2)],
            2,
            ["t1", "r1-0", "r1-1", "r1-2"],
        ),
        # Leading system messages are pinned and count towards the budget.
        ([S, _h(1), _a(1), _h(2), _a(2)], 3, ["sys", "h2", "a2"]),
        # Budget smaller than the pinned part: still the newest safe message.
        ([S, _h(1), _a(1)], 1, ["sys", "a1"]),
    ],
)
def test_trim_window(history: list[AnyMessage], max_messages: int, kept: list[str]) -> None:
    assert _ids(trim_window(history, max_messages)) == kept


def test_trim_window_rejects_empty_budget() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        trim_window([_h(1)], 0)
    with pytest.raises(ValueError, match="at least 1"):
        windowed_messages(0)


def test_reducer_merges_by_id_then_trims() -> None:
    reduce = windowed_messages(4)
    state = reduce([], [_h(1), _a(1)])
    state = reduce(state, [_h(2), _a(2)])
    state = reduce(state, [_h(3)])
    assert _ids(state) == ["h2", "a2", "h3"]
    # An update by id replaces in place (e.g. the reply cut to what was heard).
    state = reduce(state, [AIMessage("agent 2 (cut)", id="a2")])
    assert [m.content for m in state] == ["caller 2", "agent 2 (cut)", "caller 3"]


def test_reducer_ignores_removal_of_trimmed_message() -> None:
    reduce = windowed_messages(2)
    state = reduce([], [_h(1), _a(1), _h(2), _a(2)])
    assert _ids(state) == ["h2", "a2"]
    # h1 already left the window: plain add_messages would raise here.
    state = reduce(state, [RemoveMessage(id="h1"), RemoveMessage(id="a2")])
    assert _ids(state) == ["h2"]


def test_reducer_supports_remove_all_and_add_then_remove() -> None:
    reduce = windowed_messages(4)
    state = reduce([], [_h(1), _a(1)])
    assert reduce(state, [RemoveMessage(id=REMOVE_ALL_MESSAGES), _h(9)]) == [_h(9)]
    assert _ids(reduce(state, [_h(2), RemoveMessage(id="h2")])) == ["h1", "a1"]


def test_reducer_assigns_ids_and_accepts_dicts() -> None:
    state = windowed_messages(4)([], [{"role": "user", "content": "hello"}])
    assert isinstance(state[0], HumanMessage)
    assert state[0].id


class _State(TypedDict):
    messages: Annotated[list[AnyMessage], windowed_messages(6)]


def _graph_with_tools():
    """Every third turn makes a tool call and answers after the tool result."""

    def agent(state: _State) -> dict:
        last = state["messages"][-1]
        if isinstance(last, HumanMessage) and "book" in last.content:
            call = {"name": "book_appointment", "args": {}, "id": f"call-{uuid.uuid4().hex}"}
            return {"messages": [AIMessage("", tool_calls=[call])]}
        return {"messages": [AIMessage(f"reply to {last.content}")]}

    def tools(state: _State) -> dict:
        call = state["messages"][-1].tool_calls[0]
        return {"messages": [ToolMessage("booked", tool_call_id=call["id"])]}

    def route(state: _State) -> str:
        return "tools" if state["messages"][-1].tool_calls else END

    builder = StateGraph(_State)
    builder.add_node("agent", agent)
    builder.add_node("tools", tools)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", END])
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=InMemorySaver())


async def test_graph_state_stays_bounded_and_valid() -> None:
    graph = _graph_with_tools()
    config = {"configurable": {"thread_id": "call-1"}}
    for turn in range(30):
        text = "book a checkup" if turn % 3 == 0 else f"question {turn}"
        await graph.ainvoke({"messages": [HumanMessage(text)]}, config)
        messages = (await graph.aget_state(config)).values["messages"]
        assert len(messages) <= 6
        assert isinstance(messages[0], HumanMessage), "window starts at a caller line"
        asked = {c["id"] for m in messages if isinstance(m, AIMessage) for c in m.tool_calls}
        answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
        assert asked == answered, "tool calls and their answers stay together"
    assert messages[-1].content.startswith("reply")
