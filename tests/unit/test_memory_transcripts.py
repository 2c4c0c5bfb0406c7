"""Call transcripts: append-only, idempotent by message id, redacted before writing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from memory.transcripts import (
    FileTranscripts,
    Transcript,
    load_transcript,
    open_transcripts,
    read_transcript,
    transcript_path,
)
from memory.window import windowed_messages

NOW = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)


def _redact_phone(text: str) -> str:
    return text.replace("555 0101", "<PHONE>")


def _booking_turn() -> list[AnyMessage]:
    call = {"name": "book_appointment", "args": {"name": "Maria", "phone": "555 0101"}, "id": "c1"}
    return [
        HumanMessage("Book me, my number is 555 0101", id="h1"),
        AIMessage("", id="a1", tool_calls=[call]),
        ToolMessage("Booked for 555 0101", tool_call_id="c1", name="book_appointment", id="t1"),
        AIMessage("You're booked for Tuesday at three.", id="a2"),
    ]


def test_messages_become_redacted_lines(tmp_path: Path) -> None:
    transcript = Transcript.open(
        "CA123", directory=tmp_path, redact=_redact_phone, clock=lambda: NOW
    )
    written = transcript.append_messages(_booking_turn())

    assert [(e.seq, e.role) for e in written] == [
        (1, "caller"),
        (2, "agent"),
        (3, "tool"),
        (4, "agent"),
    ]
    raw = (tmp_path / "CA123.jsonl").read_text()
    assert "555 0101" not in raw, "nothing unredacted reaches the disk"
    entries = read_transcript(tmp_path / "CA123.jsonl")
    assert entries == written
    assert entries[0].text == "Book me, my number is <PHONE>"
    assert entries[1].tool_calls == (
        {"name": "book_appointment", "args": '{"name": "Maria", "phone": "<PHONE>"}'},
    )
    assert entries[2].name == "book_appointment"
    assert entries[2].text == "Booked for <PHONE>"
    assert entries[3].ts == NOW.isoformat()


def test_a_failing_redactor_loses_no_line_and_leaks_no_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(text: str) -> str:
        if "number" in text:
            raise IndexError("a redaction bug")
        return _redact_phone(text)

    transcript = Transcript.open("CAbug", directory=tmp_path, redact=broken, clock=lambda: NOW)
    written = transcript.append_messages(_booking_turn())
    assert [e.seq for e in written] == [1, 2, 3, 4]  # every line, good and bad
    assert "555 0101" not in (tmp_path / "CAbug.jsonl").read_text()  # patterns caught it
    assert (
        read_transcript(tmp_path / "CAbug.jsonl")[3].text == "You're booked for Tuesday at three."
    )
    assert "transcript redactor failed (IndexError)" in caplog.text
    assert "Traceback" not in caplog.text


def test_text_no_file_can_hold_is_written_replaced(tmp_path: Path) -> None:
    transcript = Transcript.open("CAsur", directory=tmp_path, clock=lambda: NOW)
    transcript.append_messages([HumanMessage("caf\ud800e", id="h1"), AIMessage("ok", id="a1")])
    entries = read_transcript(tmp_path / "CAsur.jsonl")
    assert [(e.seq, e.text) for e in entries] == [(1, "caf\ufffde"), (2, "ok")]


def test_appending_the_same_window_again_writes_only_new_messages(tmp_path: Path) -> None:
    transcript = Transcript.open("CA1", directory=tmp_path)
    turn = _booking_turn()
    assert len(transcript.append_messages(turn[:2])) == 2
    assert [e.message_id for e in transcript.append_messages(turn)] == ["t1", "a2"]
    assert transcript.append_messages(turn) == []
    assert len(transcript.entries()) == 4


def test_events_and_reopening_continue_the_sequence(tmp_path: Path) -> None:
    first = Transcript.open("CA2", directory=tmp_path)
    first.append_messages(_booking_turn()[:1])
    first.append("event", "caller hung up", reason="stop")
    second = Transcript.open("CA2", directory=tmp_path)  # e.g. another worker resumes the call
    assert len(second) == 2
    assert second.append_messages(_booking_turn()[:1]) == [], "ids already written are known"
    entry = second.append("agent", "Goodbye.", message_id="bye")
    assert entry is not None
    assert entry.seq == 3
    assert second.append("agent", "Goodbye.", message_id="bye") is None
    assert second.entries()[1].meta == {"reason": "stop"}


def test_a_torn_last_line_is_dropped(tmp_path: Path) -> None:
    path = transcript_path(tmp_path, "CA3")
    Transcript(path).append("caller", "hello")
    with path.open("a") as handle:
        handle.write('{"seq": 2, "ts": "x", "ro')  # the process died mid-write
    transcript = Transcript(path)
    transcript.append("caller", "still here")
    assert [e.text for e in transcript.entries()] == ["hello", "still here"]
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_call_sid_is_made_filename_safe(tmp_path: Path) -> None:
    assert transcript_path(tmp_path, "../../etc/passwd").parent == tmp_path
    assert read_transcript(tmp_path / "missing.jsonl") == []


async def test_async_append_runs_off_the_event_loop(tmp_path: Path) -> None:
    transcript = Transcript.open("CA4", directory=tmp_path)
    written = await transcript.aappend_messages(_booking_turn())
    assert len(written) == 4


class _State(TypedDict):
    messages: Annotated[list[AnyMessage], windowed_messages(4)]


async def test_window_plus_transcript_loses_nothing(tmp_path: Path) -> None:
    """The checkpoint keeps 4 messages; the transcript keeps the whole call."""

    def agent(state: _State) -> dict:
        return {"messages": [AIMessage(f"reply to {state['messages'][-1].content}")]}

    builder = StateGraph(_State)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "CA5"}}
    transcript = Transcript.open("CA5", directory=tmp_path)

    for turn in range(25):
        await graph.ainvoke({"messages": [HumanMessage(f"turn {turn}")]}, config)
        transcript.append_messages((await graph.aget_state(config)).values["messages"])

    assert len((await graph.aget_state(config)).values["messages"]) == 4
    texts = [e.text for e in transcript.entries()]
    assert len(texts) == 50
    assert texts[:2] == ["turn 0", "reply to turn 0"]
    assert texts[-1] == "reply to turn 24"


async def test_without_postgres_the_service_writes_the_same_files(tmp_path: Path) -> None:
    """No database URL, or SQLite: ``var_dir/transcripts/<CallSid>.jsonl``, as always."""
    for url in (None, f"sqlite:///{tmp_path}/other.db"):
        async with open_transcripts(url, var_dir=tmp_path, redact=_redact_phone) as transcripts:
            assert isinstance(transcripts, FileTranscripts)
            transcript = await transcripts.open("CA6")
            await transcript.aappend_messages(_booking_turn())
            await transcript.aclose()
    path = tmp_path / "transcripts" / "CA6.jsonl"
    entries = read_transcript(path)
    assert [e.seq for e in entries] == [1, 2, 3, 4], "the second open continued the same file"
    assert "555 0101" not in path.read_text()
    assert await load_transcript("CA6", var_dir=tmp_path) == entries
    assert await load_transcript("CAnone", var_dir=tmp_path) == []


def test_a_reply_cut_after_it_was_written_is_revised_in_place(tmp_path: Path) -> None:
    transcript = Transcript.open("CA7", directory=tmp_path, redact=_redact_phone)
    reply = AIMessage("Your number 555 0101 is booked for Tuesday at three.", id="a1")
    transcript.append_messages([HumanMessage("book me", id="h1"), reply])
    heard = AIMessage("Your number 555 0101 is", id="a1", response_metadata={"interrupted": True})
    revised = transcript.append_messages([HumanMessage("book me", id="h1"), heard])
    assert [(e.seq, e.text, e.meta) for e in revised] == [
        (2, "Your number <PHONE> is", {"interrupted": True})
    ]
    assert transcript.append_messages([heard]) == [], "a revision is written once"
    assert [(e.seq, e.role, e.text) for e in transcript.entries()] == [
        (1, "caller", "book me"),
        (2, "agent", "Your number <PHONE> is"),
    ]
    assert "555 0101" not in (tmp_path / "CA7.jsonl").read_text(), "revisions are redacted too"
    # Another process reading or continuing the file sees the revised line only.
    again = Transcript.open("CA7", directory=tmp_path)
    assert len(again) == 2
    assert again.append_messages([AIMessage("Anything else?", id="a2")])[0].seq == 3


def test_runtime_speech_and_cuts_are_marked(tmp_path: Path) -> None:
    transcript = Transcript.open("CA8", directory=tmp_path)
    transcript.append_messages(
        [
            AIMessage("Goodbye.", id="s1", response_metadata={"dialgraph_spoken": True}),
            AIMessage(
                "Sorry, I",
                id="s2",
                response_metadata={"dialgraph_spoken": True, "interrupted": True},
            ),
        ]
    )
    assert [e.meta for e in transcript.entries()] == [
        {"runtime": True},
        {"runtime": True, "interrupted": True},
    ]
