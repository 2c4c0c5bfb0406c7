"""The clinic as an explicit graph (``graphs/clinic``): its steps, its routers, whole calls.

Routers, the policy and single nodes are checked on hand-built states; whole
calls run the graph compiled with ``InMemorySaver`` through :class:`GraphAgent`
with the flow's own phone settings (its context, transfer targets, speaking
nodes), turn by turn, on a calendar in ``tmp_path`` seeded by the flow's
start-up hook. Today is pinned to Tuesday 2026-11-24, 08:00, clinic time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from dialgraph import CallerTurn, CallFacts, StartupInfo, turn_message
from graphs.clinic import policy, words
from graphs.clinic.graph import (
    act,
    builder,
    graph,
    phone,
    read_back,
    route_after_tools,
    route_next,
    route_request,
    route_start,
)
from graphs.clinic.reading import asks_for_person, heard_of, read_turn
from graphs.clinic.state import EMPTY_SLOTS, Slots, State
from graphs.runtime.runner import GraphAgent
from tools.calendar import get_calendar
from tools.clinic import FRONT_DESK

TODAY = "2026-11-24T08:00"  # a Tuesday, before opening
NEW_CALLER = "+15550001111"
MARIA = "+15551230000"  # seeded returning caller with an upcoming checkup
CLOSING = "Thank you for calling Riverside Family Clinic. Goodbye."
TUESDAY = dt.date(2026, 11, 24)


def _heard(text: str, stage: Any = None) -> Any:
    return heard_of(read_turn(CallerTurn(text=text, source="speech"), TUESDAY, stage))


def _slots(**values: Any) -> Slots:
    return Slots(**{**EMPTY_SLOTS, **values})


# -- reading a turn --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("can i speak to a real person please", True),
        ("i want to talk to someone at the front desk", True),
        ("could you put me through to the front desk please", True),
        ("operator", True),
        ("the front desk please", True),
        ("my husband is a real person who needs a checkup next wednesday at ten", False),
        ("i need to book the hpv jab the human papillomavirus vaccine", False),
        ("i wanted to talk about a booster shot my doctor says im due one", False),
    ],
)
def test_a_person_is_asked_for_not_mentioned(text: str, asks: bool) -> None:
    assert asks_for_person(text) is asks


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("great thanks so much bye", "goodbye"),
        ("alright cheers bye now", "goodbye"),
        ("perfect have a nice day", "goodbye"),
        ("do you take blue cross", "insurance"),
        ("and how much is a checkup without insurance", "prices"),
        ("my husband is a real person who needs a checkup next wednesday at ten", None),
        ("i need to book the hpv jab the human papillomavirus vaccine tomorrow", "book"),
    ],
)
def test_the_turn_is_read_with_issue_15s_fixes(text: str, intent: str | None) -> None:
    assert _heard(text)["intent"] == intent


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("hi im maria lopez and i want to book", "Maria Lopez"),
        ("this is maria lopez i want to cancel my appointment", "Maria Lopez"),
        ("my name is john smith", "John Smith"),
        ("its priya sharma", "Priya Sharma"),
        ("a booster shot my doctor says im due one", None),
    ],
)
def test_a_name_is_one_the_caller_introduces(text: str, name: str | None) -> None:
    assert _heard(text)["slots"]["name"] == name


# -- the policy ------------------------------------------------------------------------
APPOINTMENT = {
    "id": 7,
    "appointment_type": "checkup",
    "doctor": "Dr. Patel",
    "day": "2026-11-30",
    "time": "10:00",
    "name": "Maria Lopez",
}


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("yes cancel it please", "confirm"),
        ("yes cancel that one", "confirm"),
        ("yes", "confirm"),
        ("no", "keep"),
        ("never mind", "abort"),
        ("goodbye", "goodbye"),
    ],
)
def test_a_yes_to_the_cancel_read_back_cancels_in_its_many_forms(text: str, asked: str) -> None:
    state = State(task="cancel", stage="confirm_cancel", target=APPOINTMENT, today="2026-11-24")
    assert policy.decide(state, _heard(text, state.stage)) == asked


@pytest.mark.parametrize(
    ("state", "need"),
    [
        (State(task="book", today="2026-11-24"), "type"),
        (State(task="book", slots=_slots(appointment_type="checkup"), today="2026-11-24"), "day"),
        (State(task="book", slots=_slots(day="2026-11-29"), today="2026-11-24"), "sunday"),
        (State(task="book", slots=_slots(day="2026-11-23"), today="2026-11-24"), "past_day"),
        (
            State(
                task="book",
                slots=_slots(appointment_type="checkup", day="2026-11-25"),
                today="2026-11-24",
            ),
            "availability",
        ),
        (
            State(
                task="book",
                slots=_slots(appointment_type="checkup", day="2026-11-25", time="15:00"),
                today="2026-11-24",
            ),
            "name",
        ),
        (
            State(
                task="book",
                slots=_slots(appointment_type="checkup", day="2026-11-25", time="15:00"),
                caller_name="Ana Diaz",
                today="2026-11-24",
            ),
            "read_back",
        ),
        (State(task="availability", today="2026-11-24"), "day_to_check"),
        (State(task="cancel", target=APPOINTMENT, today="2026-11-24"), "read_back"),
    ],
)
def test_what_a_task_needs_next(state: State, need: str) -> None:
    assert policy.next_need(state) == need


# -- routers and nodes on hand-built states -----------------------------------------
def test_studio_can_draw_the_graph_and_show_the_state() -> None:
    schema = graph.get_output_jsonschema()  # built by pydantic, as langgraph dev does
    assert {"stage", "slots", "heard", "task", "request"} <= set(schema["properties"])
    drawn = graph.get_graph()
    assert {"understand", "collect", "read_back", "act", "tools", "report"} <= set(drawn.nodes)
    conditional = {(e.source, e.target) for e in drawn.edges if e.conditional}
    assert ("understand", "identify") in conditional and ("tools", "remember") in conditional


def _turn(text: str, source: Any = "speech") -> HumanMessage:
    return turn_message(CallerTurn(text=text, source=source))


def test_route_start() -> None:
    assert route_start(State(messages=[_turn("", "start")])) == "greet"
    assert route_start(State(messages=[_turn("hello")], greeted=True)) == "understand"
    assert route_start(State()) == "greet"
    assert route_start(State(messages=[AIMessage("hi")], greeted=True)) == "__end__"


@pytest.mark.parametrize(
    ("state", "node"),
    [
        (State(request=None, misses=1), "reprompt"),
        (State(request=None, misses=2), "offer_person"),
        (State(request=None, misses=3, stage="confirm_transfer"), "reprompt"),
        (State(request=None, misses=4, stage="confirm_transfer"), "transfer"),
        (State(request=None, misses=3, transfer_failed=True), "reprompt"),
        (State(request=None, misses=4, transfer_failed=True), "goodbye"),
        (State(request="cancel", caller_known=True), "list_appointments"),
        (State(request="cancel", caller_known=False), "identify"),
        (State(request="my_appointments", caller_known=False), "identify"),
        (State(request="confirm"), "act"),
        (State(request="refuse"), "change"),
        (State(request="person"), "transfer"),
        (State(request="done"), "goodbye"),
        (State(request="details"), "collect"),
        (State(request="silence"), "reprompt"),
        (State(request="thanks"), "converse"),
    ],
)
def test_route_request(state: State, node: str) -> None:
    assert route_request(state) == node


def test_route_next_waits_after_a_reply_and_goes_on_otherwise() -> None:
    booking = State(task="book", slots=_slots(appointment_type="checkup"), today="2026-11-24")
    assert route_next(dataclasses.replace(booking, messages=[_turn("a checkup")])) == "ask_detail"
    spoke = dataclasses.replace(booking, messages=[AIMessage("Which time would you like?")])
    assert route_next(spoke) == "__end__"
    dated = dataclasses.replace(
        booking,
        messages=[_turn("wednesday")],
        slots=_slots(appointment_type="checkup", day="2026-11-25"),
    )
    assert route_next(dated) == "check_availability"


def test_route_after_tools() -> None:
    booked = ToolMessage(
        "booked", tool_call_id="c1", name="book_appointment", artifact={"ok": True}
    )
    assert route_after_tools(State(messages=[booked])) == "remember"
    listed = ToolMessage("none", tool_call_id="c2", name="list_my_appointments", artifact={})
    assert route_after_tools(State(messages=[listed])) == "report"


def test_the_read_back_names_every_detail_that_will_be_used() -> None:
    state = State(
        task="book",
        stage="name",
        slots=_slots(
            appointment_type="checkup", day="2026-11-25", time="15:00", doctor="Dr. Nguyen"
        ),
        caller_name="Ana Diaz",
    )
    update = read_back(state)
    [said] = update["messages"]
    for detail in ("checkup", "Dr. Nguyen", "Wednesday", "three p.m.", "Ana Diaz"):
        assert detail in said.content
    assert update["stage"] == "confirm_book"
    assert update["question"] == "Shall I book it?"


def test_act_books_what_was_read_back_with_a_fresh_call_id() -> None:
    state = State(
        task="book",
        stage="confirm_book",
        slots=_slots(appointment_type="checkup", day="2026-11-25", time="15:00"),
        caller_name="Ana Diaz",
    )
    first, second = act(state)["messages"][0], act(state)["messages"][0]
    assert first.tool_calls[0]["name"] == "book_appointment"
    assert first.tool_calls[0]["args"] == {
        "appointment_type": "checkup",
        "day": "2026-11-25",
        "time": "15:00",
        "name": "Ana Diaz",
    }
    assert first.tool_calls[0]["id"] != second.tool_calls[0]["id"]


# -- whole calls -------------------------------------------------------------------------
@pytest.fixture
async def startup(tmp_path: Path) -> StartupInfo:
    info = StartupInfo(f"sqlite:///{tmp_path}/service.db", today=TODAY, timezone=phone.timezone)
    assert phone.on_startup is not None
    await phone.on_startup(info)  # as the service does: tables and demo rows
    return info


def _agent(startup: StartupInfo, caller: str) -> GraphAgent:
    facts = CallFacts(
        call_sid=f"CA{uuid.uuid4().hex}", caller=caller, timezone=phone.timezone, today=TODAY
    )
    assert phone.context is not None
    return GraphAgent(
        builder.compile(checkpointer=InMemorySaver()),
        thread_id=str(uuid.uuid4()),
        context=phone.context(facts, startup),
        configurable={"dialgraph": facts.to_config()},
        spoken_nodes=phone.spoken_nodes,
        transfer_targets=phone.transfer_targets,
        greeting=phone.greeting,
    )


async def speak(agent: GraphAgent, text: str = "", source: Any = "speech") -> str:
    return "".join([token async for token in agent.respond(text, source=source)])


async def state_of(agent: GraphAgent) -> dict[str, Any]:
    return (await agent._graph.aget_state(agent.config)).values


async def upcoming(startup: StartupInfo, caller: str) -> list[dict[str, Any]]:
    return await get_calendar(startup.database_url).upcoming(
        caller, now=dt.datetime(2026, 11, 24, 8)
    )


async def test_the_greeting_uses_the_calls_clock_not_the_machines(startup: StartupInfo) -> None:
    agent = _agent(startup, NEW_CALLER)
    greeting = await speak(agent, source="start")
    assert greeting.startswith("Good morning, thank you for calling Riverside Family Clinic.")


async def test_a_booking_with_a_correction_read_back_before_it_is_made(
    startup: StartupInfo,
) -> None:
    agent = _agent(startup, NEW_CALLER)
    await speak(agent, source="start")
    assert await speak(agent, "i'd like to book a checkup for thursday at three") == (
        "And what name should I put the appointment under?"
    )
    assert agent.expecting() == {"kind": "name", "hints": []}
    read = await speak(agent, "ana diaz")
    assert read == (
        "Just to confirm: a checkup on Thursday, November twenty sixth, at three p.m., "
        "under the name Ana Diaz. Shall I book it?"
    )
    values = await state_of(agent)
    assert values["stage"] == "confirm_book" and values["task"] == "book"
    assert values["slots"]["day"] == "2026-11-26" and values["slots"]["time"] == "15:00"
    assert await upcoming(startup, NEW_CALLER) == [], "nothing is booked before the yes"
    corrected = await speak(agent, "no wednesday")
    assert corrected.startswith("Just to confirm: a checkup on Wednesday, November twenty fifth")
    booked = await speak(agent, "yes please")
    assert booked.startswith("You're all set: a checkup with Dr.")
    assert booked.endswith(words.ANYTHING_ELSE)
    [appointment] = await upcoming(startup, NEW_CALLER)
    assert (appointment["day"], appointment["time"], appointment["name"]) == (
        "2026-11-25",
        "15:00",
        "Ana Diaz",
    )
    values = await state_of(agent)
    assert values["task"] is None and values["stage"] == "anything_else"
    assert values["caller_name"] == "Ana Diaz"


async def test_a_cancel_confirmed_with_yes_cancel_it_please(startup: StartupInfo) -> None:
    agent = _agent(startup, MARIA)
    assert "Maria" in await speak(agent, source="start")
    read = await speak(agent, "i need to cancel my appointment")
    assert read.startswith("Just to confirm: cancel your checkup with Dr.")
    assert agent.expecting() == {"kind": "yes_no", "hints": []}
    done = await speak(agent, "yes cancel it please")
    assert done.startswith("Done. I've cancelled your checkup")
    assert await upcoming(startup, MARIA) == []


async def test_goodbye_in_an_ordinary_form_ends_the_call(startup: StartupInfo) -> None:
    agent = _agent(startup, NEW_CALLER)
    await speak(agent, source="start")
    assert "River Road" in await speak(agent, "where are you located")
    assert await speak(agent, "great thanks so much bye") == CLOSING
    assert agent.pending_action() == {"kind": "hangup", "reason": "caller said goodbye"}


async def test_two_misses_offer_the_front_desk_and_the_keypad(startup: StartupInfo) -> None:
    agent = _agent(startup, NEW_CALLER)
    await speak(agent, source="start")
    first = await speak(agent, "purple monkey dishwasher")
    assert first == f"Sorry, I didn't catch that. {words.MENU}"
    second = await speak(agent, "blue elephant toaster")
    assert second == (
        f"Sorry, I'm still having trouble understanding. {words.TRANSFER_OFFER} {words.KEYS_HINT}"
    )
    assert (await state_of(agent))["stage"] == "confirm_transfer"
    assert await speak(agent, "1", source="dtmf") == "Let me put you through to the front desk."
    assert agent.pending_action() == {
        "kind": "transfer",
        "target": FRONT_DESK,
        "reason": "caller was not understood",
    }


async def test_a_person_in_passing_is_no_transfer(startup: StartupInfo) -> None:
    agent = _agent(startup, NEW_CALLER)
    await speak(agent, source="start")
    said = await speak(agent, "my husband is a real person who needs a checkup tomorrow at ten")
    assert said == "And what name should I put the appointment under?"
    assert agent.pending_action() is None


async def test_a_caller_without_caller_id_is_identified_before_anything_is_read(
    startup: StartupInfo,
) -> None:
    agent = _agent(startup, "")
    await speak(agent, source="start")
    asked = await speak(agent, "when is my appointment")
    assert "phone number on the booking" in asked
    expecting = agent.expecting()
    assert expecting is not None and expecting["kind"] == "digits"
    assert await speak(agent, "5551239999", source="dtmf") == "And what's the name on the booking?"
    wrong = await speak(agent, "maria lopez")
    assert wrong.startswith("Sorry, I can't find a booking under that number and name.")
    assert "checkup" not in wrong
    await speak(agent, "5551230000", source="dtmf")
    listed = await speak(agent, "maria lopez")
    assert listed.startswith("You have one upcoming appointment: a checkup with Dr.")
    values = await state_of(agent)
    assert values["identified"] == MARIA and values["caller_known"]


async def test_with_no_one_to_hand_over_to_the_call_ends_instead_of_looping(
    startup: StartupInfo,
) -> None:
    agent = _agent(startup, NEW_CALLER)
    await speak(agent, source="start")
    await speak(agent, "can i talk to someone")
    assert agent.pending_action() is not None
    assert (await speak(agent, "transfer_failed", source="event")) == words.NOT_PUT_THROUGH
    said = [await speak(agent, "purple monkey dishwasher") for _ in range(4)]
    assert all("front desk" not in text for text in said), said
    assert said[-1].endswith(CLOSING)
    assert agent.pending_action() == {"kind": "hangup", "reason": "caller not understood"}


async def test_a_number_said_as_words_identifies_the_caller_for_a_cancel(
    startup: StartupInfo,
) -> None:
    agent = _agent(startup, "")
    await speak(agent, source="start")
    await speak(agent, "this is maria lopez i need to cancel my appointment")
    read = await speak(agent, "it's five five five one two three zero zero zero zero")
    assert read.startswith("Just to confirm: cancel your checkup")
    done = await speak(agent, "yes")
    assert done.startswith("Done. I've cancelled your checkup")
    assert await upcoming(startup, MARIA) == []


# -- values not clearly heard --------------------------------------------------------------
CHECK = "Sorry, I want to be sure I heard that right. Did you say "


async def test_details_heard_with_low_confidence_are_checked_before_they_are_used(
    startup: StartupInfo,
) -> None:
    agent = _agent(startup, NEW_CALLER)
    await speak(agent, source="start")
    said = "i'd like to book a checkup for thursday at three"
    checked = "".join([t async for t in agent.respond(said, confidence=0.5)])
    assert checked == f"{CHECK}a checkup on Thursday, November twenty sixth, at three p.m.?"
    values = await state_of(agent)
    assert values["stage"] == "confirm_value"
    assert values["unsure"] == ["appointment_type", "day", "time"]
    assert values["heard"]["sure"] == {"appointment_type": 0.5, "day": 0.5, "time": 0.5}
    assert agent.expecting() == {"kind": "yes_no", "hints": []}
    assert await speak(agent, "yes") == "And what name should I put the appointment under?"
    values = await state_of(agent)
    assert values["unsure"] == [] and values["slots"]["day"] == "2026-11-26"


async def test_a_no_to_the_check_clears_what_was_misheard_and_asks_again(
    startup: StartupInfo,
) -> None:
    agent = _agent(startup, NEW_CALLER)
    await speak(agent, source="start")
    async for _ in agent.respond(
        "i'd like to book a checkup for thursday at three", confidence=0.4
    ):
        pass
    assert await speak(agent, "no") == f"Sorry about that. {words.WHICH_TYPE}"
    values = await state_of(agent)
    assert values["task"] == "book" and values["unsure"] == []
    assert values["slots"] == _slots()
    assert await speak(agent, "a vaccination") == "What day would you like to come in?"


async def test_a_correction_to_the_check_is_taken_and_the_rest_still_checked(
    startup: StartupInfo,
) -> None:
    agent = _agent(startup, NEW_CALLER)
    await speak(agent, source="start")
    async for _ in agent.respond(
        "i'd like to book a checkup for thursday at three", confidence=0.4
    ):
        pass
    again = await speak(agent, "no wednesday")
    assert again == "Got it. And did you say a checkup at three p.m.?"
    values = await state_of(agent)
    assert values["slots"]["day"] == "2026-11-25"
    assert values["unsure"] == ["appointment_type", "time"]


async def test_a_clearly_heard_detail_is_not_checked(startup: StartupInfo) -> None:
    agent = _agent(startup, NEW_CALLER)
    await speak(agent, source="start")
    said = "book a checkup with doctor on friday at ten"
    other = "book a checkup with doctor nguyen on friday at ten"
    asked = "".join([t async for t in agent.respond(said, confidence=0.9, alternatives=[other])])
    assert asked == "And what name should I put the appointment under?"
    values = await state_of(agent)
    assert values["slots"]["doctor"] == "Dr. Nguyen", "the doctor only the second reading held"
    assert values["heard"]["sure"]["doctor"] < values["heard"]["sure"]["day"]
    assert values["unsure"] == []
    read = await speak(agent, "ana diaz")
    assert "with Dr. Nguyen" in read, "the read-back names the doctor"


@pytest.mark.parametrize(
    ("before", "said", "sure", "left"),
    [
        ({}, {"day": "2026-11-26"}, {"day": 0.5}, ["day"]),
        ({}, {"day": "2026-11-26"}, {"day": 0.95}, []),
        ({"day": "2026-11-26"}, {"day": "2026-11-26"}, {"day": 0.5}, []),  # already had it
    ],
)
def test_still_unsure(
    before: dict[str, str], said: dict[str, str], sure: dict[str, float], left: list[str]
) -> None:
    heard = {**_heard("thursday"), "slots": _slots(**said), "sure": sure}
    assert policy.still_unsure([], heard, _slots(**before), _slots(**{**before, **said})) == left
