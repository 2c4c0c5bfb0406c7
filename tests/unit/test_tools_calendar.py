"""The clinic calendar on a real SQLite file: slots, bookings, idempotency, races."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from tools._seed import RETURNING_CALLER, seed_plan
from tools.calendar import Calendar, close_calendars, get_calendar

MONDAY = date(2025, 3, 3)
WEDNESDAY = MONDAY + timedelta(days=2)
SATURDAY = MONDAY + timedelta(days=5)
SUNDAY = MONDAY + timedelta(days=6)
NEXT_MONDAY = MONDAY + timedelta(days=7)
START_OF_MONDAY = datetime.combine(MONDAY, time.min)
CALLER = "+15557770001"
OTHER_CALLER = "+15557770002"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/nested/dir/calendar.db"


@pytest.fixture
async def calendar(db_url: str):
    cal = Calendar(db_url)
    yield cal
    await cal.aclose()


def _rows(db_url: str) -> list[tuple]:
    path = db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT id, phone, name, appointment_type, doctor, day, time, duration_min, status"
            " FROM appointments ORDER BY id"
        ).fetchall()


async def _book(cal: Calendar, key: str, at: time, *, kind="checkup", day=WEDNESDAY, **kw):
    kw.setdefault("phone", CALLER)
    kw.setdefault("name", "Ada Byron")
    return await cal.book(key, appointment_type=kind, day=day, at=at, now=START_OF_MONDAY, **kw)


# -- seeding ---------------------------------------------------------------------------


async def test_seed_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    first, second = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    assert await Calendar(first).seed(MONDAY) is True
    assert await Calendar(second).seed(MONDAY) is True
    # A fresh instance (no in-memory memo) finds the ledger row and does nothing.
    assert await Calendar(first).seed(MONDAY) is False
    assert _rows(first) == _rows(second)
    assert len(_rows(first)) == len(seed_plan(MONDAY)) > 10


async def test_seed_gives_the_returning_caller_an_upcoming_checkup(calendar: Calendar) -> None:
    await calendar.seed(MONDAY)
    upcoming = await calendar.upcoming(RETURNING_CALLER, now=START_OF_MONDAY)
    assert upcoming == [
        {
            "id": 1,
            "appointment_type": "checkup",
            "day": "2025-03-05",
            "time": "10:00",
            "doctor": "Dr. Patel",
            "name": "Maria Lopez",
        }
    ]


async def test_seed_for_a_later_day_replaces_demo_rows_and_keeps_callers_bookings(
    calendar: Calendar, db_url: str
) -> None:
    await calendar.seed(MONDAY)
    mine = await _book(calendar, "t:1", time(16, 0), day=NEXT_MONDAY)
    assert mine["ok"]
    assert await calendar.seed(MONDAY + timedelta(days=1)) is True
    rows = _rows(db_url)
    assert any(row[0] == mine["appointment"]["id"] for row in rows)
    demo_days = {row[5] for row in rows if row[1] != CALLER}
    assert MONDAY.isoformat() not in demo_days  # re-planned from Tuesday on
    maria = await calendar.upcoming(RETURNING_CALLER, now=START_OF_MONDAY)
    assert [appt["day"] for appt in maria] == ["2025-03-06"]


# -- availability ----------------------------------------------------------------------


async def test_availability_whole_day_and_parts_of_day(calendar: Calendar) -> None:
    day = await calendar.availability(WEDNESDAY, "checkup", now=START_OF_MONDAY)
    assert day["ok"] and day["slots"][0] == {"time": "09:00", "doctor": "Dr. Patel"}
    assert day["slots"][-1]["time"] == "16:30"  # a 30-minute checkup must end by 17:00
    assert len(day["slots"]) == 31  # 09:00..16:30 every 15 min, nothing booked
    morning = await calendar.availability(
        WEDNESDAY, "checkup", now=START_OF_MONDAY, part_of_day="morning"
    )
    afternoon = await calendar.availability(
        WEDNESDAY, "checkup", now=START_OF_MONDAY, part_of_day="afternoon"
    )
    assert morning["slots"][-1]["time"] == "11:45"
    assert afternoon["slots"][0]["time"] == "12:00"
    assert len(morning["slots"]) + len(afternoon["slots"]) == len(day["slots"])


async def test_vaccinations_fit_later_than_checkups(calendar: Calendar) -> None:
    day = await calendar.availability(WEDNESDAY, "vaccination", now=START_OF_MONDAY)
    assert day["slots"][-1]["time"] == "16:45"


async def test_sunday_is_closed_and_points_to_monday(calendar: Calendar) -> None:
    result = await calendar.availability(SUNDAY, "checkup", now=START_OF_MONDAY)
    assert result == {
        "ok": False,
        "error": "closed",
        "day": "2025-03-09",
        "appointment_type": "checkup",
        "next_open_day": "2025-03-10",
    }


async def test_saturday_is_morning_only(calendar: Calendar) -> None:
    day = await calendar.availability(SATURDAY, "checkup", now=START_OF_MONDAY)
    assert day["slots"][0]["time"] == "09:00"
    assert day["slots"][-1]["time"] == "11:30"
    afternoon = await calendar.availability(
        SATURDAY, "checkup", now=START_OF_MONDAY, part_of_day="afternoon"
    )
    assert afternoon["ok"] and afternoon["slots"] == []


async def test_no_slots_in_the_past(calendar: Calendar) -> None:
    after_two = datetime.combine(MONDAY, time(14, 5))
    today = await calendar.availability(MONDAY, "checkup", now=after_two)
    assert today["slots"][0]["time"] == "14:15"
    yesterday = await calendar.availability(MONDAY - timedelta(days=1), "checkup", now=after_two)
    assert yesterday["error"] in {"past", "closed"}  # Sunday: closed wins
    last_week = await calendar.availability(MONDAY - timedelta(days=5), "checkup", now=after_two)
    assert last_week["error"] == "past"
    late = await _book(calendar, "t:late", time(10, 0), day=MONDAY)
    assert late["ok"]  # START_OF_MONDAY: 10:00 is still ahead
    too_late = await calendar.book(
        "t:too-late",
        phone=CALLER,
        name="A",
        appointment_type="checkup",
        day=MONDAY,
        at=time(11, 0),
        now=after_two,
    )
    assert too_late["error"] == "past"


async def test_unknown_type(calendar: Calendar) -> None:
    result = await calendar.availability(WEDNESDAY, "massage", now=START_OF_MONDAY)
    assert result["error"] == "unknown_type"


# -- booking ---------------------------------------------------------------------------


async def test_booked_slot_is_taken_for_that_doctor_and_offers_alternatives(
    calendar: Calendar,
) -> None:
    first = await _book(calendar, "t:1", time(10, 0), doctor="Dr. Patel")
    assert first["ok"] and first["appointment"]["doctor"] == "Dr. Patel"
    again = await _book(calendar, "t:2", time(10, 0), doctor="Dr. Patel")
    assert again["ok"] is False and again["error"] == "slot_taken"
    assert again["alternatives"] == ["09:15", "09:30", "10:30"]  # nearest first, earlier on ties
    other_doctor = await _book(calendar, "t:3", time(10, 0))
    assert other_doctor["appointment"]["doctor"] == "Dr. Nguyen"
    full = await _book(calendar, "t:4", time(10, 0))
    assert full["error"] == "slot_taken"
    free = await calendar.availability(WEDNESDAY, "checkup", now=START_OF_MONDAY)
    assert "10:00" not in {slot["time"] for slot in free["slots"]}


@pytest.mark.parametrize(
    ("kind", "at", "blocked"),
    [
        ("vaccination", time(10, 15), True),  # inside the 10:00-10:30 checkup
        ("checkup", time(9, 45), True),  # would run into it
        ("checkup", time(9, 30), False),  # ends exactly when it starts
        ("vaccination", time(10, 30), False),  # starts exactly when it ends
    ],
)
async def test_overlapping_durations_conflict(
    calendar: Calendar, kind: str, at: time, blocked: bool
) -> None:
    await _book(calendar, "t:1", time(10, 0), doctor="Dr. Patel")
    result = await _book(calendar, "t:2", at, kind=kind, doctor="Dr. Patel")
    assert result["ok"] is not blocked


@pytest.mark.parametrize(
    ("day", "at", "error"),
    [
        (SUNDAY, time(10, 0), "closed"),
        (WEDNESDAY, time(16, 45), "bad_time"),  # a checkup would end after 17:00
        (WEDNESDAY, time(10, 10), "bad_time"),  # not a quarter hour
        (WEDNESDAY, time(8, 0), "bad_time"),
        (SATURDAY, time(11, 45), "bad_time"),  # Saturday closes at noon
        (MONDAY - timedelta(days=3), time(10, 0), "past"),
    ],
)
async def test_booking_outside_hours_is_refused(
    calendar: Calendar, day: date, at: time, error: str
) -> None:
    result = await _book(calendar, f"t:{day}:{at}", at, day=day)
    assert result["ok"] is False and result["error"] == error


async def test_concurrent_bookings_of_one_slot_have_exactly_one_winner(db_url: str) -> None:
    # Two calendars = two independent connections, as two workers would have.
    first, second = Calendar(db_url), Calendar(db_url)
    await first.setup()
    attempts = [
        _book(cal, f"t:{i}", time(11, 0), doctor="Dr. Nguyen", phone=f"+1555000{i:04d}")
        for i, cal in enumerate([first, second] * 5)
    ]
    results = await asyncio.gather(*attempts)
    assert sum(r["ok"] for r in results) == 1
    assert {r.get("error") for r in results if not r["ok"]} == {"slot_taken"}
    assert len(_rows(db_url)) == 1


async def test_concurrent_overlapping_bookings_have_one_winner(calendar: Calendar) -> None:
    # Not all one start, so a unique index alone could not decide: all cover 10:00-10:15.
    results = await asyncio.gather(
        _book(calendar, "t:a", time(10, 0), doctor="Dr. Patel"),
        _book(calendar, "t:b", time(10, 0), kind="vaccination", doctor="Dr. Patel"),
        _book(calendar, "t:c", time(9, 45), doctor="Dr. Patel"),
    )
    assert sum(r["ok"] for r in results) == 1


# -- idempotency -----------------------------------------------------------------------


async def test_book_is_idempotent_by_key(calendar: Calendar, db_url: str) -> None:
    first = await _book(calendar, "thread-1:call-1", time(10, 0))
    replay = await _book(calendar, "thread-1:call-1", time(10, 0))
    assert replay == first
    assert len(_rows(db_url)) == 1
    # Replays return the first outcome even if the arguments drift.
    assert await _book(calendar, "thread-1:call-1", time(15, 0)) == first
    concurrent = await asyncio.gather(*[_book(calendar, "thread-1:call-2", time(14, 0))] * 4)
    assert all(r == concurrent[0] for r in concurrent) and concurrent[0]["ok"]
    assert len(_rows(db_url)) == 2


async def test_cancel_is_idempotent_and_only_for_the_owner(calendar: Calendar) -> None:
    booked = await _book(calendar, "t:1", time(10, 0))
    appt_id = booked["appointment"]["id"]
    now = START_OF_MONDAY
    stranger = await calendar.cancel("t:2", phone=OTHER_CALLER, appointment_id=appt_id, now=now)
    assert stranger == {"ok": False, "error": "not_found", "appointment_id": appt_id}
    done = await calendar.cancel("t:3", phone=CALLER, appointment_id=appt_id, now=now)
    assert done == {"ok": True, "appointment": booked["appointment"]}
    assert await calendar.cancel("t:3", phone=CALLER, appointment_id=appt_id, now=now) == done
    again = await calendar.cancel("t:4", phone=CALLER, appointment_id=appt_id, now=now)
    assert again["error"] == "not_found"
    assert (await calendar.appointment(appt_id)).status == "cancelled"
    assert await calendar.upcoming(CALLER, now=now) == []
    # The freed slot can be booked again.
    assert (await _book(calendar, "t:5", time(10, 0), doctor=booked["appointment"]["doctor"]))["ok"]


async def test_reschedule_moves_in_place_atomically_and_idempotently(
    calendar: Calendar, db_url: str
) -> None:
    booked = (await _book(calendar, "t:1", time(10, 0), doctor="Dr. Patel"))["appointment"]
    now = START_OF_MONDAY
    moved = await calendar.reschedule(
        "t:2", phone=CALLER, appointment_id=booked["id"], day=WEDNESDAY, at=time(10, 15), now=now
    )  # overlaps only its own old time
    assert moved["ok"] and moved["previous"] == booked
    assert moved["appointment"] == {**booked, "time": "10:15"}
    replay = await calendar.reschedule(
        "t:2", phone=CALLER, appointment_id=booked["id"], day=WEDNESDAY, at=time(10, 15), now=now
    )
    assert replay == moved
    assert [row[6] for row in _rows(db_url)] == ["10:15"]


async def test_reschedule_to_a_taken_time_changes_nothing(calendar: Calendar) -> None:
    mine = (await _book(calendar, "t:1", time(10, 0)))["appointment"]
    await _book(calendar, "t:2", time(14, 0), phone=OTHER_CALLER)
    await _book(calendar, "t:3", time(14, 0), phone=OTHER_CALLER)
    result = await calendar.reschedule(
        "t:4",
        phone=CALLER,
        appointment_id=mine["id"],
        day=WEDNESDAY,
        at=time(14, 0),
        now=START_OF_MONDAY,
    )
    assert result["ok"] is False and result["error"] == "slot_taken"
    assert result["alternatives"] == ["13:15", "13:30", "14:30"]
    assert await calendar.upcoming(CALLER, now=START_OF_MONDAY) == [mine]


async def test_reschedule_prefers_the_same_doctor(calendar: Calendar) -> None:
    mine = (await _book(calendar, "t:1", time(10, 0), doctor="Dr. Nguyen"))["appointment"]
    moved = await calendar.reschedule(
        "t:2",
        phone=CALLER,
        appointment_id=mine["id"],
        day=SATURDAY,
        at=time(9, 0),
        now=START_OF_MONDAY,
    )
    assert moved["appointment"]["doctor"] == "Dr. Nguyen"
    stranger = await calendar.reschedule(
        "t:3",
        phone=OTHER_CALLER,
        appointment_id=mine["id"],
        day=SATURDAY,
        at=time(10, 0),
        now=START_OF_MONDAY,
    )
    assert stranger["error"] == "not_found"


async def test_completed_effect_reports_committed_outcomes_only(calendar: Calendar) -> None:
    assert await calendar.completed_effect("t:1") is None
    booked = await _book(calendar, "t:1", time(10, 0))
    assert await calendar.completed_effect("t:1") == booked
    refused = await _book(calendar, "t:2", time(10, 10))
    assert await calendar.completed_effect("t:2") == refused


async def test_cancelling_the_caller_does_not_cut_a_booking_in_half(calendar: Calendar) -> None:
    await calendar.setup()
    task = asyncio.create_task(_book(calendar, "t:barge-in", time(10, 0)))
    await asyncio.sleep(0)  # the write transaction has started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await calendar.aclose()  # waits for the shielded write
    committed = await calendar.completed_effect("t:barge-in")
    assert committed is not None and committed["ok"]
    assert await calendar.upcoming(CALLER, now=START_OF_MONDAY) == [committed["appointment"]]


# -- sharing ---------------------------------------------------------------------------


async def test_get_calendar_shares_one_instance_per_url_and_loop(db_url: str, tmp_path) -> None:
    first = get_calendar(db_url)
    assert get_calendar(db_url) is first
    assert get_calendar(f"sqlite:///{tmp_path}/other.db") is not first

    def in_another_loop() -> Calendar:
        async def fetch() -> Calendar:
            return get_calendar(db_url)

        return asyncio.run(fetch())

    assert await asyncio.to_thread(in_another_loop) is not first
    await close_calendars()
    assert get_calendar(db_url) is not first
    await close_calendars()


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "mysql://x/y"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        Calendar(url)
