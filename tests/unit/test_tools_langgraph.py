"""The clinic tools run by a real ToolNode in a small checkpointed graph.

The graph is what the voice agent's ``tools`` node does: the model's AIMessage
with tool calls goes in; ToolMessages (content + artifact) come out, call
actions among them as the runtime's requests; the checkpoint holds them.
Context (caller, database, today) arrives through LangGraph's runtime, the
thread id through the run's config. Each test has its own side-effect ledger.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph, add_messages
from langgraph.prebuilt import ToolNode

from dialgraph import is_side_effect, requested_actions
from graphs.clinic.context import Context
from graphs.runtime.effects import current_ledger, effect_key, use_ledger
from memory.effects import InMemoryEffectLedger
from tools import CLINIC_TOOLS
from tools._runtime import UNAVAILABLE
from tools._seed import RETURNING_CALLER
from tools.calendar import close_calendars

TODAY = "2025-03-03"  # a Monday
CALLER = "+15557770001"


class ToolState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]


@pytest.fixture(autouse=True)
def ledger() -> Iterator[InMemoryEffectLedger]:
    fresh = InMemoryEffectLedger()
    previous = use_ledger(fresh)
    yield fresh
    use_ledger(previous)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/var/dialgraph.db"


@pytest.fixture
async def graph():
    builder = StateGraph(ToolState, context_schema=Context)
    builder.add_node("tools", ToolNode(CLINIC_TOOLS))
    builder.add_edge(START, "tools")
    builder.add_edge("tools", END)
    yield builder.compile(checkpointer=InMemorySaver())
    await close_calendars()


async def run_tools(
    graph,
    *calls: tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], str],
    db_url: str,
    caller: str = CALLER,
    thread: str = "CA-thread-1",
    today: str = TODAY,
) -> tuple[dict[str, Any], list[ToolMessage]]:
    """One tools step for an AIMessage with ``calls`` (name, args[, id]); new ToolMessages."""
    tool_calls = [
        {"name": c[0], "args": c[1], "id": c[2] if len(c) > 2 else f"call_{i}_{c[0]}"}
        for i, c in enumerate(calls)
    ]
    ai = AIMessage(content="", tool_calls=tool_calls)
    config = {"configurable": {"thread_id": thread}}
    context = Context(call_sid=thread, caller=caller, db_url=db_url, today=today)
    state = await graph.ainvoke({"messages": [ai]}, config, context=context)
    ids = {call["id"] for call in tool_calls}
    answers = [m for m in state["messages"] if isinstance(m, ToolMessage) and m.tool_call_id in ids]
    by_id = {m.tool_call_id: m for m in answers}  # the latest answer per call id
    return state, [by_id[call["id"]] for call in tool_calls]


def _booked_rows(db_url: str) -> list[tuple]:
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        return conn.execute(
            "SELECT id, phone, name, day, time FROM appointments"
            " WHERE phone = ? AND status = 'booked' ORDER BY id",
            (CALLER,),
        ).fetchall()


def test_the_model_sees_only_real_arguments() -> None:
    names = {tool.name for tool in CLINIC_TOOLS}
    assert names == {
        "check_availability",
        "book_appointment",
        "cancel_appointment",
        "reschedule_appointment",
        "list_my_appointments",
        "clinic_info",
        "transfer_to_front_desk",
        "end_call",
    }
    side_effects = {tool.name for tool in CLINIC_TOOLS if is_side_effect(tool)}
    assert side_effects == {"book_appointment", "cancel_appointment", "reschedule_appointment"}
    for tool in CLINIC_TOOLS:
        properties = tool.tool_call_schema.model_json_schema().get("properties", {})
        assert "runtime" not in properties and "tool_call_id" not in properties, tool.name
        assert tool.description
    book = next(t for t in CLINIC_TOOLS if t.name == "book_appointment")
    assert book.tool_call_schema.model_json_schema()["required"] == [
        "appointment_type",
        "day",
        "time",
        "name",
    ]


async def test_check_availability_offers_a_few_spaced_times(graph, db_url: str) -> None:
    _, [answer] = await run_tools(
        graph,
        ("check_availability", {"day": "2025-03-05", "part_of_day": "afternoon"}),
        db_url=db_url,
    )
    assert answer.artifact["ok"] is True
    times = [slot["time"] for slot in answer.artifact["slots"]]
    assert times == ["12:00", "12:30", "13:00", "13:30", "14:00", "14:30"]
    assert answer.content == (
        "For a checkup on Wednesday, March fifth in the afternoon,"
        " I have noon, twelve thirty, one, one thirty, two or two thirty p.m."
    )


async def test_check_availability_on_sunday_says_closed(graph, db_url: str) -> None:
    _, [answer] = await run_tools(graph, ("check_availability", {"day": "Sunday"}), db_url=db_url)
    assert answer.artifact["error"] == "closed"
    assert answer.content.startswith("We're closed on Sundays.")


async def test_book_then_replay_the_same_call_books_once(graph, db_url: str) -> None:
    args = {
        "appointment_type": "checkup",
        "day": "2025-03-05",
        "time": "14:00",
        "name": "ada lovelace",
    }
    _, [answer] = await run_tools(graph, ("book_appointment", args, "call_book"), db_url=db_url)
    assert answer.artifact["ok"] is True
    appt = answer.artifact["appointment"]
    assert appt["name"] == "Ada Lovelace" and appt["time"] == "14:00"
    assert answer.content.startswith("You're booked: a checkup with Dr. Patel on Wednesday")
    # A run repeated after a barge-in or a crash: answered from the runtime's ledger.
    _, [replay] = await run_tools(graph, ("book_appointment", args, "call_book"), db_url=db_url)
    assert replay.content == answer.content and replay.artifact == answer.artifact
    assert len(_booked_rows(db_url)) == 1
    record = await current_ledger().get(effect_key("CA-thread-1", "call_book"))
    assert record is not None and record.artifact == answer.artifact
    assert record.message("call_book").content.startswith("You're booked")
    assert await current_ledger().get(effect_key("CA-thread-1", "call_never")) is None
    # Without the ledger (another worker's memory), the calendar still books once.
    use_ledger(InMemoryEffectLedger())
    _, [again] = await run_tools(graph, ("book_appointment", args, "call_book"), db_url=db_url)
    assert again.artifact == answer.artifact
    assert len(_booked_rows(db_url)) == 1
    # The checkpoint holds the ToolMessages with their artifacts.
    saved = await graph.aget_state({"configurable": {"thread_id": "CA-thread-1"}})
    assert saved.values["messages"][-1].artifact == answer.artifact


async def test_two_parallel_calls_for_one_slot_book_once(graph, db_url: str) -> None:
    args = {
        "appointment_type": "checkup",
        "day": "2025-03-05",
        "time": "15:00",
        "name": "Ada",
        "doctor": "Dr. Nguyen",
    }
    _, answers = await run_tools(
        graph, ("book_appointment", args), ("book_appointment", args), db_url=db_url
    )
    assert sorted(a.artifact["ok"] for a in answers) == [False, True]
    refused = next(a for a in answers if not a.artifact["ok"])
    assert refused.artifact["error"] == "slot_taken"
    assert "Wednesday, March fifth at three p.m. is already taken. I could do" in refused.content


async def test_returning_caller_lists_cancels_and_reschedules(graph, db_url: str) -> None:
    kw = {"db_url": db_url, "caller": RETURNING_CALLER}
    _, [listed] = await run_tools(graph, ("list_my_appointments", {}), **kw)
    [appt] = listed.artifact["appointments"]
    assert listed.content == (
        "You have one upcoming appointment: a checkup with Dr. Patel on Wednesday, March fifth"
        f" at ten a.m., appointment number {appt['id']}."
    )
    _, [moved] = await run_tools(
        graph,
        (
            "reschedule_appointment",
            {"appointment_id": appt["id"], "day": "Thursday", "time": "9:30"},
        ),
        **kw,
    )
    assert moved.artifact["ok"] and moved.artifact["appointment"]["day"] == "2025-03-06"
    assert moved.content.endswith("to Thursday, March sixth at nine thirty a.m. with Dr. Patel.")
    _, [cancelled] = await run_tools(
        graph, ("cancel_appointment", {"appointment_id": appt["id"]}), **kw
    )
    assert cancelled.artifact["ok"]
    assert cancelled.content == (
        "Done: your checkup on Thursday, March sixth at nine thirty a.m. is cancelled."
    )
    _, [none_left] = await run_tools(graph, ("list_my_appointments", {}), **kw)
    assert none_left.artifact == {"ok": True, "appointments": []}
    assert none_left.content == "I don't see any upcoming appointments for this phone number."


async def test_another_callers_appointment_cannot_be_cancelled(graph, db_url: str) -> None:
    _, [answer] = await run_tools(
        graph, ("cancel_appointment", {"appointment_id": 1}), db_url=db_url
    )
    assert answer.artifact == {"ok": False, "error": "not_found", "appointment_id": 1}
    assert answer.content == (
        "I couldn't find an upcoming appointment number 1 for this phone number."
    )


@pytest.mark.parametrize(
    ("args", "error", "content"),
    [
        ({"day": "someday", "time": "10:00"}, "bad_day", "Sorry, I didn't catch the day."),
        ({"day": "Wednesday", "time": "whenever"}, "bad_time", "Sorry, I didn't catch the time."),
        ({"day": "Wednesday", "time": "10:10"}, "bad_time", "I can't book Wednesday, March fifth"),
        ({"day": "2025-03-01", "time": "10:00"}, "past", "That time has already passed."),
        ({"appointment_type": "massage"}, "unknown_type", "We book checkups, consultations"),
        ({"name": "  "}, "missing_name", "May I have the patient's full name"),
        ({"doctor": "Dr. Who"}, "unknown_doctor", "Our doctors are Dr. Patel and Dr. Nguyen."),
        ({"doctor": "either"}, None, "You're booked"),
        ({"doctor": "patel", "time": "11:00"}, None, "You're booked: a checkup with Dr. Patel"),
    ],
)
async def test_booking_problems_are_polite_answers(
    graph, db_url: str, args: dict[str, str], error: str | None, content: str
) -> None:
    full = {"appointment_type": "checkup", "day": "Wednesday", "time": "10:00", "name": "Ada"}
    _, [answer] = await run_tools(graph, ("book_appointment", {**full, **args}), db_url=db_url)
    assert answer.artifact["ok"] is (error is None)
    assert answer.artifact.get("error") == error
    assert answer.content.startswith(content)
    assert answer.status == "success"  # an answer for the model, not a crash


async def test_no_caller_id_means_no_booking(graph, db_url: str) -> None:
    args = {"appointment_type": "checkup", "day": "Wednesday", "time": "10:00", "name": "Ada"}
    _, [answer] = await run_tools(graph, ("book_appointment", args), db_url=db_url, caller="")
    assert answer.artifact["error"] == "no_caller_id"
    assert "front desk" in answer.content


async def test_a_broken_database_is_a_sentence_not_dead_air(graph, tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("")
    broken = f"sqlite:///{tmp_path}/not-a-dir/calendar.db"
    _, answers = await run_tools(
        graph,
        ("check_availability", {"day": "Wednesday"}),
        ("list_my_appointments", {}),
        db_url=broken,
    )
    for answer in answers:
        assert answer.content == UNAVAILABLE
        assert answer.artifact == {"ok": False, "error": "unavailable"}


async def test_malformed_arguments_come_back_as_an_error_message(graph, db_url: str) -> None:
    _, [answer] = await run_tools(
        graph, ("cancel_appointment", {"appointment_id": "seven"}), db_url=db_url
    )
    assert answer.status == "error"


async def test_clinic_info(graph, db_url: str) -> None:
    _, [parking, unknown] = await run_tools(
        graph,
        ("clinic_info", {"topic": "parking"}),
        ("clinic_info", {"topic": "weather"}),
        db_url=db_url,
    )
    assert parking.artifact == {"ok": True, "topic": "parking", "text": parking.content}
    assert "free parking" in parking.content
    assert unknown.artifact["error"] == "unknown_topic"
    assert unknown.content.startswith("I can tell you about opening hours")


async def test_transfer_asks_the_runtime_for_the_front_desk(graph, db_url: str) -> None:
    state, [answer] = await run_tools(
        graph, ("transfer_to_front_desk", {"reason": "billing question"}), db_url=db_url
    )
    assert answer.content == "Transferring you to the front desk."
    assert requested_actions(state["messages"]) == [
        {"kind": "transfer", "destination": "front desk", "reason": "billing question"}
    ]
    assert set(state) == {"messages"}, "nothing but the request in the checkpoint"


async def test_end_call_asks_the_runtime_to_hang_up(graph, db_url: str) -> None:
    state, [answer] = await run_tools(graph, ("end_call", {}), db_url=db_url)
    assert answer.name == "end_call"
    assert requested_actions(state["messages"]) == [
        {"kind": "hangup", "reason": "caller said goodbye"}
    ]


async def test_today_with_a_time_hides_the_mornings_slots(graph, db_url: str) -> None:
    _, [answer] = await run_tools(
        graph, ("check_availability", {"day": "today"}), db_url=db_url, today="2025-03-03T14:05"
    )
    assert answer.artifact["slots"][0]["time"] == "14:15"
    assert answer.content.startswith("For a checkup today, I have two fifteen,")
