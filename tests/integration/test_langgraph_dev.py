"""LangGraph Studio sees the calls: ``langgraph dev`` on the service's database.

Calls are placed through the service code path (``load_flow("clinic_agent")`` and
``open_flow_agents``; the model, ``DIALGRAPH_MODEL``, is ``langchain-openai``
against the local fake OpenAI server) on a
temporary SQLite file. Then the real ``langgraph dev`` runs as a subprocess
with the repository's ``langgraph.json`` (paths made absolute, so the server
can run in a temporary directory and leave no ``.langgraph_api/`` behind), the
offline environment variables and the same ``DIALGRAPH_DATABASE_URL``, and a
``langgraph-sdk`` client checks what Studio would show: the calls listed,
each call's messages, its history, and a turn continued from the server.

The sync logic (:class:`graphs.studio.StudioThreads`) is also checked without
a server, against a recording client, on SQLite and (when reachable) Postgres.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph

from dialgraph import load_flow
from graphs.clinic.models import get_chat_model
from graphs.runtime.runner import thread_id_for_call
from graphs.runtime.service import open_flow_agents
from graphs.studio import StudioThreads, list_call_threads, sync_to_server
from memory.checkpointer import open_checkpointer
from tests.langgraph_server import HAS_DEV_SERVER, OFFLINE_ENV, langgraph_dev
from tests.openai_fake import FakeOpenAI, Text, ToolCalls
from tests.postgres import fresh_schema, unavailable
from tests.processes import tail

REPO = Path(__file__).resolve().parents[2]
SYNC_INTERVAL_S = "0.5"  # how often the server looks for new calls in this test
CALLER = "+15550001111"
TODAY = "2026-11-24"
FRIDAY = "2026-11-27"
DUMMY_KEY = "sk-test-not-a-real-key"
ANSWER = "Friday morning I have nine and ten. Which suits you?"


# -- the sync logic, no server --------------------------------------------------------


class RecordingClient:
    """Just enough of ``langgraph_sdk``'s client: an in-memory thread table."""

    def __init__(self, graphs: tuple[str, ...] = ("clinic",)) -> None:
        self.graphs = graphs
        self.threads = self
        self.assistants = self
        self.table: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    async def search(self, *, graph_id: str, limit: int) -> list[dict[str, Any]]:
        return [{"assistant_id": f"asst-{graph_id}"}] if graph_id in self.graphs else []

    async def create(self, *, thread_id: str, metadata: dict, if_exists: str) -> dict:
        assert if_exists == "do_nothing"
        self.calls.append(("create", thread_id))
        return self.table.setdefault(thread_id, {"thread_id": thread_id, "metadata": metadata})

    async def update(self, thread_id: str, *, metadata: dict) -> dict:
        self.calls.append(("update", thread_id))
        self.table[thread_id]["metadata"] = {**self.table[thread_id]["metadata"], **metadata}
        return self.table[thread_id]


def _echo_graph(saver):
    def reply(state: MessagesState) -> dict:
        return {"messages": [AIMessage(f"echo {state['messages'][-1].content}")]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    return builder.compile(checkpointer=saver)


async def _turn(graph, call_sid: str, text: str, graph_id: str = "clinic") -> str:
    thread_id = thread_id_for_call(call_sid)
    config = {
        "configurable": {"thread_id": thread_id},
        "metadata": {"call_sid": call_sid, "graph_id": graph_id},
    }
    await graph.ainvoke({"messages": [HumanMessage(text)]}, config)
    return thread_id


async def _check_sync(saver) -> None:
    graph = _echo_graph(saver)
    first = await _turn(graph, f"CA{uuid.uuid4().hex}", "hello")
    second = await _turn(graph, f"CA{uuid.uuid4().hex}", "hi")
    foreign = await _turn(graph, f"CA{uuid.uuid4().hex}", "x", graph_id="some_other_graph")
    client = RecordingClient()
    threads = StudioThreads(client, saver)

    touched = await threads.sync()
    assert first in touched and second in touched and foreign not in touched
    assert touched.index(first) < touched.index(second), "oldest first: newest ends on top"
    meta = client.table[first]["metadata"]
    assert meta["graph_id"] == "clinic"
    assert meta["call_sid"].startswith("CA") and meta["source"] == "dialgraph"

    client.calls.clear()
    assert await threads.sync() == [], "nothing new, nothing sent"
    assert client.calls == []

    await graph.ainvoke(
        {"messages": [HumanMessage("again")]}, {"configurable": {"thread_id": first}}
    )
    assert await threads.sync() == [first], "a call with new turns is refreshed"
    assert ("update", first) in client.calls
    latest = next(t for t in await list_call_threads(saver) if t.thread_id == first)
    assert client.table[first]["metadata"]["last_checkpoint_id"] == latest.checkpoint_id

    # A fresh syncer (e.g. after a server restart) re-registers idempotently.
    again = RecordingClient()
    again.table = client.table
    await StudioThreads(again, saver).sync()
    assert all(kind == "create" for kind, _ in again.calls), "up to date: no updates"


async def test_sync_registers_calls_once_and_refreshes_changed_ones_sqlite(tmp_path) -> None:
    async with open_checkpointer(f"sqlite:///{tmp_path}/calls.db") as saver:
        await _check_sync(saver)


async def test_a_call_under_an_unlisted_key_is_skipped_not_fatal(tmp_path, caplog) -> None:
    url = f"sqlite:///{tmp_path}/calls.db"
    async with open_checkpointer(url, encryption_key="old-key-0123456789abcdef") as saver:
        old = await _turn(_echo_graph(saver), f"CA{uuid.uuid4().hex}", "before the new key")
    async with open_checkpointer(url, encryption_key="new-key-0123456789abcdef") as saver:
        new = await _turn(_echo_graph(saver), f"CA{uuid.uuid4().hex}", "after it")
        touched = await StudioThreads(RecordingClient(), saver).sync()
    assert touched == [new]  # the other calls still show
    assert f"{old}" in caplog.text and "key not listed here; skipped" in caplog.text
    assert "Traceback" not in caplog.text


async def test_sync_on_a_saver_without_sql() -> None:
    await _check_sync(InMemorySaver())


def _postgres_url() -> str | None:
    url = os.environ.get("DIALGRAPH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return None
    return url


async def test_sync_registers_calls_on_postgres() -> None:
    url = _postgres_url()
    if url is None:
        unavailable("Postgres unreachable (DIALGRAPH_TEST_POSTGRES_URL)")
    # Its own schema: the shared one holds other runs' checkpoints, under other keys.
    async with fresh_schema() as (schema_url, _), open_checkpointer(schema_url) as saver:
        await _check_sync(saver)


# -- the real `langgraph dev` ----------------------------------------------------------


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_KEY)
    get_chat_model.cache_clear()
    yield
    get_chat_model.cache_clear()


async def _place_call(agents, call_sid: str, llm: FakeOpenAI) -> str:
    """A greeting and one caller turn with a tool call, as the phone service runs them."""
    llm.replies.extend(
        [
            ToolCalls((("check_availability", {"day": FRIDAY, "part_of_day": "morning"}),)),
            Text(ANSWER),
        ]
    )
    agent = await agents(SimpleNamespace(call_sid=call_sid, caller=CALLER))
    async for _ in agent.respond("", source="start"):
        pass
    reply = "".join([t async for t in agent.respond("anything free friday morning")])
    assert reply == ANSWER
    await agent.aclose()
    return agent.thread_id


async def _listed(
    client, thread_id: str, within_s: float = 15.0, graph_id: str = "clinic_agent"
) -> list[dict]:
    """The listed call threads, once ``thread_id`` is among them (or ``within_s`` passed)."""
    deadline = time.monotonic() + within_s
    while True:
        threads = await client.threads.search(metadata={"graph_id": graph_id}, limit=50)
        if any(t["thread_id"] == thread_id for t in threads) or time.monotonic() > deadline:
            return threads
        await asyncio.sleep(0.2)


def _as_pairs(messages: list) -> list[tuple[str, str]]:
    """(type, content) of messages from the SDK (dicts) or in-process (objects)."""
    pairs = []
    for m in messages:
        kind, content = (m["type"], m["content"]) if isinstance(m, dict) else (m.type, m.content)
        pairs.append((kind, content))
    return pairs


@pytest.mark.slow
@pytest.mark.skipif(not HAS_DEV_SERVER, reason='langgraph dev needs "langgraph-cli[inmem]"')
async def test_studio_lists_and_reads_the_calls_placed_through_the_service(
    tmp_path: Path, openai_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph_sdk import get_client

    db_url = f"sqlite:///{tmp_path}/dialgraph.db"
    monkeypatch.setenv("DIALGRAPH_VAR_DIR", str(tmp_path))  # `studio-sync` reads the same key
    env = {
        **os.environ,
        **OFFLINE_ENV,
        "DIALGRAPH_DATABASE_URL": db_url,
        "DIALGRAPH_VAR_DIR": str(tmp_path),  # the service's key file: Studio shares it
        "DIALGRAPH_STUDIO_SYNC_SECONDS": SYNC_INTERVAL_S,
        "OPENAI_API_KEY": DUMMY_KEY,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    studio_dir = tmp_path / "studio"
    studio_dir.mkdir()
    flow = load_flow("clinic_agent", root=REPO)
    async with FakeOpenAI() as llm:
        monkeypatch.setenv("DIALGRAPH_MODEL", f"openai-compatible:{llm.base_url}|fake-model")
        async with open_flow_agents(flow, database_url=db_url, var_dir=tmp_path, today=TODAY) as (
            agents
        ):
            before = await _place_call(agents, "CA_before_studio", llm)

            async with (
                langgraph_dev(studio_dir, env) as server,
                get_client(url=server.url, api_key=None) as client,
            ):
                print(f"\nlanggraph dev answered /ok after {server.startup_s:.1f} s")

                # Listed as soon as the server is up (registered at start-up).
                threads = await client.threads.search(metadata={"graph_id": "clinic_agent"})
                assert [t["thread_id"] for t in threads] == [before]
                assert threads[0]["metadata"]["call_sid"] == "CA_before_studio"

                # The call's messages, as Studio shows them, read from the shared checkpointer.
                state = await client.threads.get_state(before)
                local = await agents.graph.aget_state({"configurable": {"thread_id": before}})
                assert _as_pairs(state["values"]["messages"]) == _as_pairs(local.values["messages"])
                kinds = [m["type"] for m in state["values"]["messages"]]
                assert kinds == ["human", "ai", "human", "ai", "tool", "ai"]  # start, greeting, ...
                assert state["values"]["messages"][0]["content"] == "(call started)"
                assert state["values"]["messages"][-1]["content"] == ANSWER
                assert state["values"]["messages"][4]["name"] == "check_availability"
                assert len(await client.threads.get_history(before, limit=5)) >= 2

                # A call placed while Studio is open shows up too, newest first.
                during = await _place_call(agents, "CA_during_studio", llm)
                threads = await _listed(client, during)
                assert [t["thread_id"] for t in threads] == [during, before]

                # Registering from outside (`dialgraph studio-sync`) is idempotent.
                assert set(await sync_to_server(server.url, database_url=db_url)) >= {
                    before,
                    during,
                }
                assert len(await client.threads.search(metadata={"graph_id": "clinic_agent"})) == 2

                # Studio can continue a call: the run happens in the dev server, on
                # the shared checkpointer, and the service sees the new turn.
                llm.replies.append(Text("You are welcome. Goodbye!"))
                context = {
                    "call_sid": "CA_before_studio",
                    "caller": CALLER,
                    "model": f"openai-compatible:{llm.base_url}|fake-model",
                    "db_url": db_url,
                    "today": TODAY,
                }
                await client.runs.wait(
                    before,
                    "clinic_agent",
                    input={"messages": [{"role": "user", "content": "thanks"}]},
                    context=context,
                )
                local = await agents.graph.aget_state({"configurable": {"thread_id": before}})
                assert _as_pairs(local.values["messages"][-2:]) == [
                    ("human", "thanks"),
                    ("ai", "You are welcome. Goodbye!"),
                ], tail(server.log)

                # The explicit clinic (no model) on the same database: Studio's state
                # panel shows where a live call is and what is known (issue 15).
                async with open_flow_agents(
                    load_flow("clinic", root=REPO),
                    database_url=db_url,
                    var_dir=tmp_path,
                    today=TODAY,
                ) as clinic:
                    live = await clinic(SimpleNamespace(call_sid="CA_live_clinic", caller=CALLER))
                    for text, source in (("", "start"), ("book a checkup friday at ten", "speech")):
                        async for _ in live.respond(text, source=source):
                            pass
                    assert live.thread_id in [
                        t["thread_id"]
                        for t in await _listed(client, live.thread_id, graph_id="clinic")
                    ]
                    shown = (await client.threads.get_state(live.thread_id))["values"]
                    print("\nStudio's state panel for a live clinic call:")
                    for key in ("task", "stage", "slots", "heard", "question", "misses"):
                        print(f"  {key}: {json.dumps(shown[key])}")
                    assert shown["task"] == "book" and shown["stage"] == "name"
                    assert shown["slots"]["appointment_type"] == "checkup"
                    assert (shown["slots"]["day"], shown["slots"]["time"]) == (FRIDAY, "10:00")
                    assert shown["heard"]["intent"] == "book"
                    assert shown["question"] == "And what name should I put the appointment under?"
                    await live.aclose()
