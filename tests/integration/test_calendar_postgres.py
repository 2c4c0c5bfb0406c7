"""The clinic calendar on a real Postgres server: the same promises as on SQLite.

Each test gets its own schema (dropped afterwards), selected through the URL's
``search_path``, so concurrent runs never see each other's rows. Set
``DIALGRAPH_TEST_POSTGRES_URL`` to use another server; the tests skip only
when the server cannot be reached.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from typing import Any

import psycopg
import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from graphs.clinic.context import Context
from graphs.runtime.effects import current_ledger, use_ledger
from memory.effects import InMemoryEffectLedger
from tests.postgres import SERVER_URL, fresh_schema
from tools import CLINIC_TOOLS
from tools._seed import RETURNING_CALLER, seed_plan
from tools.calendar import Calendar, close_calendars

MONDAY = date(2025, 3, 3)
WEDNESDAY = MONDAY + timedelta(days=2)
SATURDAY = MONDAY + timedelta(days=5)
SUNDAY = MONDAY + timedelta(days=6)
START_OF_MONDAY = datetime.combine(MONDAY, time.min)
CALLER = "+15557770001"


@pytest.fixture
async def schema_url() -> Any:
    """A URL whose tables live in a fresh schema, dropped after the test."""
    async with fresh_schema() as pair:
        try:
            yield pair
        finally:
            await close_calendars()


@pytest.fixture
async def calendar(schema_url: tuple[str, str]) -> Any:
    cal = Calendar(schema_url[0])
    yield cal
    await cal.aclose()


async def _rows(url: str) -> list[tuple]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            "SELECT id, phone, name, appointment_type, doctor, day, time, status"
            " FROM appointments ORDER BY id"
        )
        return await cursor.fetchall()


async def _book(cal: Calendar, key: str, at: time, *, kind="checkup", day=WEDNESDAY, **kw):
    kw.setdefault("phone", CALLER)
    kw.setdefault("name", "Ada Byron")
    return await cal.book(key, appointment_type=kind, day=day, at=at, now=START_OF_MONDAY, **kw)


async def test_tables_live_in_the_tests_own_schema(calendar: Calendar, schema_url) -> None:
    await calendar.setup()
    async with await psycopg.AsyncConnection.connect(SERVER_URL) as conn:
        cursor = await conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s"
            " ORDER BY table_name",
            (schema_url[1],),
        )
        assert [row[0] for row in await cursor.fetchall()] == ["appointments", "effects"]


async def test_seed_is_deterministic_and_idempotent(calendar: Calendar, schema_url) -> None:
    url = schema_url[0]
    assert await calendar.seed(MONDAY) is True
    assert await Calendar(url).seed(MONDAY) is False  # the ledger row, not the memo
    rows = await _rows(url)
    plan = seed_plan(MONDAY)
    assert [(r[2], r[4], r[5], r[6]) for r in rows] == [
        (p.name, p.doctor, p.day.isoformat(), p.start.strftime("%H:%M")) for p in plan
    ]
    maria = await calendar.upcoming(RETURNING_CALLER, now=START_OF_MONDAY)
    assert [(a["appointment_type"], a["day"], a["time"]) for a in maria] == [
        ("checkup", "2025-03-05", "10:00")
    ]


async def test_concurrent_seeding_seeds_once(schema_url) -> None:
    url = schema_url[0]
    results = await asyncio.gather(*(Calendar(url).seed(MONDAY) for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    assert len(await _rows(url)) == len(seed_plan(MONDAY))


async def test_opening_hours(calendar: Calendar) -> None:
    sunday = await calendar.availability(SUNDAY, "checkup", now=START_OF_MONDAY)
    assert sunday["error"] == "closed" and sunday["next_open_day"] == "2025-03-10"
    saturday = await calendar.availability(SATURDAY, "checkup", now=START_OF_MONDAY)
    assert saturday["slots"][-1]["time"] == "11:30"
    after_two = datetime.combine(MONDAY, time(14, 5))
    today = await calendar.availability(MONDAY, "checkup", now=after_two)
    assert today["slots"][0]["time"] == "14:15"


@pytest.mark.parametrize(
    ("kind", "at", "blocked"),
    [
        ("vaccination", time(10, 15), True),
        ("checkup", time(9, 45), True),
        ("checkup", time(9, 30), False),
        ("vaccination", time(10, 30), False),
    ],
)
async def test_overlapping_durations_conflict(
    calendar: Calendar, kind: str, at: time, blocked: bool
) -> None:
    assert (await _book(calendar, "t:1", time(10, 0), doctor="Dr. Patel"))["ok"]
    result = await _book(calendar, "t:2", at, kind=kind, doctor="Dr. Patel")
    assert result["ok"] is not blocked
    if blocked:
        assert result["error"] == "slot_taken" and result["alternatives"]


async def test_concurrent_bookings_from_two_workers_have_one_winner(schema_url) -> None:
    url = schema_url[0]
    workers = [Calendar(url), Calendar(url)]  # two pools, as two processes would have
    try:
        await workers[0].setup()
        attempts = [
            _book(workers[i % 2], f"t:{i}", time(11, 0), doctor="Dr. Nguyen", phone=f"+1555{i:07d}")
            for i in range(10)
        ]
        results = await asyncio.gather(*attempts)
    finally:
        for worker in workers:
            await worker.aclose()
    assert sum(r["ok"] for r in results) == 1
    assert {r["error"] for r in results if not r["ok"]} == {"slot_taken"}
    assert len(await _rows(url)) == 1


async def test_concurrent_overlapping_bookings_have_one_winner(schema_url) -> None:
    url = schema_url[0]
    workers = [Calendar(url) for _ in range(3)]
    try:
        results = await asyncio.gather(
            _book(workers[0], "t:a", time(10, 0), doctor="Dr. Patel"),
            _book(workers[1], "t:b", time(10, 0), kind="vaccination", doctor="Dr. Patel"),
            _book(workers[2], "t:c", time(9, 45), doctor="Dr. Patel"),
        )
    finally:
        for worker in workers:
            await worker.aclose()
    assert sum(r["ok"] for r in results) == 1


async def test_side_effects_are_idempotent_by_key(calendar: Calendar, schema_url) -> None:
    url = schema_url[0]
    concurrent = await asyncio.gather(*[_book(calendar, "th:book", time(10, 0))] * 4)
    assert all(r == concurrent[0] for r in concurrent) and concurrent[0]["ok"]
    appt = concurrent[0]["appointment"]
    assert await calendar.completed_effect("th:book") == concurrent[0]
    assert await calendar.completed_effect("th:never") is None

    moved = await calendar.reschedule(
        "th:move",
        phone=CALLER,
        appointment_id=appt["id"],
        day=WEDNESDAY,
        at=time(10, 15),
        now=START_OF_MONDAY,
    )
    again = await calendar.reschedule(
        "th:move",
        phone=CALLER,
        appointment_id=appt["id"],
        day=WEDNESDAY,
        at=time(16, 0),
        now=START_OF_MONDAY,
    )
    assert moved["ok"] and again == moved

    cancelled = await calendar.cancel(
        "th:cancel", phone=CALLER, appointment_id=appt["id"], now=START_OF_MONDAY
    )
    replay = await calendar.cancel(
        "th:cancel", phone=CALLER, appointment_id=appt["id"], now=START_OF_MONDAY
    )
    assert cancelled["ok"] and replay == cancelled
    rows = await _rows(url)
    assert [(r[6], r[7]) for r in rows] == [("10:15", "cancelled")]


async def test_reschedule_to_a_taken_time_changes_nothing(calendar: Calendar) -> None:
    mine = (await _book(calendar, "t:1", time(10, 0)))["appointment"]
    await _book(calendar, "t:2", time(14, 0), phone="+15557770002")
    await _book(calendar, "t:3", time(14, 0), phone="+15557770002")
    result = await calendar.reschedule(
        "t:4",
        phone=CALLER,
        appointment_id=mine["id"],
        day=WEDNESDAY,
        at=time(14, 0),
        now=START_OF_MONDAY,
    )
    assert result["error"] == "slot_taken"
    assert await calendar.upcoming(CALLER, now=START_OF_MONDAY) == [mine]


async def test_cancelling_the_caller_does_not_cut_a_booking_in_half(calendar: Calendar) -> None:
    await calendar.setup()
    task = asyncio.create_task(_book(calendar, "t:barge-in", time(10, 0)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await calendar.aclose()
    survivor = Calendar(calendar.db_url)
    try:
        committed = await survivor.completed_effect("t:barge-in")
    finally:
        await survivor.aclose()
    assert committed is not None and committed["ok"]


async def test_tools_book_through_a_tool_node(schema_url) -> None:
    builder = StateGraph(MessagesState, context_schema=Context)
    builder.add_node("tools", ToolNode(CLINIC_TOOLS))
    builder.add_edge(START, "tools")
    builder.add_edge("tools", END)
    graph = builder.compile(checkpointer=InMemorySaver())
    call = {
        "name": "book_appointment",
        "args": {
            "appointment_type": "vaccination",
            "day": "Friday",
            "time": "11:15",
            "name": "grace hopper",
        },
        "id": "call_pg",
    }
    context = Context(caller=CALLER, db_url=schema_url[0], today=MONDAY.isoformat())
    config = {"configurable": {"thread_id": "CA-pg"}}
    previous = current_ledger()
    try:
        for _ in range(2):  # the second run replays the same tool call
            # A fresh runtime ledger each time (another worker): the calendar's own
            # idempotency is what keeps the booking single here.
            use_ledger(InMemoryEffectLedger())
            state = await graph.ainvoke(
                {"messages": [AIMessage(content="", tool_calls=[call])]}, config, context=context
            )
    finally:
        use_ledger(previous)
    answers = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert answers[0].artifact == answers[1].artifact
    assert answers[0].artifact["appointment"]["name"] == "Grace Hopper"
    mine = [r for r in await _rows(schema_url[0]) if r[1] == CALLER]
    assert len(mine) == 1
