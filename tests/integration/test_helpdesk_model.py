"""The explicit helpdesk graph with a chat model set: the model reads what the rules missed.

``DIALGRAPH_HELPDESK_MODEL`` names an OpenAI model, and the real
langchain-openai client talks to a local fake Chat Completions server
(:mod:`tests.openai_fake`) whose answers (calls to ``Understanding``) are
scripted. The flow is loaded by its ``langgraph.json`` id and started by its
own start-up hook (which builds the model), then driven turn by turn as a
call drives it. The graph acts on what the model read (a ticket opened, an
outage looked up), the model's values are read back before use, turns the
rules understand never reach the model, and a failing model leaves the
caller with the rules' answer, not dead air.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from dialgraph import CallFacts, Flow, StartupInfo, load_flow
from graphs.helpdesk import replies, understander
from graphs.runtime.contract import TurnSource
from graphs.runtime.runner import GraphAgent
from tests.openai_fake import FakeOpenAI, HttpError, ToolCalls
from tools._helpdesk_db import get_helpdesk

REPO = Path(__file__).parents[2]
TODAY = "2026-12-03"


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        # Both names: langchain-openai keys its cached HTTP client (bound to one event
        # loop) by OPENAI_API_BASE, so each test's loop gets a client of its own.
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_BASE", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
        monkeypatch.setenv(understander.MODEL_ENV, "openai:gpt-4.1-mini")
        understander._understander_for.cache_clear()  # this test's server, this test's loop
        yield fake
        understander._understander_for.cache_clear()


@pytest.fixture
async def started(server: FakeOpenAI, tmp_path: Path) -> tuple[Flow, StartupInfo]:
    flow = load_flow("helpdesk", root=REPO)
    startup = StartupInfo(f"sqlite:///{tmp_path}/service.db", TODAY, flow.phone.timezone)
    assert flow.phone.on_startup is not None
    await flow.phone.on_startup(startup)  # builds the model: a wrong setting fails here
    return flow, startup


@pytest.fixture
async def agent(started: tuple[Flow, StartupInfo]) -> GraphAgent:
    flow, startup = started
    facts = CallFacts(call_sid=f"CA{uuid.uuid4().hex}", timezone=flow.phone.timezone, today=TODAY)
    assert flow.phone.context is not None
    agent = GraphAgent(
        flow.compile(InMemorySaver(), InMemoryStore()),
        thread_id=str(uuid.uuid4()),
        context=flow.phone.context(facts, startup),
        configurable={"dialgraph": facts.to_config()},
        transfer_targets=flow.phone.transfer_targets,
        greeting=flow.phone.greeting,
    )
    assert await speak(agent, source="start") == replies.GREETING
    return agent


async def speak(
    agent: GraphAgent,
    text: str = "",
    source: TurnSource = "speech",
    confidence: float | None = None,
) -> str:
    tokens = agent.respond(text, source=source, confidence=confidence)
    return "".join([token async for token in tokens])


async def state_of(agent: GraphAgent) -> dict[str, Any]:
    return (await agent._graph.aget_state(agent.config)).values


def understood(**arguments: object) -> ToolCalls:
    return ToolCalls((("Understanding", {"answer": None, "answer_confidence": 0, **arguments}),))


async def test_a_fault_the_rules_missed_is_read_by_the_model_and_the_ticket_opened(
    server: FakeOpenAI, agent: GraphAgent, started: tuple[Flow, StartupInfo]
) -> None:
    words = "the thing upstairs has given up the ghost"
    server.replies.append(
        understood(
            intent="new_ticket",
            intent_confidence=0.85,
            slots={"problem": {"value": words, "confidence": 0.8, "heard": words}},
        )
    )
    said = await speak(agent, words, confidence=0.9)
    assert said == replies.read_back(words)  # the model's reading, and none of its words
    (request,) = server.requests
    system, user = request["messages"]
    assert system["content"].startswith(understander.INSTRUCTIONS)
    assert user["content"].splitlines() == [
        "Today: Thursday 2026-12-03",  # the call's date, from its facts
        "The question just asked expects: nothing in particular",
        "Recogniser confidence: 0.90",
        f'Best reading: "{words}"',
    ]
    heard = (await state_of(agent))["heard"]
    assert (heard["intent"], heard["source"]) == ("new_ticket", "rules+model")

    said = await speak(agent, "yes please", confidence=0.9)  # the rules are sure of a yes
    assert said.startswith("I've opened ticket 7 0 0 0 0 1 for you.")
    assert len(server.requests) == 1  # the model was not asked again
    _, startup = started
    (ticket,) = await get_helpdesk(startup.database_url).tickets_opened()
    assert ticket.summary == words


async def test_a_zip_code_the_model_read_is_read_back_before_the_look_up(
    server: FakeOpenAI, agent: GraphAgent
) -> None:
    server.replies.append(
        understood(
            intent="outage",
            intent_confidence=0.9,
            slots={
                "zip_code": {
                    "value": "55104",
                    "confidence": 0.85,
                    "heard": "fife fife one oh four",
                }
            },
        )
    )
    said = await speak(agent, "nothing works at fife fife one oh four", confidence=0.8)
    assert said == "Was that zip code 5 5 1 0 4?"
    values = await state_of(agent)
    assert values["unconfirmed"] == {
        "slot": "zip_code",
        "value": "55104",
        "confidence": 0.85,
        "heard": "fife fife one oh four",
    }
    said = await speak(agent, "yes")
    assert said.startswith("Yes, there's a known outage in ZIP code 5 5 1 0 4, in Midway")
    assert len(server.requests) == 1
    messages = (await state_of(agent))["messages"]
    calls = [
        (c["name"], c["args"]) for m in messages if isinstance(m, AIMessage) for c in m.tool_calls
    ]
    assert calls == [("check_outage", {"zip_code": "55104"})]


async def test_a_failing_model_leaves_the_rules_answer(
    server: FakeOpenAI, agent: GraphAgent, caplog: pytest.LogCaptureFixture
) -> None:
    server.replies.extend([HttpError(500, "upstream is down")] * 3)  # the client retries
    with caplog.at_level(logging.WARNING, logger="graphs.runtime.understanding.chat_model"):
        said = await speak(agent, "the thing upstairs has given up the ghost", confidence=0.9)
    assert said == replies.REPROMPT  # not understood, as with the rules alone
    assert server.requests
    assert any("the model failed" in r.getMessage() for r in caplog.records)
    assert (await state_of(agent))["misses"] == 1
