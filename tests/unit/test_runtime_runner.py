"""The runner puts graphs nobody wrote for Dialgraph on the phone.

Each test builds a graph the way a LangGraph user would (``create_agent``, a
hand-built ``StateGraph`` with ``interrupt()``, a graph with no greeting),
runs it through :class:`GraphAgent` as the call session does, and checks what
the caller would notice: the words spoken, the call action asked for, what
the next turn expects, and the checkpoint afterwards.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph

from dialgraph import (
    CALL_TOOLS,
    Expect,
    ask,
    call_facts,
    caller_turn,
    collect_digits,
    is_call_start,
    play_message,
    say,
    side_effect,
)
from graphs.runtime.effects import use_ledger
from graphs.runtime.runner import SPOKEN_MARK, GraphAgent
from memory.effects import InMemoryEffectLedger
from memory.transcripts import Transcript
from tests.fakes_graph import ScriptedChatModel, Step, assert_valid_history

SUPPORT = "+15550100300"


async def speak(agent: GraphAgent, text: str = "", source: str = "speech") -> str:
    return "".join([token async for token in agent.respond(text, source=source)])


async def history(agent: GraphAgent) -> list[tuple[str, str]]:
    state = await agent._graph.aget_state(agent.config)
    return [(type(m).__name__, m.content) for m in state.values.get("messages", [])]


def simple_graph(node, *, name: str = "reply") -> Any:
    return simple_graph_on(InMemorySaver(), node, name=name)


def simple_graph_on(saver: Any, node, *, name: str = "reply") -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node(name, node)
    builder.add_edge(START, name)
    builder.add_edge(name, END)
    return builder.compile(checkpointer=saver)


# -- create_agent (LangChain 1.x) ----------------------------------------------------
async def test_create_agent_graph_greets_answers_and_transfers() -> None:
    model = ScriptedChatModel(
        steps=[
            Step(text="Hello, support desk."),
            Step(tool_calls=[("transfer_call", {"reason": "caller asked for a person"})]),
            Step(text="Putting you through now."),
        ]
    )
    graph = create_agent(model, tools=CALL_TOOLS, checkpointer=InMemorySaver())
    agent = GraphAgent(graph, thread_id="t-agent", transfer_targets={"support": SUPPORT})

    assert await speak(agent, source="start") == "Hello, support desk."
    # The tool call itself is never read out; only the model's words are.
    assert await speak(agent, "can I talk to a person") == "Putting you through now."
    assert agent.pending_action() == {
        "kind": "transfer",
        "target": SUPPORT,
        "reason": "caller asked for a person",
    }
    assert agent.pending_action() is None  # handed over once
    state = await graph.aget_state(agent.config)
    request = next(m for m in state.values["messages"] if isinstance(m, ToolMessage))
    assert request.artifact["dialgraph_action"]["kind"] == "transfer"  # in the checkpoint


async def test_the_model_sees_the_start_turn_and_keys_as_tagged_messages() -> None:
    model = ScriptedChatModel(steps=[Step(text="Hi."), Step(text="You pressed four.")])
    graph = create_agent(model, tools=[], checkpointer=InMemorySaver())
    agent = GraphAgent(graph, thread_id="t-keys")
    await speak(agent, source="start")
    await speak(agent, "4", source="dtmf")
    start, keys = (m for m in model.seen[-1] if isinstance(m, HumanMessage))
    assert caller_turn(start)["source"] == "start"
    assert keys.content == "4"
    assert caller_turn(keys) == {"text": "4", "source": "dtmf", "digits": "4"}


# -- a hand-built graph that asks with interrupt() ------------------------------------
def booking_by_questions(state: MessagesState) -> dict[str, Any]:
    day = ask("Which day suits you?", Expect.date())
    account = ask("Please key your account number, then hash.", Expect.digits(6))
    return {"messages": [AIMessage(f"Booked {day['text']} for account {account['digits']}.")]}


async def test_interrupt_questions_are_spoken_and_resumed_with_the_callers_answer() -> None:
    graph = simple_graph(booking_by_questions)
    agent = GraphAgent(graph, thread_id="t-ask")

    assert await speak(agent, source="start") == "Which day suits you?"
    assert agent.waiting and agent.expecting()["kind"] == "date"
    assert await speak(agent, "tuesday") == "Please key your account number, then hash."
    expecting = agent.expecting()
    assert expecting["kind"] == "digits" and expecting["max_digits"] == 6
    assert await speak(agent, "482913", source="dtmf") == "Booked tuesday for account 482913."
    assert not agent.waiting
    # The runtime recorded the questions and answers in order.
    assert await history(agent) == [
        ("HumanMessage", "(call started)"),
        ("AIMessage", "Which day suits you?"),
        ("HumanMessage", "tuesday"),
        ("AIMessage", "Please key your account number, then hash."),
        ("HumanMessage", "482913"),
        ("AIMessage", "Booked tuesday for account 482913."),
    ]


async def test_a_question_cut_by_barge_in_is_recorded_as_heard() -> None:
    agent = GraphAgent(simple_graph(booking_by_questions), thread_id="t-cut")
    await speak(agent, source="start")
    await agent.record_heard("Which day")
    await speak(agent, "friday")
    said = await history(agent)
    assert said[1] == ("AIMessage", "Which day")
    assert said[2] == ("HumanMessage", "friday")


# -- greeting ------------------------------------------------------------------------
async def test_a_graph_that_says_nothing_at_start_gets_the_configured_greeting() -> None:
    def quiet(state: MessagesState) -> dict[str, Any]:
        if is_call_start(state["messages"]):
            return {}
        return {"messages": [AIMessage("Noted.")]}

    agent = GraphAgent(simple_graph(quiet), thread_id="t-quiet", greeting="Hello, how can I help?")
    assert await speak(agent, source="start") == "Hello, how can I help?"
    assert await speak(agent, "my router blinks") == "Noted."
    assert await history(agent) == [
        ("HumanMessage", "(call started)"),
        ("AIMessage", "Hello, how can I help?"),
        ("HumanMessage", "my router blinks"),
        ("AIMessage", "Noted."),
    ]


# -- what is spoken ------------------------------------------------------------------
async def test_say_payloads_are_spoken_other_custom_payloads_are_not() -> None:
    def node(state: MessagesState) -> dict[str, Any]:
        writer = get_stream_writer()
        writer({"progress": 0.5, "say_nothing": "internal"})
        say("One moment.")
        return {"messages": [AIMessage("Your line is fine.")]}

    agent = GraphAgent(simple_graph(node), thread_id="t-say")
    assert await speak(agent, "check my line") == "One moment.Your line is fine."


async def test_nostream_runs_and_unlisted_nodes_are_not_spoken() -> None:
    hidden = ScriptedChatModel(steps=[Step(text="internal summary")]).with_config(tags=["nostream"])

    async def summarise(state: MessagesState) -> dict[str, Any]:
        await hidden.ainvoke(state["messages"])
        return {}

    def notes(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("note for the CRM")]}

    def answer(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("Thanks for calling.")]}

    builder = StateGraph(MessagesState)
    for name, node in (("summarise", summarise), ("notes", notes), ("answer", answer)):
        builder.add_node(name, node)
    builder.add_edge(START, "summarise")
    builder.add_edge("summarise", "notes")
    builder.add_edge("notes", "answer")
    builder.add_edge("answer", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    agent = GraphAgent(graph, thread_id="t-nodes", spoken_nodes=frozenset({"answer"}))
    assert await speak(agent, "bye") == "Thanks for calling."


async def test_play_message_reads_verbatim_and_collect_digits_arms_the_keypad() -> None:
    model = ScriptedChatModel(
        steps=[
            Step(tool_calls=[("play_message", {"text": "Calls are recorded."})]),
            Step(
                tool_calls=[
                    (
                        "collect_digits",
                        {"prompt": "Key your ticket number, then hash.", "max_digits": 6},
                    )
                ]
            ),
            Step(text=""),
        ]
    )
    graph = create_agent(model, tools=[play_message, collect_digits], checkpointer=InMemorySaver())
    agent = GraphAgent(graph, thread_id="t-play")
    assert await speak(agent, "ticket status") == (
        "Calls are recorded.Key your ticket number, then hash."
    )
    assert agent.expecting()["kind"] == "digits"
    assert agent.expecting()["max_digits"] == 6


async def test_call_facts_reach_nodes_and_tools_through_configurable() -> None:
    seen: list[Any] = []

    @tool
    def whoami() -> str:
        """Say who is calling."""
        seen.append(call_facts())
        return "ok"

    def node(state: MessagesState) -> dict[str, Any]:
        seen.append(call_facts())
        return {"messages": [AIMessage("Hi.")]}

    facts = {"call_sid": "CA1", "caller": "+15551230000", "timezone": "Europe/Berlin"}
    agent = GraphAgent(simple_graph(node), thread_id="t-facts", configurable={"dialgraph": facts})
    await speak(agent, source="start")
    assert seen[0].call_sid == "CA1" and seen[0].caller == "+15551230000"
    assert seen[0].timezone == "Europe/Berlin"
    assert whoami.invoke({}) == "ok" and seen[1].call_sid == ""  # outside a call: empty


# -- barge-in ------------------------------------------------------------------------
async def test_a_reply_cut_by_barge_in_is_stored_as_heard_in_a_create_agent_graph() -> None:
    model = ScriptedChatModel(
        steps=[Step(text="We are open from nine to five on weekdays."), Step(text="Sure.")]
    )
    graph = create_agent(model, tools=[], checkpointer=InMemorySaver())
    agent = GraphAgent(graph, thread_id="t-heard")
    await speak(agent, "when are you open")
    await agent.record_heard("We are open from nine")
    said = await history(agent)
    assert said[-1] == ("AIMessage", "We are open from nine")
    assert (await graph.aget_state(agent.config)).next == ()  # nothing left to run
    assert await speak(agent, "and saturday") == "Sure."


async def test_cancel_while_the_model_streams_keeps_the_callers_words() -> None:
    gate = asyncio.Event()
    step = Step(text="Let me tell you about our plans today", word_gate=(3, gate))
    graph = create_agent(ScriptedChatModel(steps=[step]), tools=[], checkpointer=InMemorySaver())
    agent = GraphAgent(graph, thread_id="t-cancel")
    three_words = asyncio.Event()

    async def consume() -> None:
        spoken = []
        async for token in agent.respond("tell me about plans"):
            spoken.append(token)
            if len(spoken) == 3:  # the model is held after three words
                three_words.set()

    task = asyncio.create_task(consume())
    await three_words.wait()
    task.cancel()  # as the session does on barge-in: the reply first, then the run
    with pytest.raises(asyncio.CancelledError):
        await task
    await agent.cancel()
    await agent.record_heard("Let me tell")
    said = await history(agent)
    assert said == [("HumanMessage", "tell me about plans"), ("AIMessage", "Let me tell")]


# -- the record: checkpoint, transcript and what was heard agree ----------------------
GOODBYE = "I haven't heard anything for a while, so I'll end the call now. Goodbye."
APOLOGY = "Sorry, I had a problem there. Could you say that again?"


def transcribed(agent: GraphAgent, transcript: Transcript) -> GraphAgent:
    """``agent`` with the service's after-turn hook: the state's messages into ``transcript``."""

    async def after_turn(values: Any) -> None:
        await transcript.aappend_messages(values.get("messages", []))

    agent._on_turn_end = after_turn
    return agent


async def the_record(agent: GraphAgent, transcript: Transcript) -> list[tuple[str, str, dict]]:
    """The call as the checkpoint and the transcript both tell it: (role, text, marks).

    Fails if they disagree on any message.
    """
    await agent._settled()  # the last turn's transcript is written after its reply
    state = await agent._graph.aget_state(agent.config)
    roles = {"HumanMessage": "caller", "AIMessage": "agent", "ToolMessage": "tool"}
    checkpoint = []
    for m in state.values["messages"]:
        marks = m.response_metadata if isinstance(m, AIMessage) else {}
        checkpoint.append(
            (
                m.id,
                roles[type(m).__name__],
                m.text,
                {"interrupted": True} if marks.get("interrupted") else {},
                {"runtime": True} if marks.get(SPOKEN_MARK) else {},
            )
        )
    lines = [
        (
            e.message_id,
            e.role,
            e.text,
            {k: v for k, v in e.meta.items() if k == "interrupted"},
            {k: v for k, v in e.meta.items() if k == "runtime"},
        )
        for e in transcript.entries()
    ]
    events = {e.message_id for e in transcript.entries() if e.role == "event"}
    assert [
        (i, "event" if i in events else role, text, cut, own)
        for i, role, text, cut, own in checkpoint
    ] == lines, "the checkpoint and the transcript tell the same call"
    return [(role, text, {**cut, **own}) for _, role, text, cut, own in lines]


async def test_a_reply_cut_after_it_was_transcribed_is_revised_to_what_was_heard(
    tmp_path: Path,
) -> None:
    model = ScriptedChatModel(steps=[Step(text="We are open from nine to five on weekdays.")])
    graph = create_agent(model, tools=[], checkpointer=InMemorySaver())
    transcript = Transcript.open("CAcut", directory=tmp_path)
    agent = transcribed(GraphAgent(graph, thread_id="t-rec-cut"), transcript)
    await speak(agent, "when are you open")
    await agent._settled()  # the whole reply is in the transcript before the caller cuts it
    assert transcript.entries()[-1].text == "We are open from nine to five on weekdays."

    await agent.record_heard("We are open from nine")
    assert await the_record(agent, transcript) == [
        ("caller", "when are you open", {}),
        ("agent", "We are open from nine", {"interrupted": True}),
    ]


async def test_the_session_goodbye_is_recorded_when_the_call_closes(tmp_path: Path) -> None:
    agent = GraphAgent(
        simple_graph(lambda state: {"messages": [AIMessage("Hello.")]}), thread_id="t-rec-bye"
    )
    transcript = Transcript.open("CAbye", directory=tmp_path)
    transcribed(agent, transcript)
    await speak(agent, source="start")
    await speak(agent, source="silence")  # a reprompt: the graph's own words
    agent.record_spoken(GOODBYE)  # the session's goodbye after repeated silence
    await agent.aclose()
    record = await the_record(agent, transcript)
    assert record[-1] == ("agent", GOODBYE, {"runtime": True})
    assert [role for role, _, _ in record] == ["event", "agent", "event", "agent", "agent"]


async def test_at_an_interrupt_the_question_and_goodbye_are_recorded_at_close(
    tmp_path: Path,
) -> None:
    agent = GraphAgent(simple_graph(booking_by_questions), thread_id="t-rec-ask")
    transcript = Transcript.open("CAask", directory=tmp_path)
    transcribed(agent, transcript)
    assert await speak(agent, source="start") == "Which day suits you?"
    agent.record_spoken(GOODBYE)
    await agent.aclose()
    assert (await the_record(agent, transcript))[1:] == [
        ("agent", "Which day suits you?", {"runtime": True}),
        ("agent", GOODBYE, {"runtime": True}),
    ]


class DatabaseDown(Exception):
    """What a checkpointer raises while its database is unreachable."""


class FlakySaver(InMemorySaver):
    """An in-memory checkpointer whose database can be taken down."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise DatabaseDown("connection refused")

    async def aget_tuple(self, config):  # type: ignore[no-untyped-def]
        self._check()
        return await super().aget_tuple(config)

    async def aput(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._check()
        return await super().aput(*args, **kwargs)

    async def aput_writes(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._check()
        return await super().aput_writes(*args, **kwargs)


async def test_a_turn_lost_to_a_database_fault_is_kept_with_the_apology(tmp_path: Path) -> None:
    saver = FlakySaver()
    echo = simple_graph_on(
        saver, lambda state: {"messages": [AIMessage(f"Got: {state['messages'][-1].text}")]}
    )
    agent = GraphAgent(echo, thread_id="t-rec-db")
    transcript = Transcript.open("CAdb", directory=tmp_path)
    transcribed(agent, transcript)
    await speak(agent, source="start")

    saver.down = True
    with pytest.raises(DatabaseDown):
        await speak(agent, "book me for tuesday")
    agent.record_spoken(APOLOGY)  # what the session said instead
    saver.down = False
    assert await speak(agent, "did you get that") == "Got: did you get that"
    assert [(role, text) for role, text, _ in await the_record(agent, transcript)] == [
        ("event", "(call started)"),
        ("agent", "Got: (call started)"),
        ("caller", "book me for tuesday"),
        ("agent", APOLOGY),
        ("caller", "did you get that"),
        ("agent", "Got: did you get that"),
    ]


async def test_a_turn_that_fails_after_its_input_was_stored_is_not_repeated() -> None:
    calls = 0

    def fragile(state: MessagesState) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise DatabaseDown("the calendar's database went away")
        return {"messages": [AIMessage("Booked.")]}

    agent = GraphAgent(simple_graph(fragile), thread_id="t-rec-node")
    with pytest.raises(DatabaseDown):
        await speak(agent, "book me")
    agent.record_spoken(APOLOGY)
    assert await speak(agent, "hello?") == "Booked."
    assert await history(agent) == [
        ("HumanMessage", "book me"),
        ("AIMessage", APOLOGY),
        ("HumanMessage", "hello?"),
        ("AIMessage", "Booked."),
    ]


async def test_an_apology_cut_by_barge_in_is_recorded_as_heard(tmp_path: Path) -> None:
    gate = asyncio.Event()
    step = Step(text="Let me check that for you", word_gate=(3, gate))

    class Broken(ScriptedChatModel):
        async def _astream(self, *args: Any, **kwargs: Any):  # type: ignore[override]
            async for chunk in super()._astream(*args, **kwargs):
                yield chunk
                if "check" in str(chunk.message.content):
                    raise DatabaseDown("gone")

    graph = create_agent(Broken(steps=[step]), tools=[], checkpointer=InMemorySaver())
    agent = GraphAgent(graph, thread_id="t-rec-apology")
    transcript = Transcript.open("CAapology", directory=tmp_path)
    transcribed(agent, transcript)
    gate.set()
    with pytest.raises(DatabaseDown):
        await speak(agent, "is my order late")
    # The session spoke the apology after the graph's words; the caller cut it.
    await agent.record_heard("Let me check Sorry, I had")
    await agent.aclose()
    assert (await the_record(agent, transcript))[1:] == [
        ("agent", "Let me check", {}),
        ("agent", "Sorry, I had", {"runtime": True, "interrupted": True}),
    ]


async def test_keys_are_recorded_as_the_callers_turn(tmp_path: Path) -> None:
    agent = GraphAgent(simple_graph(booking_by_questions), thread_id="t-rec-keys")
    transcript = Transcript.open("CAkeys", directory=tmp_path)
    transcribed(agent, transcript)
    await speak(agent, source="start")
    await speak(agent, "tuesday")
    await speak(agent, "482913", source="dtmf")
    await agent.aclose()
    record = await the_record(agent, transcript)
    assert ("caller", "482913", {}) in record
    assert record[-1] == ("agent", "Booked tuesday for account 482913.", {})


async def test_with_the_database_down_at_hang_up_the_transcript_still_has_the_goodbye(
    tmp_path: Path,
) -> None:
    saver = FlakySaver()
    agent = GraphAgent(
        simple_graph_on(saver, lambda state: {"messages": [AIMessage("Hello.")]}),
        thread_id="t-rec-down",
    )
    transcript = Transcript.open("CAdown", directory=tmp_path)
    transcribed(agent, transcript)
    await speak(agent, source="start")
    agent.record_spoken(GOODBYE)
    saver.down = True
    await agent.aclose()  # never raises: the call is ending anyway
    assert [(e.role, e.text, e.meta) for e in transcript.entries()][-1] == (
        "agent",
        GOODBYE,
        {"runtime": True},
    )


async def test_a_booking_committed_before_the_database_failed_is_answered_next_turn() -> None:
    """The tool committed (ledger), then its result's checkpoint write failed: the
    next run answers the open tool call from the ledger, before the model sees it."""
    saver = FlakySaver()
    booked: list[str] = []

    @side_effect
    @tool
    async def book(day: str) -> str:
        """Book a visit.

        Args:
            day: The day.
        """
        booked.append(day)
        saver.down = True  # the database goes away right after the booking commits
        return f"Booked for {day}."

    model = ScriptedChatModel(
        steps=[Step(tool_calls=[("book", {"day": "tuesday"})]), Step(text="You're booked.")]
    )
    graph = create_agent(model, tools=[book], checkpointer=saver)
    previous = use_ledger(InMemoryEffectLedger())
    try:
        agent = GraphAgent(graph, thread_id="t-book-db")
        with pytest.raises(DatabaseDown):
            await speak(agent, "book me for tuesday")
        agent.record_spoken(APOLOGY)
        saver.down = False
        assert await speak(agent, "did that work") == "You're booked."
    finally:
        use_ledger(previous)
    assert booked == ["tuesday"]  # booked once, never again
    messages = (await graph.aget_state(agent.config)).values["messages"]
    assert_valid_history(messages)
    answer = next(m for m in messages if isinstance(m, ToolMessage))
    assert answer.content == "Booked for tuesday."  # the committed outcome, from the ledger
