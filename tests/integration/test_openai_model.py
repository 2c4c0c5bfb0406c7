"""The clinic graph on an OpenAI-compatible model, through the real client stack.

``get_chat_model`` builds a real ``langchain-openai`` ``ChatOpenAI``; it talks
HTTP to :class:`tests.openai_fake.FakeOpenAI` on loopback, which streams Chat
Completions server-sent events with tool calls as OpenAI does. The turns run
through the phone runtime's :class:`~graphs.runtime.runner.GraphAgent` on a
SQLite checkpointer, set up as the service sets up a call (the clinic's context
and phone settings, the call facts in ``configurable``). What a caller or an
operator would notice is checked: the spoken reply arrives token by token, the
tool really ran and the model saw its result, and a failing model server turns
into an exception the call session can apologise for, with the thread left fit
for the next turn.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI

from dialgraph import CallFacts
from graphs.clinic.agent import make_builder, phone
from graphs.clinic.context import Context
from graphs.clinic.models import get_chat_model
from graphs.runtime.contract import CALL_KEY
from graphs.runtime.effects import use_ledger
from graphs.runtime.runner import GraphAgent, thread_id_for_call
from memory.checkpointer import open_checkpointer
from memory.effects import InMemoryEffectLedger
from memory.store import open_store
from tests.openai_fake import FakeOpenAI, HttpError, StreamFault, Text, ToolCalls, words
from tools import CLINIC_TOOLS
from tools.calendar import get_calendar

CALLER = "+15550001111"
TODAY = "2026-11-24"  # a Tuesday
FRIDAY = "2026-11-27"
DUMMY_KEY = "sk-test-not-a-real-key"
ASK = ToolCalls((("check_availability", {"day": FRIDAY, "part_of_day": "morning"}),))
ANSWER = "Friday morning I have nine, nine thirty and ten. Which suits you?"


@pytest.fixture(autouse=True)
def _openai_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A dummy key for this test only; no cached client leaks between tests."""
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_ORG_ID", "OPENAI_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    get_chat_model.cache_clear()
    yield
    get_chat_model.cache_clear()


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def clinic(tmp_path: Path, server: FakeOpenAI) -> AsyncIterator[SimpleNamespace]:
    """The clinic graph with the default model factory, on a SQLite file."""
    db_url = f"sqlite:///{tmp_path}/clinic.db"
    previous = use_ledger(InMemoryEffectLedger())
    async with open_checkpointer(db_url) as saver, open_store(db_url) as store:
        await get_calendar(db_url).seed(dt.date.fromisoformat(TODAY))
        graph = make_builder().compile(checkpointer=saver, store=store)
        context = Context(
            call_sid="CA_openai",
            caller=CALLER,
            model=f"openai-compatible:{server.base_url}|fake-model",
            db_url=db_url,
            today=TODAY,
        )
        facts = CallFacts(call_sid="CA_openai", caller=CALLER, timezone=phone.timezone, today=TODAY)
        agent = GraphAgent(
            graph,
            thread_id=thread_id_for_call("CA_openai"),
            context=context,
            configurable={CALL_KEY: facts.to_config()},
            spoken_nodes=phone.spoken_nodes,
            transfer_targets=phone.transfer_targets,
            greeting=phone.greeting,
        )
        yield SimpleNamespace(graph=graph, agent=agent, server=server)
    use_ledger(previous)


async def turn(agent: GraphAgent, text: str, source: str = "speech") -> list[str]:
    return [token async for token in agent.respond(text, source=source)]


async def history(clinic: SimpleNamespace) -> list:
    state = await clinic.graph.aget_state(clinic.agent.config)
    return list(state.values.get("messages", []))


def assert_openai_history(messages: list[dict]) -> None:
    """Every assistant tool call is answered by a tool message, in order (what OpenAI requires)."""
    open_calls: set[str] = set()
    for message in messages:
        if message["role"] == "tool":
            assert message["tool_call_id"] in open_calls, "tool result without its call"
            open_calls.discard(message["tool_call_id"])
            continue
        assert not open_calls, f"tool calls left unanswered: {open_calls}"
        if message["role"] == "assistant":
            open_calls = {call["id"] for call in message.get("tool_calls") or []}
    assert not open_calls


async def test_tool_call_then_streamed_answer_over_sse(clinic) -> None:
    greeting = await turn(clinic.agent, "", source="start")
    assert "Riverside Family Clinic" in "".join(greeting)
    assert clinic.server.requests == [], "the greeting is not a model call"

    clinic.server.replies.extend([ASK, Text(ANSWER)])
    tokens = await turn(clinic.agent, "anything free friday morning")

    # Spoken token by token, exactly as streamed.
    assert "".join(tokens) == ANSWER
    assert [t for t in tokens if t] == words(ANSWER)

    # The tool really ran, on the calendar, with the model's arguments.
    messages = await history(clinic)
    asked, result, answer = messages[-3:]
    assert isinstance(asked, AIMessage)
    assert asked.tool_calls[0]["args"] == {"day": FRIDAY, "part_of_day": "morning"}
    assert isinstance(result, ToolMessage) and result.name == "check_availability"
    assert result.tool_call_id == "call_fake_1" == asked.tool_calls[0]["id"]
    assert result.artifact["ok"] is True and result.artifact["slots"]
    assert isinstance(answer, AIMessage) and answer.content == ANSWER

    first, second = clinic.server.requests
    assert clinic.server.headers[0]["authorization"] == f"Bearer {DUMMY_KEY}"
    assert first["model"] == "fake-model" and first["stream"] is True
    assert first["messages"][0]["role"] == "system"
    # The call-start turn and the greeting, as plain chat (the prompt explains the note).
    assert first["messages"][1:3] == [
        {"role": "user", "content": "(call started)"},
        {"role": "assistant", "content": "".join(greeting)},
    ]
    assert "(call started)" in first["messages"][0]["content"]
    assert first["messages"][-1] == {"role": "user", "content": "anything free friday morning"}
    # Every clinic tool is offered; injected infrastructure never reaches the model.
    tools = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert set(tools) == {tool.name for tool in CLINIC_TOOLS}
    params = tools["check_availability"]["parameters"]
    assert "day" in params["properties"] and params["required"] == ["day"]
    assert "runtime" not in params["properties"]

    # The second request carried the call and its result, linked by the call id.
    assistant, tool_reply = second["messages"][-2:]
    assert assistant["role"] == "assistant"
    call = assistant["tool_calls"][0]
    assert call["id"] == "call_fake_1" and call["function"]["name"] == "check_availability"
    assert json.loads(call["function"]["arguments"]) == {"day": FRIDAY, "part_of_day": "morning"}
    assert tool_reply == {"role": "tool", "tool_call_id": "call_fake_1", "content": result.content}
    assert_openai_history(second["messages"])


async def test_turn_usage_sums_the_model_calls_of_a_turn(clinic) -> None:
    """The usage OpenAI streams (42 prompt + 7 reply tokens per call here) reaches the
    call's token budget: a tool turn is two model calls."""
    await turn(clinic.agent, "", source="start")
    assert clinic.agent.turn_usage is None  # the greeting is not a model call
    clinic.server.replies.extend([ASK, Text(ANSWER)])
    await turn(clinic.agent, "anything free friday morning")
    assert all(r["stream_options"] == {"include_usage": True} for r in clinic.server.requests)
    assert clinic.agent.turn_usage == (84, 14)
    clinic.server.replies.append(Text("You are welcome."))
    await turn(clinic.agent, "thanks")
    assert clinic.agent.turn_usage == (42, 7)


async def test_server_error_raises_and_the_next_turn_works(clinic) -> None:
    clinic.server.replies.extend([HttpError(500), HttpError(500)])
    with pytest.raises(openai.InternalServerError, match="500"):
        await turn(clinic.agent, "when are you open")
    assert len(clinic.server.requests) == 2, "one retry, then the error reaches the session"

    messages = await history(clinic)
    assert isinstance(messages[-1], HumanMessage), "the caller's words are kept, no reply invented"
    assert messages[-1].content == "when are you open"

    clinic.server.replies.append(Text("We open at nine."))
    assert "".join(await turn(clinic.agent, "hello?")) == "We open at nine."
    sent = clinic.server.requests[-1]["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["when are you open", "hello?"]


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("error_event", openai.APIError),  # OpenAI's mid-stream error event
        ("malformed", json.JSONDecodeError),  # a data line that is not JSON
        ("hangup", openai.APIConnectionError),  # the connection drops mid-body
    ],
)
async def test_broken_stream_raises_after_partial_tokens_and_drops_them(
    clinic, kind: str, error: type[Exception]
) -> None:
    clinic.server.replies.append(StreamFault(kind, text_before="We are open"))
    heard: list[str] = []
    with pytest.raises(error):
        async for token in clinic.agent.respond("are you open on saturday"):
            heard.append(token)
    assert "".join(heard).startswith("We "), "tokens before the fault were already spoken"

    messages = await history(clinic)
    assert isinstance(messages[-1], HumanMessage), "no half reply in the checkpoint"
    clinic.server.replies.append(Text("Saturday we are open nine to twelve."))
    reply = "".join(await turn(clinic.agent, "saturday?"))
    assert reply == "Saturday we are open nine to twelve."


async def test_failure_after_a_tool_ran_leaves_a_history_openai_accepts(clinic) -> None:
    clinic.server.replies.extend([ASK, HttpError(503), HttpError(503)])
    with pytest.raises(openai.APIStatusError):
        await turn(clinic.agent, "anything free friday morning")
    messages = await history(clinic)
    assert isinstance(messages[-1], ToolMessage) and messages[-1].artifact["ok"] is True

    clinic.server.replies.append(Text(ANSWER))
    assert "".join(await turn(clinic.agent, "so?")) == ANSWER
    sent = clinic.server.requests[-1]["messages"]
    assert_openai_history(sent)
    assert sent[-2]["role"] == "tool" and sent[-1] == {"role": "user", "content": "so?"}


async def test_openai_spec_uses_openai_base_url_and_key(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``openai:<model>`` needs no network in tests: the SDK honours OPENAI_BASE_URL."""
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    model = get_chat_model("openai:gpt-4o-mini")
    assert isinstance(model, ChatOpenAI) and model.model_name == "gpt-4o-mini"
    server.replies.append(Text("Hello from the fake."))
    chunks = [chunk.content async for chunk in model.astream([HumanMessage("hi")])]
    assert "".join(chunks) == "Hello from the fake."
    assert server.requests[0]["model"] == "gpt-4o-mini"
    assert server.headers[0]["authorization"] == f"Bearer {DUMMY_KEY}"


async def test_non_streaming_completion_with_tool_calls(server: FakeOpenAI) -> None:
    """The fake also answers plain JSON completions (``stream`` unset)."""
    model = ChatOpenAI(model="fake-model", base_url=server.base_url, api_key=DUMMY_KEY)
    server.replies.append(ASK)
    reply = await model.bind_tools(CLINIC_TOOLS).ainvoke("anything free friday")
    assert "stream" not in server.requests[0] or server.requests[0]["stream"] is False
    assert reply.tool_calls[0]["name"] == "check_availability"
    assert reply.tool_calls[0]["args"] == {"day": FRIDAY, "part_of_day": "morning"}
