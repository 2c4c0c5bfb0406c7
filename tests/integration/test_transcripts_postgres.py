"""Call transcripts in Postgres (``DIALGRAPH_DATABASE_URL=postgresql://...``).

A real server, a fresh schema per test (dropped afterwards); skipped, with
the reason, only when the server cannot be reached. To take the database away
in the middle of a call, the transcripts connect through a TCP proxy
(``tests/tcp_proxy.py``): ``reset`` is a server that went down, ``stall`` a
network that stops answering.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from dialgraph import load_flow
from graphs.runtime.service import open_flow_agents
from memory.redaction import get_redactor
from memory.transcripts import FileTranscripts, load_transcript, read_transcript
from memory.transcripts_pg import PostgresTranscript, open_postgres_transcripts
from tests.postgres import fresh_schema, server_address, via_port
from tests.tcp_proxy import TcpProxy

REPO = Path(__file__).resolve().parents[2]

NOW = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
TODAY = "2026-11-24T08:00"
NAME = "John Miller"
CARD = "4111 1111 1111 1111"
PII = ("John", "Miller", "john", "miller", "4111 1111")  # not "4111": a port can hold it


@pytest.fixture
async def schema() -> AsyncIterator[tuple[str, str]]:
    async with fresh_schema() as pair:
        yield pair


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    async with TcpProxy(*server_address()) as opened:
        yield opened


def _turn(n: int) -> list[AnyMessage]:
    """One booking turn whose every text carries the caller's name and card."""
    args = {"name": NAME, "card": CARD}
    return [
        HumanMessage(f"Book me, I am {NAME}, card {CARD}", id=f"h{n}"),
        AIMessage("", id=f"a{n}", tool_calls=[{"name": "book", "args": args, "id": f"c{n}"}]),
        ToolMessage(f"Booked for {NAME}", tool_call_id=f"c{n}", name="book", id=f"t{n}"),
        AIMessage(f"You're booked, {NAME}.", id=f"r{n}"),
    ]


def _redact(text: str) -> str:
    return text.replace(NAME, "<PERSON>").replace(CARD, "<CARD>")


async def _until_stored(transcript: PostgresTranscript) -> None:
    """Flush until the pool has reconnected (its retries back off; this only guards a hang)."""
    for _ in range(60):
        if await transcript.flush():
            return
        await asyncio.sleep(0.5)
    pytest.fail("the transcript was not stored after the database came back")


def _assert_no_pii(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        line = record.getMessage()
        assert not any(secret in line for secret in PII), line
        assert record.exc_info is None, "no traceback (a driver message can quote a row)"


async def test_the_table_is_created_once_by_any_number_of_workers(schema) -> None:
    url, name = schema
    assert await load_transcript("CA0", database_url=url) == [], "no table yet reads as empty"

    async def worker() -> None:
        async with open_postgres_transcripts(url):
            pass

    await asyncio.gather(*(worker() for _ in range(4)))
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
            " AND table_name = 'call_transcripts' ORDER BY ordinal_position",
            (name,),
        )
        columns = [row[0] for row in await cursor.fetchall()]
    assert columns == [
        "call_sid",
        "seq",
        "ts",
        "role",
        "text",
        "message_id",
        "name",
        "tool_calls",
        "meta",
    ]


async def test_rows_hold_what_the_file_holds_and_appends_are_idempotent(
    schema, tmp_path: Path
) -> None:
    url, _ = schema
    turn = _turn(1)
    files = FileTranscripts(tmp_path / "transcripts", redact=_redact, clock=lambda: NOW)
    async with open_postgres_transcripts(url, redact=_redact, clock=lambda: NOW) as pg:
        on_disk, in_db = await files.open("CA1"), await pg.open("CA1")
        for transcript in (on_disk, in_db):
            assert len(await transcript.aappend_messages(turn[:2])) == 2
            written = await transcript.aappend_messages(turn)  # the whole window again
            assert [e.message_id for e in written] == ["t1", "r1"]
            assert await transcript.aappend_messages(turn) == []
        assert await in_db.flush()
        stored = await in_db.aentries()
        assert stored == await on_disk.aentries()
        assert [e.seq for e in stored] == [1, 2, 3, 4]
        args = json.dumps({"name": "<PERSON>", "card": "<CARD>"})
        assert stored[1].tool_calls == ({"name": "book", "args": args},)
        assert stored[2].name == "book"

        again = await pg.open("CA1")  # another worker, or a restart, continues the call
        assert len(again) == 4
        assert await again.aappend_messages(turn) == [], "ids already stored are known"
        [bye] = await again.aappend_messages([AIMessage("Goodbye.", id="bye")])
        assert bye.seq == 5
        assert await again.flush()
        await pg.write("CA1", [*stored, bye])  # a batch re-sent after its commit's reply was lost
        assert len(await pg.load("CA1")) == 5

    from_db = await load_transcript("CA1", database_url=url)
    assert [e.text for e in from_db][-2:] == ["You're booked, <PERSON>.", "Goodbye."]
    assert await load_transcript("CA1", var_dir=tmp_path) == stored, "files: var_dir/transcripts"
    assert await load_transcript("CAunknown", database_url=url) == []


async def test_a_card_number_and_a_name_reach_the_table_redacted(schema, proxy) -> None:
    """The service's Presidio redactor; every byte sent to the server is checked too."""
    url, _ = schema
    redactor = await asyncio.to_thread(get_redactor)
    tool_call = {"name": "book", "args": {"name": NAME, "card": CARD}, "id": "c1"}
    messages = [
        HumanMessage(f"My name is {NAME} and my card number is {CARD}.", id="h1"),
        AIMessage("", id="a1", tool_calls=[tool_call]),
        ToolMessage(f"Booked for {NAME}, card {CARD}.", tool_call_id="c1", name="book", id="t1"),
    ]
    proxied = via_port(url, proxy.port) + "&sslmode=disable"  # plain bytes on the wire
    async with open_postgres_transcripts(proxied, redact=redactor) as pg:
        transcript = await pg.open("CAredact")
        await transcript.aappend_messages(messages)
        assert await transcript.flush()

    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("SELECT row_to_json(t)::text FROM call_transcripts t")
        rows = [row[0] for row in await cursor.fetchall()]
    assert len(rows) == 3
    for row in rows:
        assert not any(secret in row for secret in PII), row
    assert "[PERSON]" in rows[0]
    assert "[CARD]" in rows[0]
    assert "[CARD]" in rows[1], "tool-call arguments are redacted too"
    wire = bytes(proxy.sent)
    assert b"[CARD]" in wire, "the check below looks at the right bytes"
    assert b"Miller" not in wire
    assert CARD.encode() not in wire
    assert CARD.replace(" ", "").encode() not in wire


async def test_database_down_mid_call_is_logged_once_and_nothing_is_lost(
    schema, proxy, caplog
) -> None:
    url, _ = schema
    caplog.set_level(logging.DEBUG, logger="memory.transcripts_pg")
    async with open_postgres_transcripts(via_port(url, proxy.port), db_timeout=1.0) as pg:
        transcript = await pg.open("CAdown")
        await transcript.aappend_messages(_turn(1))
        assert await transcript.flush()

        await proxy.reset()
        for n in (2, 3):
            queued = await transcript.aappend_messages(_turn(n))  # the call never sees an error
            assert [e.seq for e in queued] == list(range(4 * n - 3, 4 * n + 1))
            assert not await transcript.flush()
            assert transcript.unsaved == 4 * (n - 1)
        warnings = [
            r for r in caplog.records if r.name == "memory.transcripts_pg" and r.levelno >= 30
        ]
        assert len(warnings) == 1, "one warning per outage, not per turn"
        assert "CAdown" in warnings[0].getMessage()
        assert "not stored yet" in warnings[0].getMessage()

        await proxy.restore()
        await _until_stored(transcript)
        stored = await transcript.aentries()
    assert [e.seq for e in stored] == list(range(1, 13)), "no gap, no duplicate"
    assert [e.message_id for e in stored] == [m.id for n in (1, 2, 3) for m in _turn(n)]
    assert "stored again" in caplog.text
    _assert_no_pii(caplog)


async def test_what_cannot_be_stored_after_the_call_is_logged_as_lost(
    schema, proxy, caplog
) -> None:
    url, _ = schema
    proxied = via_port(url, proxy.port)
    async with open_postgres_transcripts(proxied, db_timeout=1.0, retry_delays=(0.0,)) as pg:
        await proxy.reset()
        transcript = await pg.open("CAlost")  # down at call start: numbering from 1
        assert "could not read what is stored" in caplog.text
        [first, *_] = await transcript.aappend_messages(_turn(1))
        assert first.seq == 1
        await transcript.aclose()  # returns at once; the writer retries once, then gives up
        assert not await transcript.flush()
        assert (transcript.unsaved, transcript.lost) == (0, 4)
    assert "CAlost: 4 entries lost" in caplog.text
    _assert_no_pii(caplog)


async def _say(agent, text: str, source: str = "speech") -> str:
    return "".join([token async for token in agent.respond(text, source=source)]).strip()


@pytest.mark.parametrize("outage", ["reset", "stall"])
async def test_a_call_goes_on_unchanged_while_its_transcript_database_is_away(
    schema, proxy, tmp_path: Path, caplog, outage: str
) -> None:
    """The clinic graph on the service's wiring: the same call with its transcript in
    files (control) and in Postgres that goes away after the first turn."""
    url, _ = schema
    caplog.set_level(logging.INFO, logger="memory.transcripts_pg")
    script = [
        "what time do you close on saturday",
        f"my name is {NAME.lower()}",
        "what time do you open on monday",
        "no thanks that will be all",
    ]
    opened: list[PostgresTranscript] = []
    # A stalled write outlasts the test: it completes when the network returns.
    db_timeout = 3600.0 if outage == "stall" else 1.0
    async with (
        open_flow_agents(load_flow("clinic", root=REPO), var_dir=tmp_path, today=TODAY) as agents,
        open_postgres_transcripts(via_port(url, proxy.port), db_timeout=db_timeout) as pg,
    ):

        class Spy:
            async def open(self, call_sid: str) -> PostgresTranscript:
                opened.append(await pg.open(call_sid))
                return opened[-1]

            load = pg.load

        control = await agents(SimpleNamespace(call_sid="CAcontrol", caller="+15550002222"))
        expected = [await _say(control, "", "start")]
        expected += [await _say(control, line) for line in script]
        await control.aclose()

        live_agents = dataclasses.replace(agents, transcripts=Spy())
        live = await live_agents(SimpleNamespace(call_sid="CAlive", caller="+15550003333"))
        [transcript] = opened
        replies = [await _say(live, "", "start"), await _say(live, script[0])]
        assert await transcript.flush()
        if outage == "reset":
            await proxy.reset()
        else:
            proxy.stall()
        async with asyncio.timeout(60):  # proves no hang (a turn takes ~0.1 s), not a latency
            replies += [await _say(live, line) for line in script[1:]]
        assert transcript.unsaved > 0, "the entries wait in memory, the turns did not"
        await live.aclose()
        assert replies == expected, "the caller heard the same call"

        await proxy.restore()
        await _until_stored(transcript)
        stored = [(e.role, e.text) for e in await transcript.aentries()]
    on_file = read_transcript(tmp_path / "transcripts" / "CAcontrol.jsonl")
    assert stored == [(e.role, e.text) for e in on_file]
    assert len(stored) > 2 * len(script)
    _assert_no_pii(caplog)
