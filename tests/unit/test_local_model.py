"""Multi-turn conversations with the offline dialogue model, driven by message lists.

The model is called the way the clinic graph calls it: a system message with
"Today is ..." and "Caller name: ...", then the history, whose caller turns
are tagged as the phone runtime tags them (``dialgraph.turn_message``): the
call-start turn, words, keys pressed, silence. Tool calls are
answered by ``FakeClinic`` with ``ToolMessage``s whose artifacts follow the
Issue 3 contract, so no database or graph is needed. Caller turns are written
as pocketsphinx emits them: lower case, no punctuation, numbers as words.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from dialgraph import CallerTurn, turn_message
from graphs.voice_agent.local_model import LocalDialogueModel

TODAY = "2026-11-24"  # a Tuesday
WHICH_TYPE = "What kind of appointment would you like: a checkup, a consultation, or a vaccination?"
MENU = "You can book, cancel or move an appointment, or ask about our hours."
GENERIC_REASK = f"Sorry, I didn't catch that. {MENU}"
TRANSFER_OFFER = "Would you like me to transfer you to the front desk?"
PUT_THROUGH = "Let me put you through to the front desk."
CLOSING = "Thank you for calling Riverside Family Clinic. Goodbye."
ANYTHING_ELSE = "Is there anything else I can help you with?"


# --- tools as the model sees them (OpenAI format; FakeClinic answers the calls) ----------


def spec(name: str, /, **params: str) -> dict[str, Any]:
    properties = {p: {"type": t} for p, t in params.items()}
    return {
        "type": "function",
        "function": {"name": name, "parameters": {"type": "object", "properties": properties}},
    }


ALL_TOOLS = [
    spec("check_availability", day="string", appointment_type="string", part_of_day="string"),
    spec("book_appointment", appointment_type="string", day="string", time="string", name="string"),
    spec("list_my_appointments"),
    spec("cancel_appointment", appointment_id="integer"),
    spec("reschedule_appointment", appointment_id="integer", day="string", time="string"),
    spec("clinic_info", topic="string"),
    spec("transfer_to_front_desk", reason="string"),
    spec("end_call", reason="string"),
]


class FakeClinic:
    """An in-memory calendar answering tool calls with contract-shaped artifacts."""

    FACTS = {
        "hours": "We're open Monday to Friday from 9 AM to 5 PM, and Saturday from 9 AM to noon.",
        "address": "We're at 42 River Road.",
        "parking": "There's free parking behind the building.",
        "insurance": "We accept most major plans, including Medicare.",
        "prices": "Without insurance, a checkup is 120 dollars.",
        "doctors": "Our doctors are Dr. Patel and Dr. Nguyen.",
    }

    def __init__(self, appointments: list[dict] | None = None, taken: set[str] = frozenset()):
        self.appointments = list(appointments or [])
        self.taken = set(taken)  # "YYYY-MM-DD HH:MM" already booked by someone else

    def run(self, name: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return f"{name} done.", getattr(self, name)(**args)

    def _free(self, day: str) -> list[str]:
        close = 12 if dt.date.fromisoformat(day).weekday() == 5 else 17
        times = [f"{h:02d}:{m:02d}" for h in range(9, close) for m in (0, 30)]
        return [t for t in times if f"{day} {t}" not in self.taken]

    def check_availability(self, day: str, appointment_type: str, part_of_day: str | None):
        if dt.date.fromisoformat(day).weekday() == 6:
            return {"ok": False, "error": "closed", "day": day}
        times = [t for t in self._free(day) if not part_of_day or (t < "12:00") == (
            part_of_day == "morning")]  # fmt: skip
        slots = [{"time": t, "doctor": "Dr. Patel"} for t in times[:6]]
        return {"ok": True, "day": day, "appointment_type": appointment_type,
                "part_of_day": part_of_day, "slots": slots}  # fmt: skip

    def book_appointment(self, appointment_type, day, time, name, doctor=None):
        if f"{day} {time}" in self.taken:
            later = [t for t in self._free(day) if t > time][:3]
            return {"ok": False, "error": "slot_taken", "alternatives": later}
        self.taken.add(f"{day} {time}")
        doctor = doctor or "Dr. Patel"
        appointment = {"id": 100 + len(self.taken), "appointment_type": appointment_type,
                       "day": day, "time": time, "doctor": doctor, "name": name}  # fmt: skip
        self.appointments.append(appointment)
        return {"ok": True, "appointment": appointment}

    def list_my_appointments(self):
        return {"ok": True, "appointments": list(self.appointments)}

    def cancel_appointment(self, appointment_id):
        for a in self.appointments:
            if a["id"] == appointment_id:
                self.appointments.remove(a)
                return {"ok": True, "appointment": a}
        return {"ok": False, "error": "not_found"}

    def reschedule_appointment(self, appointment_id, day, time):
        for i, a in enumerate(self.appointments):
            if a["id"] == appointment_id:
                self.appointments[i] = {**a, "day": day, "time": time}
                return {"ok": True, "appointment": self.appointments[i], "previous": a}
        return {"ok": False, "error": "not_found"}

    def clinic_info(self, topic):
        return {"ok": True, "topic": topic, "text": self.FACTS[topic]}

    def transfer_to_front_desk(self, reason):
        return {"ok": True, "target": "+15550100200"}

    def end_call(self, reason="caller said goodbye"):
        return {"ok": True}


CHECKUP = {"id": 7, "appointment_type": "checkup", "day": "2026-12-01", "time": "15:00",
           "doctor": "Dr. Patel", "name": "Maria Lopez"}  # fmt: skip
VACCINATION = {"id": 9, "appointment_type": "vaccination", "day": "2026-12-04", "time": "10:00",
               "doctor": "Dr. Nguyen", "name": "Maria Lopez"}  # fmt: skip


def assert_speakable(text: str) -> None:
    assert text.strip(), "empty reply"
    assert not re.search(r"\d", text), f"digits in a spoken reply: {text!r}"
    assert not re.search(r"[*#_`\[\]<>]", text), f"markup in a spoken reply: {text!r}"
    assert len(text) < 320, f"too long to listen to: {text!r}"


class Call:
    """One phone call against the model, the way the clinic graph drives it."""

    def __init__(self, *, caller_name: str | None = None, clinic: FakeClinic | None = None):
        self.clinic = clinic or FakeClinic()
        self.model = LocalDialogueModel().bind_tools(ALL_TOOLS)
        system = (
            "You are the receptionist of Riverside Family Clinic, answering the phone.\n"
            f"Today is {TODAY} (Tuesday).\nCaller name: {caller_name or 'unknown'}\n"
            "Caller number: +15551230000"
        )
        self.messages: list[BaseMessage] = [
            SystemMessage(system),
            turn_message(CallerTurn(text="", source="start")),
            AIMessage("Good morning, thank you for calling Riverside Family Clinic."),
        ]
        self.tool_calls: list[tuple[str, dict[str, Any]]] = []

    def say(self, text: str) -> str:
        """The caller says ``text``; run tools until the model speaks; return what it said."""
        return self.turn(turn_message(CallerTurn(text=text, source="speech")))

    def press(self, keys: str) -> str:
        """The caller presses ``keys`` on the phone."""
        return self.turn(turn_message(CallerTurn(text=keys, source="dtmf", digits=keys)))

    def silence(self) -> str:
        """The caller says nothing after a reply."""
        return self.turn(turn_message(CallerTurn(text="", source="silence")))

    def turn(self, message: BaseMessage) -> str:
        """One caller turn; run tools until the model speaks; return what it said."""
        self.messages.append(message)
        for _ in range(4):
            reply = self.model.invoke(self.messages)
            self.messages.append(reply)
            if not reply.tool_calls:
                assert_speakable(reply.content)
                return reply.content
            assert len(reply.tool_calls) == 1
            call = reply.tool_calls[0]
            self.tool_calls.append((call["name"], call["args"]))
            content, artifact = self.clinic.run(call["name"], call["args"])
            self.messages.append(
                ToolMessage(content, tool_call_id=call["id"], name=call["name"], artifact=artifact)
            )
        raise AssertionError("the model kept calling tools")

    def called(self, name: str) -> list[dict[str, Any]]:
        return [args for n, args in self.tool_calls if n == name]


# --- booking ----------------------------------------------------------------------------


def test_book_with_a_correction_mid_booking() -> None:
    call = Call()
    assert call.say("i'd like to book a checkup for tuesday at three") == (
        "And what name should I put the appointment under?"
    )
    assert call.say("my name is maria lopez") == (
        "Just to confirm: a checkup on Tuesday, December first, at three p.m., "
        "under the name Maria Lopez. Shall I book it?"
    )
    # A correction changes the day and keeps everything else; nothing is booked yet.
    assert call.say("no wednesday") == (
        "Just to confirm: a checkup on Wednesday, November twenty fifth, at three p.m., "
        "under the name Maria Lopez. Shall I book it?"
    )
    assert call.called("book_appointment") == []
    reply = call.say("yes")
    assert call.called("book_appointment") == [
        {"appointment_type": "checkup", "day": "2026-11-25", "time": "15:00", "name": "Maria Lopez"}
    ]
    assert reply == (
        "You're all set: a checkup with Dr. Patel on Wednesday, November twenty fifth, "
        "at three p.m. Is there anything else I can help you with?"
    )


def test_time_correction_and_keypad_confirmation() -> None:
    call = Call(caller_name="Ann Lee")  # known caller: the name is not asked
    assert "at ten a.m., under the name Ann Lee" in call.say("book a flu shot tomorrow at ten")
    assert "at four p.m., under the name Ann Lee" in call.say("no make it four")
    call.press("1")
    assert call.called("book_appointment") == [
        {"appointment_type": "vaccination", "day": "2026-11-25", "time": "16:00", "name": "Ann Lee"}
    ]


def test_taken_slot_offers_the_alternatives() -> None:
    call = Call(caller_name="Maria Lopez", clinic=FakeClinic(taken={"2026-12-01 15:00"}))
    call.say("book a checkup on tuesday at three")
    assert call.say("yes") == (
        "Sorry, that time is already taken. On Tuesday, December first, I could do "
        "three thirty, four or four thirty p.m. Which would you prefer?"
    )
    assert "at four p.m." in call.say("the second one")
    call.say("yes")
    assert [b["time"] for b in call.called("book_appointment")] == ["15:00", "16:00"]


def test_booking_asks_for_each_missing_detail_and_reads_free_times() -> None:
    call = Call()
    assert call.say("i need to make an appointment") == WHICH_TYPE
    assert call.say("a consult") == "What day would you like to come in?"
    assert call.say("friday") == (
        "On Friday, November twenty seventh, I have nine, nine thirty or ten a.m. "
        "Which time would you like?"
    )
    assert call.called("check_availability") == [
        {"day": "2026-11-27", "appointment_type": "consultation", "part_of_day": None}
    ]
    assert call.say("nine thirty") == "And what name should I put the appointment under?"
    assert "a consultation with Dr. Patel on Friday" in call.say("it's priya sharma")
    call.say("yeah")
    assert call.called("book_appointment")[0]["name"] == "Priya Sharma"


def test_sunday_and_out_of_hours_are_caught_before_any_tool() -> None:
    call = Call(caller_name="Ann Lee")
    assert call.say("book a checkup on sunday") == (
        "Sorry, we're closed on Sundays. Which other day would suit you?"
    )
    assert call.say("monday at eight").startswith("Sorry, we're not open then.")
    assert "Monday, November thirtieth, at nine a.m." in call.say("nine")
    assert call.tool_calls == []


# --- availability, my appointments, cancel, reschedule ------------------------------------


def test_whats_free_on_a_day_then_book_one() -> None:
    call = Call()
    assert call.say("anything free on friday morning") == (
        "On Friday, November twenty seventh, in the morning, I have openings at nine, "
        "nine thirty and ten a.m. Would you like to book one of those?"
    )
    assert call.called("check_availability") == [
        {"day": "2026-11-27", "appointment_type": "checkup", "part_of_day": "morning"}
    ]
    assert call.say("the nine thirty") == WHICH_TYPE
    call.say("a checkup")
    assert "at nine thirty a.m., under the name John" in call.say("this is john")


def test_what_do_you_have_with_nothing_free() -> None:
    clinic = FakeClinic(taken={f"2026-11-28 {h:02d}:{m:02d}" for h in (9, 10, 11) for m in (0, 30)})
    call = Call(clinic=clinic)
    assert call.say("what do you have on saturday") == (
        "Sorry, nothing is free on Saturday, November twenty eighth. "
        "Would you like me to check another day?"
    )
    assert "Monday, November thirtieth" in call.say("monday")


def test_my_appointments() -> None:
    call = Call(caller_name="Maria Lopez", clinic=FakeClinic([CHECKUP, VACCINATION]))
    assert call.say("what appointments do i have") == (
        "You have two upcoming appointments: a checkup with Dr. Patel on Tuesday, December "
        "first, at three p.m.; and a vaccination with Dr. Nguyen on Friday, December fourth, "
        "at ten a.m. Is there anything else I can help you with?"
    )


def test_no_appointments_offers_to_book() -> None:
    call = Call()
    assert call.say("when is my appointment") == (
        "I don't see any upcoming appointments for this number. Would you like to book one?"
    )
    assert call.say("yes") == WHICH_TYPE


def test_cancel_the_only_appointment() -> None:
    call = Call(caller_name="Maria Lopez", clinic=FakeClinic([CHECKUP]))
    assert call.say("cancel my appointment") == (
        "Just to confirm: cancel your checkup with Dr. Patel on Tuesday, December first, "
        "at three p.m. Shall I go ahead?"
    )
    assert call.called("cancel_appointment") == []
    assert call.say("yes") == (
        "Done. I've cancelled your checkup with Dr. Patel on Tuesday, December first, "
        "at three p.m. Is there anything else I can help you with?"
    )
    assert call.called("cancel_appointment") == [{"appointment_id": 7}]


def test_cancel_chooses_among_several_and_can_be_declined() -> None:
    call = Call(caller_name="Maria Lopez", clinic=FakeClinic([CHECKUP, VACCINATION]))
    assert call.say("i need to cancel").endswith("Which one would you like to cancel?")
    assert call.say("the second one").startswith("Just to confirm: cancel your vaccination")
    assert call.say("no") == f"All right, I'll keep that appointment. {ANYTHING_ELSE}"
    assert call.called("cancel_appointment") == []


def test_cancel_picks_the_appointment_named_in_the_request() -> None:
    call = Call(caller_name="Maria Lopez", clinic=FakeClinic([CHECKUP, VACCINATION]))
    assert "your vaccination" in call.say("cancel my appointment on friday the fourth")
    call.say("yes")
    assert call.called("cancel_appointment") == [{"appointment_id": 9}]


def test_reschedule_in_one_sentence() -> None:
    call = Call(caller_name="Maria Lopez", clinic=FakeClinic([CHECKUP]))
    assert call.say("move my appointment to friday at ten") == (
        "Just to confirm: move your checkup from Tuesday, December first, at three p.m., "
        "to Friday, November twenty seventh, at ten a.m. Shall I go ahead?"
    )
    assert call.say("yes") == (
        "Done. Your checkup with Dr. Patel is now on Friday, November twenty seventh, "
        "at ten a.m. Is there anything else I can help you with?"
    )
    assert call.called("reschedule_appointment") == [
        {"appointment_id": 7, "day": "2026-11-27", "time": "10:00"}
    ]


def test_reschedule_step_by_step() -> None:
    call = Call(caller_name="Maria Lopez", clinic=FakeClinic([CHECKUP, VACCINATION]))
    assert call.say("i need to reschedule").endswith("Which one would you like to move?")
    assert call.say("the first one") == (
        "Your checkup with Dr. Patel is on Tuesday, December first, at three p.m. "
        "What day would you like to move it to?"
    )
    assert call.say("thursday").endswith("Which time would you like?")
    assert "to Thursday, November twenty sixth, at ten a.m." in call.say("the last one")
    call.say("correct")
    assert call.called("reschedule_appointment") == [
        {"appointment_id": 7, "day": "2026-11-26", "time": "10:00"}
    ]


# --- facts, transfer, goodbye ----------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "topic", "spoken"),
    [
        ("what time do you close on saturday", "hours", "from nine a.m. to five p.m."),
        ("where are you located", "address", "forty two River Road"),
        ("is there parking", "parking", "free parking"),
        ("do you take medicare", "insurance", "Medicare"),
        ("how much is a checkup", "prices", "one hundred twenty dollars"),
        ("which doctors do you have", "doctors", "Dr. Patel and Dr. Nguyen"),
    ],
)
def test_clinic_facts(question: str, topic: str, spoken: str) -> None:
    call = Call()
    reply = call.say(question)
    assert call.called("clinic_info") == [{"topic": topic}]
    assert spoken in reply
    assert reply.endswith(ANYTHING_ELSE)


def test_a_question_mid_booking_answers_then_resumes() -> None:
    call = Call(caller_name="Ann Lee")
    call.say("book a checkup for friday")
    assert call.say("where do i park") == (
        "There's free parking behind the building. Which time would you like?"
    )
    assert "at nine thirty a.m." in call.say("nine thirty")


@pytest.mark.parametrize(
    "request_",
    [
        "can i talk to someone",
        "a real person please",
        "i want to speak to a human",
        "receptionist",
        "operator",
        "representative",
        "press zero",
        "0",
    ],
)
def test_asking_for_a_person_transfers(request_: str) -> None:
    call = Call()
    assert call.say(request_) == PUT_THROUGH
    assert call.called("transfer_to_front_desk") == [{"reason": "caller asked for a person"}]


@pytest.mark.parametrize("goodbye", ["goodbye", "thank you bye", "thats all"])
def test_goodbye_ends_the_call(goodbye: str) -> None:
    call = Call()
    assert call.say(goodbye) == CLOSING
    assert call.called("end_call") == [{"reason": "caller said goodbye"}]


def test_nothing_else_ends_the_call() -> None:
    call = Call(clinic=FakeClinic())
    call.say("where are you")
    assert call.say("no thanks") == CLOSING
    assert [name for name, _ in call.tool_calls] == ["clinic_info", "end_call"]


# --- not understood ------------------------------------------------------------------------


def test_gibberish_reasks_then_offers_the_front_desk() -> None:
    call = Call()
    assert call.say("purple monkey dishwasher") == GENERIC_REASK
    assert call.say("the cat sat on the mat") == (
        f"Sorry, I'm still having trouble understanding. {TRANSFER_OFFER}"
    )
    assert call.say("yes") == PUT_THROUGH
    assert call.called("transfer_to_front_desk") == [{"reason": "caller was not understood"}]


def test_a_miss_reasks_the_pending_question_and_declining_the_offer_returns_to_it() -> None:
    call = Call(caller_name="Ann Lee")
    call.say("book a checkup")
    assert call.say("mmm") == "Sorry, I didn't catch that. What day would you like to come in?"
    assert call.say("blah") == f"Sorry, I'm still having trouble understanding. {TRANSFER_OFFER}"
    assert call.say("no") == "All right. What day would you like to come in?"
    assert call.say("tomorrow").endswith("Which time would you like?")


def test_an_understood_turn_resets_the_miss_count() -> None:
    call = Call()
    assert call.say("purple monkey") == GENERIC_REASK
    call.say("where are you")
    assert call.say("purple monkey") == GENERIC_REASK


def test_still_not_understood_after_the_offer_gives_keys_then_transfers() -> None:
    call = Call()
    for _ in range(2):
        call.say("blah")
    assert call.say("blah").endswith("press one for yes and two for no.")
    assert call.say("blah") == PUT_THROUGH


@pytest.mark.parametrize("quiet", ["tagged", "typed", "empty"])
def test_silence_reprompts_without_counting_as_a_miss(quiet: str) -> None:
    call = Call()
    call.say("gibberish words")
    reply = {"tagged": call.silence, "typed": lambda: call.say("(silence)"),
             "empty": lambda: call.say("")}[quiet]()  # fmt: skip
    assert reply.startswith("Sorry, I didn't hear anything.")
    assert call.say("gibberish words") == (
        f"Sorry, I'm still having trouble understanding. {TRANSFER_OFFER}"
    )


# --- the phone's own turns: call start and keys -------------------------------------------


def test_the_call_start_turn_is_never_heard_as_the_callers_words() -> None:
    start = turn_message(CallerTurn(text="", source="start"))
    assert start.content == "(call started)"
    system = SystemMessage(f"Today is {TODAY} (Tuesday).\nCaller name: unknown")
    reply = LocalDialogueModel().bind_tools(ALL_TOOLS).invoke([system, start])
    assert reply.tool_calls == [] and reply.content == "How can I help you today?"
    # Nor is it a miss: the first gibberish after it is the first miss of the call.
    assert Call().say("purple monkey dishwasher") == GENERIC_REASK


@pytest.mark.parametrize(
    ("keys", "reply"),
    [("0", PUT_THROUGH), ("1", "Sure, what can I help you with?"), ("2", CLOSING)],
)
def test_a_key_is_a_menu_answer(keys: str, reply: str) -> None:
    call = Call()
    assert call.say("where are you").endswith(ANYTHING_ELSE)
    assert call.press(keys) == reply


def test_keys_pick_from_a_list_just_read_out() -> None:
    call = Call(caller_name="Ann Lee")
    assert call.say("book a checkup on friday").endswith("Which time would you like?")
    assert "at nine thirty a.m." in call.press("2")


def test_star_repeats_and_a_long_entry_is_not_understood() -> None:
    call = Call()
    question = call.say("book a checkup")
    assert call.press("*") == question
    assert call.press("482913") == f"Sorry, I didn't catch that. {question}"


def test_a_key_typed_in_studio_still_counts() -> None:
    call = Call(caller_name="Ann Lee")
    call.say("book a flu shot tomorrow at ten")
    call.say("pressed 1")
    assert call.called("book_appointment") == [
        {"appointment_type": "vaccination", "day": "2026-11-25", "time": "10:00", "name": "Ann Lee"}
    ]


# --- the model as a LangChain chat model ---------------------------------------------------


def _history(*turns: str, caller_name: str = "Maria Lopez") -> list[BaseMessage]:
    return [
        SystemMessage(f"Today is {TODAY} (Tuesday).\nCaller name: {caller_name}"),
        *(HumanMessage(t) for t in turns),
    ]


def test_same_history_same_reply() -> None:
    history = _history("anything free on friday morning")
    first = LocalDialogueModel().bind_tools(ALL_TOOLS).invoke(history)
    second = LocalDialogueModel().bind_tools(ALL_TOOLS).invoke(history)
    assert first.tool_calls == second.tool_calls
    assert first.tool_calls[0]["id"].startswith("call_")
    spoken = [LocalDialogueModel().invoke(_history("blah")).content for _ in range(2)]
    assert spoken[0] == spoken[1]


def test_a_cancelled_reply_leaves_a_consistent_history() -> None:
    # A barge-in cancelled the run: two caller turns in a row, no reply between.
    model = LocalDialogueModel().bind_tools(ALL_TOOLS)
    reply = model.invoke(_history("book a checkup", "tuesday at three", caller_name="unknown"))
    assert reply.content == "And what name should I put the appointment under?"


def test_tool_calls_are_limited_to_bound_tools() -> None:
    only_facts = LocalDialogueModel().bind_tools([spec("clinic_info", topic="string")])
    reply = only_facts.invoke(_history("can i talk to someone"))
    assert reply.tool_calls == []
    assert "can't transfer" in reply.content
    unbound = LocalDialogueModel().invoke(_history("goodbye"))
    assert unbound.tool_calls == []
    assert unbound.content == CLOSING


def test_today_from_the_constructor() -> None:
    model = LocalDialogueModel(today=dt.date(2026, 11, 24)).bind_tools(ALL_TOOLS)
    reply = model.invoke([HumanMessage("anything free tomorrow")])
    assert reply.tool_calls[0]["args"]["day"] == "2026-11-25"


def test_a_tool_cancelled_by_a_barge_in_changes_nothing() -> None:
    model = LocalDialogueModel().bind_tools(ALL_TOOLS)
    history = _history("book a checkup for friday")
    call = model.invoke(history)  # check_availability, cut short by the runner's repair
    cancelled = ToolMessage("Cancelled.", tool_call_id=call.tool_calls[0]["id"], status="error")
    reply = model.invoke([*history, call, cancelled]).content
    assert reply == f"Sorry, something went wrong on my side. {MENU}"
    history += [call, cancelled, HumanMessage("(silence)"), HumanMessage("at ten")]
    assert model.invoke(history).content.startswith("Just to confirm: a checkup on Friday")


def test_streamed_words_concatenate_to_the_reply() -> None:
    model = LocalDialogueModel().bind_tools(ALL_TOOLS)
    history = _history("book a checkup for tuesday at three")
    chunks = list(model.stream(history))
    assert len(chunks) > 5  # word by word, not one block
    assert "".join(c.content for c in chunks) == model.invoke(history).content
    assert chunks[-1].chunk_position == "last"


async def test_streamed_tool_call_chunks_assemble_to_the_tool_call() -> None:
    model = LocalDialogueModel().bind_tools(ALL_TOOLS)
    history = _history("anything free on friday morning")
    chunks = [c async for c in model.astream(history)]
    assert chunks[0].tool_call_chunks[0]["name"] == "check_availability"  # name and id first
    merged = chunks[0]
    for c in chunks[1:]:
        merged += c
    expected = (await model.ainvoke(history)).tool_calls
    assert merged.tool_calls == expected
    assert expected[0]["args"]["part_of_day"] == "morning"
    streamed_args = "".join(c.tool_call_chunks[0]["args"] or "" for c in chunks)
    assert json.loads(streamed_args) == expected[0]["args"]


async def test_langgraph_streams_the_reply_as_message_chunks() -> None:
    @tool(response_format="content_and_artifact")
    def check_availability(
        day: str, appointment_type: str = "checkup", part_of_day: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Free start times on a day."""
        slots = [{"time": t, "doctor": "Dr. Nguyen"} for t in ("14:00", "14:30")]
        return "Two times are free.", {"ok": True, "day": day, "slots": slots}

    model = LocalDialogueModel().bind_tools([check_availability])

    async def agent(state: MessagesState) -> dict[str, Any]:
        system = SystemMessage(f"Today is {TODAY}.")
        return {"messages": [await model.ainvoke([system, *state["messages"]])]}

    def route(state: MessagesState) -> str:
        return "tools" if state["messages"][-1].tool_calls else END

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([check_availability]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", END])
    builder.add_edge("tools", "agent")
    graph = builder.compile()

    spoken, final = "", {}
    async for mode, data in graph.astream(
        {"messages": [HumanMessage("what do you have tomorrow afternoon")]},
        stream_mode=["messages", "values"],
    ):
        if mode == "values":
            final = data
        elif data[1]["langgraph_node"] == "agent" and isinstance(data[0], AIMessageChunk):
            spoken += data[0].content
    expected = (
        "On Wednesday, November twenty fifth, in the afternoon, I have openings at two and "
        "two thirty p.m. Would you like to book one of those?"
    )
    assert spoken == expected == final["messages"][-1].content
    call, result = final["messages"][1:3]
    assert call.tool_calls[0]["args"]["part_of_day"] == "afternoon"
    assert isinstance(result, ToolMessage) and result.artifact["ok"]
