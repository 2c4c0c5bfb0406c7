"""The helpdesk's ``create_agent`` variant on the phone, with a scripted chat model.

The model factory is patched with :class:`ScriptedChatModel`; everything else
is as on a call: the flow is loaded by its ``langgraph.json`` id, its start-up
hook seeds the database, the per-call factory is compiled with Dialgraph's
checkpointer, and turns go through :class:`GraphAgent` with the flow's
context and transfer targets.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from langchain_core.messages import SystemMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

import graphs.helpdesk.agent as helpdesk_agent
from dialgraph import CallFacts, GraphLoadError, StartupInfo, load_flow
from graphs.helpdesk.settings import SUPPORT_NUMBER
from graphs.runtime.contract import TurnSource
from graphs.runtime.runner import GraphAgent
from tests.fakes_graph import ScriptedChatModel, Step

REPO = Path(__file__).parents[2]


async def speak(agent: GraphAgent, text: str = "", source: TurnSource = "speech") -> str:
    return "".join([token async for token in agent.respond(text, source=source)])


async def test_the_agent_checks_an_outage_then_transfers_to_support(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(
        steps=[
            Step(text="Northwind Broadband, how can I help?"),
            Step(tool_calls=[("check_outage", {"zip_code": "five five one oh three"})]),
            Step(text="Yes, there is an outage in Frogtown until 6 PM today."),
            Step(
                tool_calls=[
                    (
                        "transfer_call",
                        {"reason": "caller asked for a person", "destination": "support"},
                    )
                ]
            ),
            Step(text="Of course, putting you through to our support team now."),
        ]
    )
    monkeypatch.setattr(helpdesk_agent, "make_model", lambda: model)
    flow = load_flow("helpdesk_agent", root=REPO)
    startup = StartupInfo(f"sqlite:///{tmp_path}/service.db", "", flow.phone.timezone)
    facts = CallFacts(
        call_sid=f"CA{uuid.uuid4().hex}", timezone=flow.phone.timezone, today="2025-03-04"
    )
    assert flow.phone.on_startup is not None and flow.phone.context is not None
    await flow.phone.on_startup(startup)
    agent = GraphAgent(
        flow.compile(InMemorySaver(), InMemoryStore(), facts),
        thread_id=str(uuid.uuid4()),
        context=flow.phone.context(facts, startup),
        configurable={"dialgraph": facts.to_config()},
        transfer_targets=flow.phone.transfer_targets,
        greeting=flow.phone.greeting,
    )

    assert await speak(agent, source="start") == "Northwind Broadband, how can I help?"
    said = await speak(agent, "is there an outage in five five one oh three")
    assert said == "Yes, there is an outage in Frogtown until 6 PM today."
    assert agent.pending_action() is None
    # The model was shown the seeded outage, from the flow's own database.
    shown = model.seen[-1]
    (result,) = [m for m in shown if isinstance(m, ToolMessage)]
    assert result.name == "check_outage"
    assert "known outage in ZIP code 5 5 1 0 3, in Frogtown" in result.content
    assert "Tuesday, March 04, 2025" in next(
        m.content for m in shown if isinstance(m, SystemMessage)
    )

    said = await speak(agent, "can I talk to a person please")
    assert said == "Of course, putting you through to our support team now."
    assert agent.pending_action() == {
        "kind": "transfer",
        "target": SUPPORT_NUMBER,
        "reason": "caller asked for a person",
    }
    assert flow.phone.transfer_targets["support"] == SUPPORT_NUMBER


async def test_without_a_key_the_module_imports_and_start_up_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(helpdesk_agent.MODEL_ENV, "openai:gpt-4.1-mini")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    flow = load_flow("helpdesk_agent", root=REPO)  # importing needs no key
    assert flow.per_call
    startup = StartupInfo(f"sqlite:///{tmp_path}/service.db", "", flow.phone.timezone)
    assert flow.phone.on_startup is not None
    with pytest.raises(Exception, match=r"api_key|API key|OPENAI_API_KEY"):
        await flow.phone.on_startup(startup)
    with pytest.raises(GraphLoadError, match="the graph factory failed"):
        flow.compile(InMemorySaver(), InMemoryStore(), CallFacts(call_sid="CA1"))
