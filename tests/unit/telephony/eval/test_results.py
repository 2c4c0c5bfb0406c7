"""A call record keeps what the flow heard from the caller, from its final state."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from telephony.eval.results import CallRecord


def test_the_flow_heard_is_the_human_messages_of_the_final_state() -> None:
    record = CallRecord(scenario="s", mode="audio")
    record.note_final_state(
        {
            "messages": [
                HumanMessage("(call started)"),
                AIMessage("How can I help?"),
                HumanMessage("i like to cook a check up"),
                ToolMessage("done", tool_call_id="t1", name="book_appointment"),
                HumanMessage("  "),
                HumanMessage("4155550134"),
            ],
            "caller_name": "John",
        }
    )
    assert record.flow_heard == ["(call started)", "i like to cook a check up", "4155550134"]
    assert record.final_state["caller_name"] == "John"


def test_a_state_without_messages_heard_nothing() -> None:
    record = CallRecord(scenario="s", mode="text")
    record.note_final_state({})
    assert record.flow_heard == [] and record.final_state == {}
