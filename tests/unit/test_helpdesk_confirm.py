"""The helpdesk graph reads turns through the understanding step and confirms unsure values.

Driven as a call drives it (:class:`GraphAgent`, ``InMemorySaver``, the flow's
phone settings and start-up hook), with what a recogniser adds to the words:
its confidence and its other readings. A ZIP code or ticket number heard
less sure than ``CONFIRM_BELOW`` is read back and used only after a yes; a no
asks for it again; it is never looked up, nor written into a ticket, before.
Also: which understander the setting gives, and that a wrong setting stops
the start-up with a message that names it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from dialgraph import CallFacts, Mixed, StartupInfo, Understanding, load_flow
from graphs.helpdesk import replies, understander
from graphs.helpdesk.graph import CONFIRM_BELOW, builder, phone
from graphs.helpdesk.meaning import RULES
from graphs.runtime.contract import TurnSource
from graphs.runtime.runner import GraphAgent
from tools._helpdesk_db import get_helpdesk

REPO = Path(__file__).parents[2]
MIDWAY = "Yes, there's a known outage in ZIP code 5 5 1 0 4, in Midway"
FROGTOWN = "Yes, there's a known outage in ZIP code 5 5 1 0 3, in Frogtown"
TICKET_482913 = "Ticket 4 8 2 9 1 3 is scheduled."


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The rules alone, whatever the developer's environment says."""
    monkeypatch.delenv(understander.MODEL_ENV, raising=False)
    understander._understander_for.cache_clear()
    yield
    understander._understander_for.cache_clear()


@pytest.fixture
async def startup(tmp_path: Path) -> StartupInfo:
    info = StartupInfo(f"sqlite:///{tmp_path}/service.db", today="", timezone=phone.timezone)
    assert phone.on_startup is not None
    await phone.on_startup(info)
    return info


@pytest.fixture
async def agent(startup: StartupInfo) -> GraphAgent:
    facts = CallFacts(call_sid=f"CA{uuid.uuid4().hex}", timezone=phone.timezone)
    assert phone.context is not None
    agent = GraphAgent(
        builder.compile(checkpointer=InMemorySaver()),
        thread_id=str(uuid.uuid4()),
        context=phone.context(facts, startup),
        configurable={"dialgraph": facts.to_config()},
        transfer_targets=phone.transfer_targets,
        greeting=phone.greeting,
    )
    assert await speak(agent, source="start") == replies.GREETING
    return agent


async def speak(
    agent: GraphAgent,
    text: str = "",
    source: TurnSource = "speech",
    confidence: float | None = None,
    alternatives: tuple[str, ...] = (),
) -> str:
    tokens = agent.respond(text, source=source, confidence=confidence, alternatives=alternatives)
    return "".join([token async for token in tokens])


async def state_of(agent: GraphAgent) -> dict[str, Any]:
    return (await agent._graph.aget_state(agent.config)).values


async def looked_up(agent: GraphAgent) -> list[tuple[str, dict[str, Any]]]:
    """Every tool the graph called on this call, with its arguments."""
    messages = (await state_of(agent))["messages"]
    return [
        (call["name"], call["args"])
        for m in messages
        if isinstance(m, AIMessage)
        for call in m.tool_calls
    ]


# -- a value only the recogniser's other reading holds ------------------------------------
async def test_a_zip_code_only_in_the_recognisers_other_reading_is_read_back_then_used(
    agent: GraphAgent,
) -> None:
    said = await speak(
        agent,
        "is there an outage in fine five one oh four",  # the best reading: four digits
        alternatives=("is there an outage in five five one oh four",),
    )
    assert said == replies.confirm_value("zip_code", "55104") == "Was that zip code 5 5 1 0 4?"
    assert agent.expecting() == {"kind": "yes_no", "hints": []}
    assert await looked_up(agent) == []  # nothing looked up before the yes
    values = await state_of(agent)
    assert not values.get("zip_code") and values["pending"] == "confirm_value"
    assert values["unconfirmed"] == {
        "slot": "zip_code",
        "value": "55104",
        "confidence": 0.9,  # the first other reading: EXACT x 0.9
        "heard": "is there an outage in five five one oh four",
    }
    assert values["unconfirmed"]["confidence"] < CONFIRM_BELOW

    said = await speak(agent, "yes")
    assert said.startswith(MIDWAY)
    assert await looked_up(agent) == [("check_outage", {"zip_code": "55104"})]
    values = await state_of(agent)
    assert values["zip_code"] == "55104" and values["unconfirmed"] is None
    assert values["pending"] is None


async def test_a_no_to_the_zip_code_read_back_asks_for_it_again(agent: GraphAgent) -> None:
    await speak(agent, "is there an outage in five five one oh four", confidence=0.8)
    assert await speak(agent, "no") == replies.ASK_ZIP_REHEARD
    said = await speak(agent, "55103", source="dtmf")  # keyed: sure
    assert said.startswith(FROGTOWN)
    assert await looked_up(agent) == [("check_outage", {"zip_code": "55103"})]
    assert (await state_of(agent))["pending"] is None


async def test_a_no_with_the_right_zip_code_uses_that_one(agent: GraphAgent) -> None:
    await speak(agent, "is there an outage in five five one oh three", confidence=0.8)
    said = await speak(agent, "no, five five one oh four", confidence=0.98)
    assert said.startswith(MIDWAY)
    assert await looked_up(agent) == [("check_outage", {"zip_code": "55104"})]


# -- values asked for, heard unsure ---------------------------------------------------------
async def test_a_zip_code_asked_for_and_heard_unsure_is_read_back(agent: GraphAgent) -> None:
    assert await speak(agent, "my internet is down") == replies.ASK_ZIP
    said = await speak(agent, "five five one oh three", confidence=0.7)
    assert said == "Was that zip code 5 5 1 0 3?"
    assert await looked_up(agent) == []
    assert (await speak(agent, "yeah")).startswith(FROGTOWN)


async def test_an_asked_zip_code_only_in_the_other_reading_is_read_back(
    agent: GraphAgent,
) -> None:
    assert await speak(agent, "is there an outage in my area") == replies.ASK_ZIP
    said = await speak(agent, "fine five one oh three", alternatives=("five five one oh three",))
    assert said == "Was that zip code 5 5 1 0 3?"
    assert await speak(agent, "no") == replies.ASK_ZIP_REHEARD
    assert (await speak(agent, "five five one oh four")).startswith(MIDWAY)
    assert await looked_up(agent) == [("check_outage", {"zip_code": "55104"})]


async def test_a_ticket_number_heard_unsure_is_asked_again_until_answered(
    agent: GraphAgent,
) -> None:
    said = await speak(
        agent, "whats the status of ticket four eight two nine one three", confidence=0.8
    )
    assert said == "Was that ticket number 4 8 2 9 1 3?"
    said = await speak(agent, "hmm the cat", confidence=0.8)
    assert said == replies.confirm_value_again("ticket_number", "482913")
    values = await state_of(agent)
    assert values["pending"] == "confirm_value" and values["unconfirmed"]["value"] == "482913"
    assert await looked_up(agent) == []
    assert (await speak(agent, "yes that's right")).startswith(TICKET_482913)
    assert await looked_up(agent) == [("ticket_status", {"ticket_number": "482913"})]


async def test_a_value_heard_sure_is_used_as_heard(agent: GraphAgent) -> None:
    said = await speak(agent, "is there an outage in five five one oh four", confidence=0.97)
    assert said.startswith(MIDWAY)  # no read-back
    assert (await state_of(agent))["heard"]["slots"]["zip_code"]["confidence"] == 0.97


async def test_an_unsure_zip_code_is_not_written_into_a_new_ticket(
    agent: GraphAgent, startup: StartupInfo
) -> None:
    said = await speak(agent, "my router is broken, zip five five one oh four", confidence=0.8)
    assert said.startswith("I'll open a repair ticket saying:")
    assert not (await state_of(agent)).get("zip_code")
    await speak(agent, "yes")
    (ticket,) = await get_helpdesk(startup.database_url).tickets_opened()
    assert ticket.zip_code == ""


async def test_a_person_asked_for_at_the_read_back_is_put_through(agent: GraphAgent) -> None:
    await speak(agent, "is there an outage in five five one oh four", confidence=0.8)
    assert await speak(agent, "can i talk to a person") == replies.TRANSFER
    assert [name for name, _ in await looked_up(agent)] == ["transfer_call"]
    values = await state_of(agent)
    assert values["unconfirmed"] is None and values["pending"] is None


async def test_what_the_turn_was_heard_as_is_kept_as_plain_data(agent: GraphAgent) -> None:
    await speak(agent, "is there an outage in five five one oh four", confidence=0.8)
    values = await state_of(agent)
    strict = JsonPlusSerializer(allowed_msgpack_modules=None)  # only plain types come back
    kept = {k: values[k] for k in ("heard", "unconfirmed", "pending", "stage")}
    assert strict.loads_typed(strict.dumps_typed(kept)) == kept
    heard = Understanding.from_dict(values["heard"])
    assert (heard.intent, heard.intent_confidence, heard.source) == ("outage", 0.8, "rules")
    assert heard.value("zip_code") == "55104"
    assert values["stage"] == "outage"


# -- the setting ----------------------------------------------------------------------------
def test_without_the_setting_the_graph_reads_with_the_rules_alone() -> None:
    assert understander.understander() is RULES


def test_with_the_setting_the_model_is_built_once_and_asked_after_the_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(understander.MODEL_ENV, "openai:gpt-4.1-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    built = understander.understander()
    assert isinstance(built, Mixed) and built.first is RULES
    assert understander.understander() is built  # per process, not per turn


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("acme:voice-1", r"infer model provider"),
        ("openai:gpt-4.1-mini", r"api_key|API key|OPENAI_API_KEY"),  # no key
    ],
)
async def test_a_wrong_setting_stops_the_start_up_and_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str, problem: str
) -> None:
    monkeypatch.setenv(understander.MODEL_ENV, setting)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    flow = load_flow("helpdesk", root=REPO)  # importing needs no key
    assert flow.phone.on_startup is not None
    startup = StartupInfo(f"sqlite:///{tmp_path}/service.db", "", flow.phone.timezone)
    with pytest.raises(understander.ModelSettingError, match="DIALGRAPH_HELPDESK_MODEL") as err:
        await flow.phone.on_startup(startup)
    assert setting in str(err.value)
    assert err.match(problem)
