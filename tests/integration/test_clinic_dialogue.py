"""Whole conversations with the clinic receptionist: the real graph, tools,
calendar and checkpointer, and the offline ``local`` model, fed what a
recogniser would write (lower case, no punctuation, numbers as words).

The clinic is opened as the phone service opens any flow: ``load_flow("clinic")``
(the langgraph.json id) and ``open_flow_agents``, so its phone settings and
hooks (context, calendar seeding, end-of-call memory) are the ones used live.
Today is pinned to Tuesday 2026-11-24, 08:00, so every date is reproducible.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from dialgraph import load_flow, requested_actions
from graphs.runtime.service import open_flow_agents
from memory.store import CallerMemory
from tools.calendar import get_calendar
from tools.clinic import FRONT_DESK

REPO = Path(__file__).resolve().parents[2]
TODAY = "2026-11-24T08:00"
NEW_CALLER = "+15550001111"
MARIA = "+15551230000"  # seeded returning caller with an upcoming checkup


@pytest.fixture
async def clinic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimpleNamespace]:
    monkeypatch.delenv("DIALGRAPH_MODEL", raising=False)  # the offline model
    flow = load_flow("clinic", root=REPO)
    async with open_flow_agents(flow, var_dir=tmp_path, today=TODAY) as agents:
        opened: list = []

        async def open_call(sid: str, caller: str):
            opened.append(await agents(SimpleNamespace(call_sid=sid, caller=caller)))
            return opened[-1]

        yield SimpleNamespace(agents=agents, open_call=open_call, tmp=tmp_path)
        for agent in opened:  # hang up before the database closes
            await agent.aclose()


class Caller:
    """One call: says things, returns what the agent said."""

    def __init__(self, agent) -> None:
        self.agent = agent
        self.replies: list[str] = []

    async def start(self) -> str:
        return await self.say("", source="start")

    async def say(self, text: str, source: str = "speech") -> str:
        reply = "".join([t async for t in self.agent.respond(text, source=source)]).strip()
        self.replies.append(reply)
        return reply


async def call(clinic, caller: str, sid: str) -> Caller:
    agent = await clinic.open_call(sid, caller)
    phone = Caller(agent)
    await phone.start()
    return phone


async def upcoming(clinic, phone: str) -> list[dict]:
    db_url = clinic.agents.startup.database_url
    return await get_calendar(db_url).upcoming(phone, now=datetime(2026, 11, 24, 8))


async def state(phone: Caller) -> dict:
    snapshot = await phone.agent._graph.aget_state(phone.agent.config)
    return snapshot.values


def words(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower())


async def test_returning_caller_is_greeted_by_name(clinic) -> None:
    agent = await clinic.open_call("CAgreet", MARIA)
    greeting = await Caller(agent).start()
    assert "Maria" in greeting


async def test_book_with_a_correction_then_confirm(clinic) -> None:
    phone = await call(clinic, NEW_CALLER, "CAbook")
    await phone.say("i'd like to book a checkup for thursday at three")
    reply = await phone.say("no wednesday")
    if "name" in reply.lower():
        reply = await phone.say("my name is ana diaz")
    assert "wednesday" in reply.lower() and "three" in reply.lower(), reply
    confirmed = await phone.say("yes please")
    booked = await upcoming(clinic, NEW_CALLER)
    assert [(b["day"], b["time"], b["appointment_type"]) for b in booked] == [
        ("2026-11-25", "15:00", "checkup")
    ], confirmed
    assert booked[0]["name"] == "Ana Diaz"
    assert "wednesday" in confirmed.lower()


async def test_whats_free_on_a_day(clinic) -> None:
    phone = await call(clinic, NEW_CALLER, "CAfree")
    reply = await phone.say("anything free on friday morning")
    assert "friday" in reply.lower()
    assert re.search(r"\b(nine|ten|eleven)\b", reply.lower()), reply
    tool = [m for m in (await state(phone))["messages"] if isinstance(m, ToolMessage)]
    assert tool[-1].name == "check_availability" and tool[-1].artifact["part_of_day"] == "morning"


async def test_my_appointments_cancel_and_reschedule(clinic) -> None:
    phone = await call(clinic, MARIA, "CAmine")
    listing = await phone.say("when is my appointment")
    assert "checkup" in listing.lower(), listing
    # Move it, then cancel it.
    reply = await phone.say("can i move it to friday at ten")
    assert "friday" in reply.lower(), reply
    await phone.say("yes")
    moved = await upcoming(clinic, MARIA)
    assert [(b["day"], b["time"]) for b in moved] == [("2026-11-27", "10:00")], phone.replies
    reply = await phone.say("actually please cancel my appointment")
    assert "cancel" in reply.lower(), reply
    await phone.say("yes")
    assert await upcoming(clinic, MARIA) == [], phone.replies


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("what time do you close on saturday", "noon"),
        ("where are you located", "river road"),
        ("is there parking", "park"),
        ("do you take insurance", "insurance"),
        ("how much is a checkup", "checkup"),
    ],
)
async def test_clinic_facts(clinic, question: str, expected: str) -> None:
    phone = await call(clinic, NEW_CALLER, "CAfacts")
    assert expected in words(await phone.say(question)), phone.replies


@pytest.mark.parametrize("request_text", ["can i talk to someone", "pressed 0"])
async def test_asking_for_a_person_requests_a_transfer(clinic, request_text: str) -> None:
    phone = await call(clinic, NEW_CALLER, "CAtransfer")
    source = "dtmf" if request_text.startswith("pressed") else "speech"
    reply = await phone.say(request_text.removeprefix("pressed "), source=source)
    assert "front desk" in reply.lower()
    assert phone.agent.pending_action() == {
        "kind": "transfer",
        "target": FRONT_DESK,
        "reason": "caller asked for a person",
    }
    [request] = requested_actions((await state(phone))["messages"])
    assert request["destination"] == "front desk", "the model never sees the number"


async def test_a_failed_transfer_is_answered_and_leaves_no_transfer_in_state(clinic) -> None:
    phone = await call(clinic, NEW_CALLER, "CAnotthrough")
    await phone.say("can i talk to someone")
    assert phone.agent.pending_action()["kind"] == "transfer"
    reply = await phone.say("transfer_failed", source="event")
    assert reply.startswith("I'm sorry, I couldn't put you through to the front desk just now.")
    assert reply.endswith("?"), "it offers something else"
    values = await state(phone)
    assert requested_actions(values["messages"]) == [], "no transfer under way"
    assert phone.agent.pending_action() is None, "nothing left to carry out"
    note = values["messages"][-2]
    assert note.content.startswith("[event: transfer_failed]")
    assert "open" in words(await phone.say("what are your hours")), phone.replies
    assert phone.agent.pending_action() is None, "a later turn does not transfer again"
    transcript = (clinic.tmp / "transcripts" / "CAnotthrough.jsonl").read_text()
    assert '"role":"event","text":"[event: transfer_failed]' in transcript


async def test_goodbye_ends_the_call(clinic) -> None:
    phone = await call(clinic, NEW_CALLER, "CAbye")
    reply = await phone.say("thats all thank you goodbye")
    assert reply == "Thank you for calling Riverside Family Clinic. Goodbye."
    assert phone.agent.pending_action() == {"kind": "hangup", "reason": "caller said goodbye"}


async def test_gibberish_gets_a_reask_then_a_transfer_offer(clinic) -> None:
    phone = await call(clinic, NEW_CALLER, "CAgibber")
    first = await phone.say("purple monkey dishwasher")
    assert "sorry" in first.lower()
    second = await phone.say("blue elephant toaster")
    assert "front desk" in second.lower(), second
    await phone.say("yes")
    assert phone.agent.pending_action()["kind"] == "transfer"


async def test_conversation_history_stays_valid_and_is_transcribed(clinic) -> None:
    phone = await call(clinic, NEW_CALLER, "CAvalid")
    for text in ("book a vaccination", "tomorrow at ten", "my name is john smith", "yes", "bye"):
        await phone.say(text)
    history = (await state(phone))["messages"]
    open_calls: set[str] = set()
    for message in history:
        if isinstance(message, AIMessage):
            assert not open_calls
            open_calls = {c["id"] for c in message.tool_calls}
        elif isinstance(message, ToolMessage):
            open_calls.discard(message.tool_call_id)
    assert not open_calls
    transcript = (clinic.tmp / "transcripts" / "CAvalid.jsonl").read_text()
    assert "john smith" in transcript.lower()


async def test_the_call_start_is_not_heard_as_the_callers_words(clinic) -> None:
    phone = await call(clinic, NEW_CALLER, "CAstart")
    assert "Riverside Family Clinic" in phone.replies[0]
    # The first miss of the call is a plain re-ask: the start turn was no miss.
    assert await phone.say("purple monkey dishwasher") == (
        "Sorry, I didn't catch that. You can book, cancel or move an appointment, "
        "or ask about our hours."
    )


@pytest.mark.parametrize(
    ("key", "reply", "action"),
    [
        ("1", "Sure, what can I help you with?", None),
        ("2", "Thank you for calling Riverside Family Clinic. Goodbye.", "hangup"),
    ],
)
async def test_a_key_answers_the_question_asked(
    clinic, key: str, reply: str, action: str | None
) -> None:
    phone = await call(clinic, NEW_CALLER, f"CAkey{key}")
    assert (await phone.say("where are you located")).endswith("anything else I can help you with?")
    assert await phone.say(key, source="dtmf") == reply
    assert (phone.agent.pending_action() or {}).get("kind") == action


async def test_silence_reprompts_the_pending_question(clinic) -> None:
    phone = await call(clinic, NEW_CALLER, "CAquiet")
    question = await phone.say("book a checkup")
    reply = await phone.say("", source="silence")
    assert reply.startswith("Sorry, I didn't hear anything.") and reply.endswith(
        question.split(". ")[-1]
    )


async def test_the_visit_is_remembered_when_the_call_ends(clinic) -> None:
    phone = await call(clinic, NEW_CALLER, "CAvisit")
    await phone.say("goodbye")
    await phone.agent.aclose()
    profile = await CallerMemory(clinic.agents.store).get(NEW_CALLER)
    assert profile is not None and profile["last_visit"]
