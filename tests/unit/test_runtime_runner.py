"""The runner puts graphs nobody wrote for Dialgraph on the phone.

Each test builds a graph the way a LangGraph user would (``create_agent``, a
hand-built ``StateGraph`` with ``interrupt()``, a graph with no greeting),
runs it through :class:`GraphAgent` as the call session does, and checks what
the caller would notice: the words spoken, the call action asked for, what
the next turn expects, and the checkpoint afterwards.
"""

from __future__ import annotations

import asyncio
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
)
from graphs.runtime.runner import GraphAgent
from tests.fakes_graph import ScriptedChatModel, Step

SUPPORT = "+15550100300"


async def speak(agent: GraphAgent, text: str = "", source: str = "speech") -> str:
    return "".join([token async for token in agent.respond(text, source=source)])


async def history(agent: GraphAgent) -> list[tuple[str, str]]:
    state = await agent._graph.aget_state(agent.config)
    return [(type(m).__name__, m.content) for m in state.values.get("messages", [])]


def simple_graph(node, *, name: str = "reply") -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node(name, node)
    builder.add_edge(START, name)
    builder.add_edge(name, END)
    return builder.compile(checkpointer=InMemorySaver())


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
