"""The example in docs/graph-contract.md works as the page says."""

from __future__ import annotations

from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

from dialgraph import load_flow
from graphs.runtime.runner import GraphAgent

REPO = Path(__file__).resolve().parents[2]


async def speak(agent: GraphAgent, text: str = "", source: str = "speech") -> str:
    return "".join([token async for token in agent.respond(text, source=source)])


def outage_line(thread: str) -> GraphAgent:
    flow = load_flow("docs/examples/outage_line.py:graph", root=REPO)
    graph = flow.compile(InMemorySaver(), None)
    return GraphAgent(graph, thread_id=thread, transfer_targets=flow.phone.transfer_targets)


async def test_spoken_zip_code_gets_the_outage_and_a_goodbye() -> None:
    agent = outage_line("docs-1")
    assert "outage line" in await speak(agent, source="start")
    assert await speak(agent, "yes it is") == "Which ZIP code? Say it or key it."
    reply = await speak(agent, "five five one zero three")
    assert reply.startswith("Yes, a cable cut near Main Street")
    assert agent.pending_action() == {"kind": "hangup", "reason": "answered"}


async def test_keyed_zip_code_and_a_request_for_a_person() -> None:
    agent = outage_line("docs-2")
    await speak(agent, source="start")
    await speak(agent, "yes")
    assert agent.expecting()["kind"] == "digits"
    assert "no known outage" in await speak(agent, "90210", source="dtmf")
    person = outage_line("docs-3")
    await speak(person, source="start")
    assert await speak(person, "can I talk to a person") == "Putting you through."
    assert person.pending_action()["target"] == "+15550100300"


async def test_the_public_text_call_drives_the_example(tmp_path: Path) -> None:
    from dialgraph.testing import TextCall

    flow = "docs/examples/outage_line.py:graph"
    async with TextCall(flow, var_dir=tmp_path, root=REPO) as call:
        assert "outage line" in await call.start()
        await call.say("yes")
        assert "cable cut" in await call.press("55103#")
        assert call.action == {"kind": "hangup", "reason": "answered"}
        said = [m.content for m in (await call.state())["messages"]]
        question = said.index("Which ZIP code? Say it or key it.")
        assert said[question + 1] == "55103"  # the keyed answer, recorded after the question
