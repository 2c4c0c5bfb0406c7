"""Graphs nobody wrote for Dialgraph, on a phone call through the real server.

Three graphs from ``tests/foreign_graphs.py`` (``create_agent`` with a chat
model that calls ``transfer_call``; a hand-built ``StateGraph`` asking two
questions with plain ``interrupt()``; a graph with no greeting) are each
called by the softphone through the real server: Twilio's signed webhook,
the media stream, Piper speaking both sides, pocketsphinx listening. Each
is heard (the server's transcript of what the caller heard), its call
action is carried out on the fake Twilio REST API through the real SDK, and
afterwards the real ``langgraph dev`` reads each call's state through
``langgraph-sdk`` from the same database, as Studio would.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dialgraph.testing import softphone_call
from graphs.runtime.runner import thread_id_for_call
from tests.foreign_graphs import GREETING, SUPPORT_NUMBER
from tests.langgraph_server import HAS_DEV_SERVER, OFFLINE_ENV, langgraph_dev
from tests.processes import tail
from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

pytest.importorskip("piper")
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
GRAPHS = {
    name: f"{REPO / 'tests' / 'foreign_graphs.py'}:{name}"
    for name in ("support_agent", "two_questions", "no_greeting")
}
WAIT = "[[step]]\nwait_for_agent = true\ntimeout_ms = 10000\n\n"
SCRIPTS = {
    "support_agent": WAIT + '[[step]]\nsay = "I would like to talk to a person please."\n\n' + WAIT,
    "two_questions": WAIT
    + '[[step]]\nsay = "Tuesday."\n\n'
    + WAIT
    + '[[step]]\nsay = "Three o\'clock."\n\n'
    + WAIT,
    "no_greeting": WAIT + '[[step]]\nsay = "Thank you, goodbye."\n\n' + WAIT,
}
HEARD = {
    "support_agent": ["Hello, you have reached the support line.", "putting you through"],
    "two_questions": ["Which day would you like", "And at what time?", "Goodbye."],
    "no_greeting": [GREETING, "Goodbye, thanks for calling."],
}


@pytest.mark.skipif(not HAS_DEV_SERVER, reason='langgraph dev needs "langgraph-cli[inmem]"')
async def test_three_foreign_graphs_are_heard_act_and_show_in_studio(tmp_path: Path) -> None:
    from langgraph_sdk import get_client

    database_url = f"sqlite:///{tmp_path / 'calls.db'}"
    threads: dict[str, str] = {}
    async with FakeTwilio(calls_exist=True) as twilio:
        env = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "DIALGRAPH_TWILIO_API_URL": twilio.base_url,
            # One database for the three calls: one key (see softphone_call).
            "DIALGRAPH_CHECKPOINT_KEY": os.environ["DIALGRAPH_CHECKPOINT_KEY"],
        }
        for name, spec in GRAPHS.items():
            script = tmp_path / f"{name}.toml"
            script.write_text(SCRIPTS[name])
            call = await softphone_call(
                spec, script, var_dir=tmp_path / name, env=env, database_url=database_url
            )
            assert call.ok, call.result.summary()
            agent = " ".join(
                line["text"] for line in call.report["transcript"] if line["who"] == "agent"
            )
            for words in HEARD[name]:
                assert words.lower() in agent.lower(), (name, call.report["transcript"])
            assert call.result.closed_by == "app", (name, call.result.summary())
            updates = twilio.updates_of(call.result.call_sid)
            assert updates, f"{name}: no call action reached Twilio"
            if name == "support_agent":
                assert SUPPORT_NUMBER in (updates[-1].field("Twiml") or ""), updates[-1].body
            else:
                assert updates[-1].field("Status") == "completed", updates[-1].body
            threads[name] = thread_id_for_call(call.result.call_sid)

    studio = tmp_path / "studio"
    studio.mkdir()
    server_env = {
        **os.environ,
        **OFFLINE_ENV,
        "DIALGRAPH_DATABASE_URL": database_url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    async with (
        langgraph_dev(studio, server_env, graphs=GRAPHS) as server,
        get_client(url=server.url, api_key=None) as client,
    ):
        for name, thread in threads.items():
            state = await client.threads.get_state(thread)
            messages = state["values"]["messages"]
            said = " ".join(m["content"] for m in messages if m["type"] == "ai")
            assert HEARD[name][-1].lower() in said.lower(), (name, tail(server.log))
            actions = [
                m["artifact"]["dialgraph_action"]["kind"]
                for m in messages
                if m["type"] == "tool" and isinstance(m.get("artifact"), dict)
            ]
            assert actions == (["transfer"] if name == "support_agent" else ["hangup"]), name
            starts = next(m for m in messages if m["type"] == "human")
            assert starts["additional_kwargs"]["dialgraph"]["source"] == "start"
