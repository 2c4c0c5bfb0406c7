"""The transcript says what happened: it, the checkpoint and the caller's ear agree.

One real call to the helpdesk through :func:`dialgraph.testing.softphone_call`
(the real server, Twilio's wire protocol in real time, Piper speaking both
sides, pocketsphinx listening): the caller speaks over the greeting, answers
nothing after the next question, stays silent through the reprompt, and the
session ends the call with its goodbye. Afterwards three records of the call
are compared: the transcript as ``dialgraph transcript`` reads it, the
checkpoint's messages, and what the session says the caller heard (the
demo's ``report.json``, taken from ``report.heard``). The call is placed
twice: on the default SQLite database with transcript files, and on the real
Postgres (a fresh schema) with transcript rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from dialgraph.testing import softphone_call
from graphs.helpdesk import replies
from graphs.runtime.runner import SPOKEN_MARK, thread_id_for_call
from memory.checkpointer import open_checkpointer
from memory.transcripts import TranscriptEntry, load_transcript
from memory.transcripts_pg import open_postgres_transcripts
from telephony.call.phrases import SILENT_GOODBYE
from tests.postgres import fresh_schema

REPO = Path(__file__).resolve().parents[2]
CUT = " [interrupted]"  # how the session's report marks a reply the caller cut

# Speak 1.5 s into the greeting (about 8 s long), then say nothing at all.
BARGE_IN_THEN_SILENCE = """
[[step]]
barge_in_after_ms = 1500
say = "My internet is down."
timeout_ms = 15000

[[step]]
wait_for_agent = true   # the ZIP code question

[[step]]
pause_ms = 25000        # silent: a reprompt, then the session's goodbye and hang-up
"""


def _normal(text: str) -> str:
    return " ".join(text.split())


async def _checkpoint(call_sid: str, database_url: str, var_dir: Path) -> list[BaseMessage]:
    # The call ran with its own settings: the key it generated in var_dir.
    async with open_checkpointer(database_url, var_dir=var_dir, encryption_key="") as saver:
        config = {"configurable": {"thread_id": thread_id_for_call(call_sid), "checkpoint_ns": ""}}
        stored = await saver.aget_tuple(config)
    assert stored is not None, "the call has a checkpoint"
    return list(stored.checkpoint["channel_values"]["messages"])


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """``""``: the call's own SQLite file and transcript files; else a Postgres schema."""
    if request.param == "sqlite":
        yield ""
        return
    async with fresh_schema() as (url, _):
        yield url


@pytest.mark.slow
async def test_a_cut_greeting_and_a_silent_goodbye_agree_everywhere(
    tmp_path: Path, database_url: str
) -> None:
    pytest.importorskip("piper")
    script = tmp_path / "barge_in_then_silence.toml"
    script.write_text(BARGE_IN_THEN_SILENCE)
    env = {"DIALGRAPH_REPROMPT_AFTER_MS": "2500", "DIALGRAPH_SILENCE_REPROMPTS": "1"}
    call = await softphone_call(
        "helpdesk", script, var_dir=tmp_path, env=env, root=REPO, database_url=database_url
    )
    assert call.ok, call.result.summary()
    assert call.result.clears_received >= 1, "the caller's words cut the greeting"
    assert call.result.close_reason == "agent hangup" or "silent" in call.result.summary()
    sid = call.result.call_sid

    # What the caller heard, reply by reply (redacted, as the transcript is).
    heard = [line["text"] for line in call.report["transcript"] if line["who"] == "agent"]
    assert heard[0].endswith(CUT), heard
    assert heard[-1] == SILENT_GOODBYE, heard

    # The transcript, as `dialgraph transcript` reads it.
    entries: list[TranscriptEntry] = await load_transcript(
        sid, database_url=database_url or None, var_dir=call.out
    )
    said = [e for e in entries if e.role == "agent" and e.text]
    greeting = said[0]
    assert greeting.meta.get("interrupted"), entries
    assert _normal(greeting.text) == _normal(heard[0].removesuffix(CUT))
    assert _normal(replies.GREETING).startswith(_normal(greeting.text)[:-3])
    assert len(greeting.text) < len(replies.GREETING), "stored as heard, not whole"
    assert (said[-1].text, said[-1].meta) == (SILENT_GOODBYE, {"runtime": True})
    # The whole agent side: the transcript's lines are what the caller heard, in order.
    assert _normal(" ".join(e.text for e in said)) == _normal(
        " ".join(h.removesuffix(CUT) for h in heard)
    )

    # The checkpoint holds the same messages, with the same marks.
    messages = await _checkpoint(sid, call.database_url, call.out)
    by_id = {e.message_id: e for e in entries}
    for message in messages:
        entry = by_id.get(message.id)
        assert entry is not None, f"{type(message).__name__} missing from the transcript"
        if isinstance(message, HumanMessage):
            assert entry.role in {"caller", "event"}
        if isinstance(message, AIMessage) and message.text:
            marks = message.response_metadata
            assert bool(marks.get("interrupted")) == bool(entry.meta.get("interrupted"))
            assert bool(marks.get(SPOKEN_MARK)) == bool(entry.meta.get("runtime"))
    assert [m.id for m in messages if isinstance(m, AIMessage) and m.text] == [
        e.message_id for e in said
    ]
    last = messages[-1]
    assert isinstance(last, AIMessage) and last.text == SILENT_GOODBYE


async def test_postgres_revises_a_cut_reply_in_place() -> None:
    reply = AIMessage("We are open from nine to five on weekdays.", id="a1")
    cut = AIMessage("We are open from", id="a1", response_metadata={"interrupted": True})
    goodbye = AIMessage(SILENT_GOODBYE, id="s1", response_metadata={SPOKEN_MARK: True})
    async with fresh_schema() as (url, _):
        async with open_postgres_transcripts(url) as pg:
            transcript = await pg.open("CAcut")
            await transcript.aappend_messages([HumanMessage("when are you open", id="h1"), reply])
            await transcript.aappend_messages([cut])  # queued behind the first, or after it
            assert await transcript.flush()
            await transcript.aappend_messages([cut, goodbye])
            assert await transcript.flush()
            stored = await transcript.aentries()
            # A reopened transcript (another worker) continues after what is stored.
            again = await pg.open("CAcut")
            assert len(again) == 3
        assert [(e.seq, e.role, e.text, e.meta) for e in stored] == [
            (1, "caller", "when are you open", {}),
            (2, "agent", "We are open from", {"interrupted": True}),
            (3, "agent", SILENT_GOODBYE, {"runtime": True}),
        ]
        assert await load_transcript("CAcut", database_url=url) == stored
