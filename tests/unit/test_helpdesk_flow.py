"""The Northwind Broadband helpdesk (the explicit graph) on the phone, without audio.

Each test drives the graph the way a call does: compiled with
``InMemorySaver`` and run through :class:`GraphAgent` with the flow's own
phone settings (its context, transfer targets and greeting), turn by turn
with ``respond(text, source=...)``. It checks what the caller would notice:
the words spoken, the call action asked for, what the next turn expects, the
final state, and the rows in the helpdesk's database (SQLite in ``tmp_path``,
seeded by the flow's start-up hook).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from dialgraph import CallFacts, StartupInfo, load_flow
from graphs.helpdesk import replies
from graphs.helpdesk.graph import builder, phone
from graphs.helpdesk.intents import Intent, asks_instead, plain, understand
from graphs.helpdesk.settings import SUPPORT_NUMBER, TICKET_NUMBER_PATTERN
from graphs.helpdesk.understander import MODEL_ENV
from graphs.helpdesk.vocabulary import PHRASES, PRONUNCIATIONS
from graphs.runtime.contract import TurnSource
from graphs.runtime.effects import InMemoryEffectLedger, tracker, use_ledger
from graphs.runtime.runner import GraphAgent
from telephony.softphone import Dtmf, Say, load_script
from tools._helpdesk_db import Helpdesk, get_helpdesk

REPO = Path(__file__).parents[2]
CALLER = "+15551234567"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The graph's rules alone: a chat model set in the developer's environment
    (``DIALGRAPH_HELPDESK_MODEL``) would be asked for the turns they miss."""
    monkeypatch.delenv(MODEL_ENV, raising=False)


@pytest.fixture
async def startup(tmp_path: Path) -> StartupInfo:
    info = StartupInfo(f"sqlite:///{tmp_path}/service.db", today="", timezone=phone.timezone)
    assert phone.on_startup is not None
    await phone.on_startup(info)  # as the service does: tables and demo rows
    return info


@pytest.fixture
def agent(startup: StartupInfo) -> GraphAgent:
    facts = CallFacts(call_sid=f"CA{uuid.uuid4().hex}", caller=CALLER, timezone=phone.timezone)
    assert phone.context is not None
    return GraphAgent(
        builder.compile(checkpointer=InMemorySaver()),
        thread_id=str(uuid.uuid4()),
        context=phone.context(facts, startup),
        configurable={"dialgraph": facts.to_config()},
        transfer_targets=phone.transfer_targets,
        greeting=phone.greeting,
    )


async def speak(agent: GraphAgent, text: str = "", source: TurnSource = "speech") -> str:
    return "".join([token async for token in agent.respond(text, source=source)])


async def state_of(agent: GraphAgent) -> dict[str, Any]:
    return (await agent._graph.aget_state(agent.config)).values


async def opened(startup: StartupInfo) -> list[Any]:
    return await get_helpdesk(startup.database_url).tickets_opened()


async def answered(agent: GraphAgent) -> GraphAgent:
    assert await speak(agent, source="start") == replies.GREETING
    return agent


# -- outages -------------------------------------------------------------------------
async def test_outage_by_a_zip_code_spoken_as_digit_words(agent: GraphAgent) -> None:
    await answered(agent)
    assert await speak(agent, "is there an outage in my area") == replies.ASK_ZIP
    expecting = agent.expecting()
    assert expecting is not None
    assert expecting["kind"] == "digits" and expecting["max_digits"] == 5
    said = await speak(agent, "five five one zero three")
    assert said.startswith("Yes, there's a known outage in ZIP code 5 5 1 0 3, in Frogtown")
    assert said.endswith(replies.ANYTHING_ELSE)
    assert agent.pending_action() is None
    values = await state_of(agent)
    assert values["zip_code"] == "55103" and values["stage"] == "menu"
    assert values["pending"] is None


async def test_a_zip_code_in_the_question_is_not_asked_for(agent: GraphAgent) -> None:
    await answered(agent)
    said = await speak(agent, "is there an outage in five five one oh four")
    assert said.startswith("Yes, there's a known outage in ZIP code 5 5 1 0 4, in Midway")


async def test_no_outage_offers_a_ticket_for_the_fault_the_caller_described(
    agent: GraphAgent,
) -> None:
    await answered(agent)
    assert await speak(agent, "my internet is down") == replies.ASK_ZIP
    said = await speak(agent, "fifty five one one nine")
    assert said == f"There's no known outage in ZIP code 5 5 1 1 9. {replies.OFFER_TICKET}"
    assert agent.expecting() == {"kind": "yes_no", "hints": []}
    assert await speak(agent, "yes please") == replies.read_back("my internet is down")
    values = await state_of(agent)
    assert values["pending"] == "open_ticket" and values["zip_code"] == "55119"


# -- ticket status ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "source"), [("four eight two nine one three", "speech"), ("482913", "dtmf")]
)
async def test_ticket_status_with_the_number_said_or_keyed(
    agent: GraphAgent, answer: str, source: TurnSource
) -> None:
    await answered(agent)
    assert await speak(agent, "what's the status of my ticket") == replies.ASK_TICKET
    expecting = agent.expecting()
    assert expecting is not None
    assert expecting["kind"] == "digits" and expecting["max_digits"] == 6
    said = await speak(agent, answer, source=source)
    assert said == (
        "Ticket 4 8 2 9 1 3 is scheduled. A technician will visit on Thursday between 8 AM"
        f" and noon. {replies.ANYTHING_ELSE}"
    )
    assert (await state_of(agent))["ticket_number"] == "482913"


async def test_an_unknown_ticket_and_a_number_not_understood_twice(agent: GraphAgent) -> None:
    await answered(agent)
    said = await speak(agent, "any update on ticket one two three four five six")
    assert said.startswith("I couldn't find ticket 1 2 3 4 5 6.")
    await speak(agent, "I'm calling about my ticket")
    assert await speak(agent, "it's on the fridge") == replies.ASK_TICKET_AGAIN
    assert await speak(agent, "", source="silence") == replies.OFFER_PERSON
    assert (await state_of(agent))["pending"] == "transfer"


# -- new tickets -----------------------------------------------------------------------
async def test_a_new_ticket_is_read_back_and_opened_once_on_yes(
    agent: GraphAgent, startup: StartupInfo
) -> None:
    await answered(agent)
    said = await speak(agent, "my router keeps restarting")
    assert said == replies.read_back("my router keeps restarting")
    assert agent.expecting() == {"kind": "yes_no", "hints": []}
    assert await opened(startup) == []  # nothing written before the yes
    said = await speak(agent, "yes")
    assert said == (
        "I've opened ticket 7 0 0 0 0 1 for you. A technician will call you back within one"
        f" working day. {replies.ANYTHING_ELSE}"
    )
    (ticket,) = await opened(startup)
    assert (ticket.number, ticket.summary, ticket.status) == (
        "700001",
        "my router keeps restarting",
        "open",
    )
    values = await state_of(agent)
    assert values["ticket_number"] == "700001" and values["description"] == ""


async def test_a_new_ticket_refused_writes_nothing(agent: GraphAgent, startup: StartupInfo) -> None:
    await answered(agent)
    assert await speak(agent, "I want to open a ticket") == replies.ASK_PROBLEM
    said = await speak(agent, "the light on my modem is blinking")
    assert said == replies.read_back("the light on my modem is blinking")
    assert await speak(agent, "no") == replies.NOT_OPENED
    assert await opened(startup) == []
    values = await state_of(agent)
    assert values["pending"] is None and values["description"] == ""


# -- a person, goodbye, silence ----------------------------------------------------------
async def test_a_person_asked_for_is_a_transfer(agent: GraphAgent) -> None:
    await answered(agent)
    assert await speak(agent, "can I talk to a person") == replies.TRANSFER
    assert agent.pending_action() == {
        "kind": "transfer",
        "target": SUPPORT_NUMBER,
        "reason": "caller asked for a person",
    }
    assert (await state_of(agent))["stage"] == "transferring"


async def test_a_person_mentioned_is_not_a_transfer(agent: GraphAgent) -> None:
    await answered(agent)
    said = await speak(agent, "a person at my house said the router is broken")
    assert said == replies.read_back("a person at my house said the router is broken")
    assert agent.pending_action() is None


async def test_after_a_failed_transfer_the_caller_is_offered_a_ticket(agent: GraphAgent) -> None:
    await answered(agent)
    await speak(agent, "I'd like to speak to a human")
    assert agent.pending_action() is not None
    assert await speak(agent, "transfer_failed", source="event") == replies.TRANSFER_FAILED
    assert agent.pending_action() is None
    assert await speak(agent, "yes") == replies.ASK_PROBLEM


async def test_goodbye_hangs_up(agent: GraphAgent) -> None:
    await answered(agent)
    assert await speak(agent, "no thanks, that's all, goodbye") == replies.GOODBYE
    assert agent.pending_action() == {"kind": "hangup", "reason": "caller said goodbye"}
    assert (await state_of(agent))["stage"] == "ended"


async def test_silence_twice_offers_a_person_and_yes_transfers(agent: GraphAgent) -> None:
    await answered(agent)
    assert await speak(agent, source="silence") == replies.REPROMPT_SILENCE
    assert await speak(agent, source="silence") == replies.OFFER_PERSON
    assert agent.expecting() == {"kind": "yes_no", "hints": []}
    assert await speak(agent, "yes please") == replies.TRANSFER
    action = agent.pending_action()
    assert action is not None and action["target"] == SUPPORT_NUMBER


async def test_a_caller_who_stays_silent_is_hung_up_on(agent: GraphAgent) -> None:
    await answered(agent)
    for _ in range(3):
        await speak(agent, source="silence")
    assert await speak(agent, source="silence") == replies.GONE
    assert agent.pending_action() == {"kind": "hangup", "reason": "caller silent"}


async def test_a_question_not_understood_is_asked_again(agent: GraphAgent) -> None:
    await answered(agent)
    await speak(agent, "my wireless keeps disconnecting")
    said = await speak(agent, "hmm the cat")
    assert said == f"Sorry, I didn't catch that. {replies.PENDING_QUESTIONS['open_ticket']}"
    assert (await state_of(agent))["pending"] == "open_ticket"


async def test_a_zip_code_misheard_with_a_bye_in_it_is_asked_again_not_hung_up_on(
    agent: GraphAgent,
) -> None:
    # On the phone, "five five one zero four" came back as "bye five one zero four".
    await answered(agent)
    assert await speak(agent, "my internet is down") == replies.ASK_ZIP
    assert await speak(agent, "bye five one zero four") == replies.ASK_ZIP_AGAIN
    assert agent.pending_action() is None
    said = await speak(agent, "five five one zero four")
    assert said.startswith("Yes, there's a known outage in ZIP code 5 5 1 0 4, in Midway")


async def test_goodbye_instead_of_a_ticket_number_still_hangs_up(agent: GraphAgent) -> None:
    await answered(agent)
    assert await speak(agent, "I'm calling about my ticket") == replies.ASK_TICKET
    assert await speak(agent, "never mind, goodbye") == replies.GOODBYE
    assert agent.pending_action() == {"kind": "hangup", "reason": "caller said goodbye"}


# -- a side effect cut by a barge-in ---------------------------------------------------------
async def test_a_ticket_cut_by_a_barge_in_is_opened_once_and_a_re_run_opens_no_other(
    agent: GraphAgent, startup: StartupInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    await answered(agent)
    await speak(agent, "my router is broken")
    writing, release = asyncio.Event(), asyncio.Event()
    write = Helpdesk.open_ticket

    async def held(self: Helpdesk, *args: Any, **kwargs: Any) -> Any:
        writing.set()
        await release.wait()  # the write is under way when the caller barges in
        return await write(self, *args, **kwargs)

    monkeypatch.setattr(Helpdesk, "open_ticket", held)

    async def caller_says_yes() -> None:
        async for _ in agent.respond("yes"):
            pass

    turn = asyncio.create_task(caller_says_yes())
    await writing.wait()
    assert tracker.running(agent.thread_id)
    barge_in = asyncio.create_task(agent.cancel())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not barge_in.done(), "cancel waits for the side effect under way"
    release.set()
    await barge_in
    with contextlib.suppress(asyncio.CancelledError):
        await turn
    (ticket,) = await opened(startup)

    # The tool call has exactly one answer, and it is the ticket that was opened.
    messages = (await state_of(agent))["messages"]
    (call,) = [c for m in messages if isinstance(m, AIMessage) for c in m.tool_calls]
    answers = [m for m in messages if isinstance(m, ToolMessage) and m.tool_call_id == call["id"]]
    assert len(answers) == 1
    assert f"ticket {' '.join(ticket.number)}" in answers[0].content

    # Re-run the tool step from its checkpoint (as a resumed run would): the
    # ledger answers it. With the ledger lost too, the ticket's request key does.
    graph = agent._graph
    async for snapshot in graph.aget_state_history(agent.config):  # newest first
        if snapshot.next == ("tools",):
            before_tools = snapshot
            break
    replayed = await graph.ainvoke(None, before_tools.config, context=agent._context)
    assert f"ticket {' '.join(ticket.number)}" in replayed["messages"][-1].content
    previous = use_ledger(InMemoryEffectLedger())  # a ledger that never saw it
    try:
        replayed = await graph.ainvoke(None, before_tools.config, context=agent._context)
    finally:
        use_ledger(previous)
    assert f"ticket {' '.join(ticket.number)}" in replayed["messages"][-1].content
    assert [t.number for t in await opened(startup)] == [ticket.number]


# -- the rules, the settings, the demo ---------------------------------------------------------
@pytest.mark.parametrize(
    ("said", "intent", "zip_code", "ticket"),
    [
        ("is there an outage in my area", Intent.OUTAGE, "", ""),
        ("Is there an OUTTAGE at five five one oh four?", Intent.OUTAGE, "55104", ""),
        ("oh no, my internet is down", Intent.OUTAGE, "", ""),
        (
            "what's the status of ticket four eight two, nine one three",
            Intent.TICKET_STATUS,
            "",
            "482913",
        ),
        ("six three oh oh five five", Intent.TICKET_STATUS, "", "630055"),
        ("I want to report a problem", Intent.NEW_TICKET, "", ""),
        ("the internet keeps dropping", Intent.NEW_TICKET, "", ""),
        ("can I talk to a person", Intent.PERSON, "", ""),
        ("representative please", Intent.PERSON, "", ""),
        ("get me a real human", Intent.PERSON, "", ""),
        ("a person at my house said the router is broken", Intent.NEW_TICKET, "", ""),
        ("I talked to someone last week and the modem is still slow", Intent.NEW_TICKET, "", ""),
        ("no thanks, that's all", Intent.GOODBYE, "", ""),
        ("hmm the cat", None, "", ""),
    ],
)
def test_understand(said: str, intent: Intent | None, zip_code: str, ticket: str) -> None:
    heard = understand(said)
    assert (heard.intent, heard.zip_code, heard.ticket_number) == (intent, zip_code, ticket)


@pytest.mark.parametrize(
    ("said", "answer"),
    [
        ("yes", "yes"),
        ("yeah go ahead", "yes"),
        ("um okay", "yes"),
        ("no", "no"),
        ("nope", "no"),
        ("no internet since monday", None),
        ("the cat", None),
    ],
)
def test_yes_and_no(said: str, answer: str | None) -> None:
    assert understand(said).answer == answer


@pytest.mark.parametrize(
    ("heard", "intent"),
    [
        # What pocketsphinx made of the softphone's scripted callers (calls/*.toml, demo.toml).
        ("but the status of my ticket", Intent.TICKET_STATUS),
        ("what the status the my ticket", Intent.TICKET_STATUS),
        ("up with that of my ticket", Intent.TICKET_STATUS),
        ("i talk to a person", Intent.PERSON),
        ("i internet is down", Intent.OUTAGE),
        ("nope thank the bye", Intent.GOODBYE),
        ("nope thank goodbye", Intent.GOODBYE),
        ("no that's all the bank", Intent.GOODBYE),
    ],
)
def test_what_the_recogniser_made_of_the_scripted_callers_is_understood(
    heard: str, intent: Intent
) -> None:
    assert understand(heard).intent == intent


@pytest.mark.parametrize(
    ("said", "instead"),
    [
        ("can I talk to a person", Intent.PERSON),
        ("no thanks, goodbye", Intent.GOODBYE),
        ("five five one oh three", None),
        ("bye five one oh three", None),  # a misheard ZIP code, not a goodbye
        ("or eight two nine one three", None),
        ("it's on the fridge", None),
        ("bye five", Intent.GOODBYE),  # two digits read out are not a number yet
    ],
)
def test_a_request_instead_of_an_answer(said: str, instead: Intent | None) -> None:
    assert asks_instead({"text": said, "source": "speech"}) == instead


def test_plain_text_is_lower_case_words_with_spoken_digits_as_digits() -> None:
    assert plain("Oh, my ZIP's five five one oh three!") == "oh my zips 55103"
    assert plain("double five one zero three") == "55103"
    assert plain("one moment") == "one moment"  # too short to be a number


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Ticket 4 8 2 9 1 3 is scheduled.", "Ticket 4 8 2 9 1 3"),
        (
            "my ticket number is four eight two nine one three",
            "ticket number is four eight two nine one three",
        ),
        ("ticket 482913", "ticket 482913"),
        ("call me on 482913", None),  # six digits without the word: not known to be a ticket
        ("my number is 651 555 0134", None),
    ],
)
def test_ticket_numbers_named_as_such_are_kept_from_redaction(text: str, kept: str | None) -> None:
    assert TICKET_NUMBER_PATTERN in phone.redaction.keep_patterns
    match = re.search(TICKET_NUMBER_PATTERN, text)
    assert (match.group(0) if match else None) == kept


def test_the_phone_settings_describe_the_helpdesk() -> None:
    assert phone.name == "Northwind Broadband"
    assert phone.transfer_targets == {"support": SUPPORT_NUMBER}
    assert 60 <= len(phone.speech.phrases) <= 120
    assert "is there an outage in my area" in phone.speech.phrases
    assert phone.greeting == replies.GREETING


def test_every_phrase_word_is_in_the_offline_dictionary() -> None:
    dictionary = Path(__import__("pocketsphinx").get_model_path()) / "en-us" / "cmudict-en-us.dict"
    known = {line.split()[0] for line in dictionary.read_text().splitlines() if line}
    missing = {w for p in PHRASES for w in p.split()} - known - set(PRONUNCIATIONS)
    assert not missing


def test_both_graphs_are_found_by_their_langgraph_json_ids() -> None:
    flow = load_flow("helpdesk", root=REPO)
    assert flow.phone is phone and not flow.per_call
    agent_flow = load_flow("helpdesk_agent", root=REPO)
    assert agent_flow.per_call and agent_flow.phone.transfer_targets == phone.transfer_targets


async def test_the_demo_script_is_a_whole_call(agent: GraphAgent) -> None:
    script = load_script(REPO / "graphs" / "helpdesk" / "demo.toml")
    await answered(agent)
    said = []
    for step in script.steps:
        if isinstance(step, Say):
            said.append(await speak(agent, step.text))
        elif isinstance(step, Dtmf):
            said.append(await speak(agent, step.digits, source="dtmf"))
    assert "known outage in ZIP code 5 5 1 0 3" in said[1]
    assert said[3].startswith("Ticket 4 8 2 9 1 3 is scheduled.")
    assert said[-1] == replies.GOODBYE
    assert agent.pending_action() == {"kind": "hangup", "reason": "caller said goodbye"}


CALL_SCRIPTS = sorted((REPO / "graphs" / "helpdesk" / "calls").glob("*.toml"))
SCRIPT_ENDS = {"transfer": "transfer", "ticket_keyed_hash": None}  # the others say goodbye


@pytest.mark.parametrize("path", CALL_SCRIPTS, ids=lambda path: path.stem)
async def test_each_scripted_call_is_a_whole_call(agent: GraphAgent, path: Path) -> None:
    """The softphone scripts (tests/integration/test_helpdesk_calls.py) as text: every
    caller turn is understood, and the call ends as the script expects."""
    await answered(agent)
    said = []
    for step in load_script(path).steps:
        if isinstance(step, Say):
            said.append(await speak(agent, step.text))
        elif isinstance(step, Dtmf):  # keyed: one entry, the finish key left out
            said.append(await speak(agent, step.digits.rstrip("#"), source="dtmf"))
    assert said and not [s for s in said if s.startswith("Sorry")], said
    action = agent.pending_action()
    assert (action or {}).get("kind") == SCRIPT_ENDS.get(path.stem, "hangup"), said
