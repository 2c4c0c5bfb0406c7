"""The clinic graph with a chat model set: the rules read every turn, the model the unsure ones.

``DIALGRAPH_MODEL`` names the local fake Chat Completions server, driven by
the real langchain-openai client (``openai-compatible:<url>|<model>``); the
clinic graph runs through :class:`GraphAgent` with its own phone settings.
A turn the rules understand is never sent to the model; one they do not is,
and the graph acts on the model's reading; a failing model leaves the
rules' reading (nothing understood: the question is asked again).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from dialgraph import CallFacts, StartupInfo
from graphs.clinic import understanding
from graphs.clinic.graph import builder, phone
from graphs.clinic.models import get_chat_model
from graphs.runtime.runner import GraphAgent
from tests.openai_fake import FakeOpenAI, HttpError, ToolCalls

TODAY = "2026-11-24T08:00"  # a Tuesday
CALLER = "+15550001111"


@pytest.fixture
async def llm(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        monkeypatch.setenv("DIALGRAPH_MODEL", f"openai-compatible:{fake.base_url}|fake-model")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
        # clients are cached per setting and bound to one event loop: a fresh one per test
        get_chat_model.cache_clear()
        understanding._model.cache_clear()
        yield fake
        get_chat_model.cache_clear()
        understanding._model.cache_clear()


@pytest.fixture
async def agent(tmp_path: Path, llm: FakeOpenAI) -> GraphAgent:
    startup = StartupInfo(f"sqlite:///{tmp_path}/service.db", today=TODAY, timezone=phone.timezone)
    assert phone.on_startup is not None and phone.context is not None
    await phone.on_startup(startup)
    facts = CallFacts(call_sid="CAmodel", caller=CALLER, timezone=phone.timezone, today=TODAY)
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


def understood(**arguments: object) -> ToolCalls:
    return ToolCalls((("Understanding", dict(arguments)),))


async def test_the_model_reads_what_the_rules_cannot_and_the_graph_acts_on_it(
    agent: GraphAgent, llm: FakeOpenAI
) -> None:
    await speak(agent, source="start")
    assert await speak(agent, "i'd like to book a checkup") == "What day would you like to come in?"
    assert llm.requests == [], "a turn the rules understand is not sent to the model"

    llm.replies.append(
        understood(
            intent=None,
            intent_confidence=0,
            answer=None,
            answer_confidence=0,
            correction=False,
            slots={
                "day": {
                    "value": "2026-11-27",
                    "confidence": 0.9,
                    "heard": "the day before the weekend",
                }
            },
        )
    )
    reply = await speak(agent, "how about the day before the weekend")
    assert reply.startswith("On Friday, November twenty seventh"), reply
    (request,) = llm.requests
    prompt = request["messages"][-1]["content"]
    assert '"how about the day before the weekend"' in prompt and "expects: a day" in prompt
    state = (await agent._graph.aget_state(agent.config)).values
    assert state["heard"]["source"] == "rules+model"
    assert state["slots"]["day"] == "2026-11-27" and state["heard"]["sure"]["day"] == 0.9


async def test_a_value_the_model_is_unsure_of_is_checked(
    agent: GraphAgent, llm: FakeOpenAI
) -> None:
    await speak(agent, source="start")
    llm.replies.append(
        understood(
            intent="book",
            intent_confidence=0.9,
            slots={
                "appointment_type": {
                    "value": "vaccination",
                    "confidence": 0.5,
                    "heard": "arm poked",
                },
            },
        )
    )
    reply = await speak(agent, "i was hoping to pop in and get my arm poked")
    assert reply == "Sorry, I want to be sure I heard that right. Did you say a vaccination?"
    tool = llm.requests[0]["tools"][0]["function"]
    assert tool["name"] == "Understanding"
    assert "vaccination" in json.dumps(tool["parameters"])


async def test_a_failing_model_leaves_the_rules_reading(agent: GraphAgent, llm: FakeOpenAI) -> None:
    await speak(agent, source="start")
    await speak(agent, "i'd like to book a checkup")
    llm.replies.append(HttpError(500, "upstream is down"))
    reply = await speak(agent, "how about the day before the weekend")
    assert reply.startswith("Sorry"), reply
    assert reply.endswith("What day would you like to come in?")
    asked = [request["messages"][-1]["content"] for request in llm.requests]
    assert asked and all("day before the weekend" in prompt for prompt in asked)  # (a retry)
