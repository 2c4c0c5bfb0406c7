"""The clinic's appointment calendar on SQLite or Postgres.

How it works:

- Appointments start every 15 minutes within opening hours and occupy one
  doctor for their duration. A start time is *free* when some doctor has no
  booked appointment overlapping ``[start, start + duration)``; on the current
  day only starts at or after ``now`` count.
- Every side effect (book, cancel, reschedule) runs in one write transaction
  that first looks its idempotency key up in ``effects``, then decides, writes
  the appointment change *and* the outcome (the tool's artifact) under that
  key, and commits. Replaying a key returns the stored outcome and changes
  nothing, so a retried or re-run tool call can never book twice (whatever
  the phone runtime's own side-effect ledger knows), and
  :meth:`Calendar.completed_effect` tells whether a cut call actually committed.
- Write transactions are serialised per calendar (see :mod:`tools._db`), so two
  callers racing for one slot, or for overlapping slots, get one winner. The
  write runs shielded: cancelling the caller's task does not cut a
  transaction in half; it either commits with its ledger row or not at all.
- Methods return the tools' artifacts (plain JSON-able dicts, dates as
  ``YYYY-MM-DD``, times as ``HH:MM``); wording for the caller is the tools' job.
- ``now`` is always passed in (the clinic's local wall-clock time, naive), so
  tests pin "today" and the hour without sleeping or patching.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time
from typing import Any

from tools._db import Database, Transaction, open_database
from tools._seed import SEED_EFFECT_KEY, seed_plan
from tools._slots import (
    Appointment,
    free_starts,
    hhmm,
    minute_of,
    nearest,
    next_open_day,
)
from tools.clinic import APPOINTMENT_TYPES, DOCTORS, NOON, SLOT_MINUTES, opening_hours

__all__ = ["Appointment", "Calendar", "close_calendars", "get_calendar"]

logger = logging.getLogger(__name__)

_COLUMNS = "id, phone, name, appointment_type, doctor, day, time, duration_min, status"


class Calendar:
    """The clinic's appointments in one database (see the module doc for how it works).

    Args:
        db_url: ``sqlite:///path/to/file.db`` (parent folders are created) or a
            ``postgresql://`` URL. Prefer :func:`get_calendar`, which shares one
            instance per URL and event loop.
    """

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self._db: Database = open_database(db_url)
        self._ready = False
        self._setup_lock = asyncio.Lock()
        self._seeded_for: date | None = None
        self._inflight: dict[str, asyncio.Task[Any]] = {}  # idempotency key -> write

    async def setup(self) -> None:
        """Create the schema if needed. Called by every method; cheap after the first time."""
        if self._ready:
            return
        async with self._setup_lock:
            if not self._ready:
                await self._db.create_schema()
                self._ready = True

    async def aclose(self) -> None:
        """Wait for in-flight writes, then release connections."""
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        await self._db.aclose()

    # -- reading -------------------------------------------------------------------------

    async def _day_bookings(self, tx: Transaction, day: date) -> list[Appointment]:
        rows = await tx.fetchall(
            f"SELECT {_COLUMNS} FROM appointments WHERE day = ? AND status = 'booked'",
            (day.isoformat(),),
        )
        return [Appointment.from_row(row) for row in rows]

    async def _get(self, tx: Transaction, appointment_id: int) -> Appointment | None:
        row = await tx.fetchone(
            f"SELECT {_COLUMNS} FROM appointments WHERE id = ?", (appointment_id,)
        )
        return Appointment.from_row(row) if row else None

    async def appointment(self, appointment_id: int) -> Appointment | None:
        """One appointment by id, whatever its status or owner (for inspection and tests)."""
        await self.setup()
        async with self._db.transaction(write=False) as tx:
            return await self._get(tx, appointment_id)

    async def availability(
        self,
        day: date,
        appointment_type: str,
        *,
        now: datetime,
        part_of_day: str | None = None,
    ) -> dict[str, Any]:
        """Free start times on a day for an appointment type.

        Args:
            day: The day asked about.
            appointment_type: A canonical appointment type ("checkup").
            now: The clinic's current local time; earlier starts are not offered.
            part_of_day: "morning" (before noon), "afternoon" (from noon), or None.

        Returns:
            ``{"ok": True, "day", "appointment_type", "part_of_day", "slots":
            [{"time", "doctor"}, ...]}`` with *every* free start, earliest first;
            or ``{"ok": False, "error": "unknown_type" | "closed" | "past", "day", ...}``
            (``"closed"`` also carries ``"next_open_day"``).
        """
        base = {"day": day.isoformat(), "appointment_type": appointment_type}
        kind = APPOINTMENT_TYPES.get(appointment_type)
        if kind is None:
            return {"ok": False, "error": "unknown_type", **base}
        if opening_hours(day) is None:
            return {"ok": False, "error": "closed", **base, **_next_open(day)}
        if day < now.date():
            return {"ok": False, "error": "past", **base}
        await self.setup()
        async with self._db.transaction(write=False) as tx:
            booked = await self._day_bookings(tx, day)
        free = free_starts(day, kind.duration_min, booked, now)
        if part_of_day == "morning":
            free = [slot for slot in free if slot[0] < minute_of(NOON)]
        elif part_of_day == "afternoon":
            free = [slot for slot in free if slot[0] >= minute_of(NOON)]
        slots = [{"time": hhmm(start), "doctor": doctor} for start, doctor in free]
        return {"ok": True, **base, "part_of_day": part_of_day, "slots": slots}

    async def upcoming(self, phone: str, *, now: datetime) -> list[dict[str, Any]]:
        """The booked appointments for a phone number from ``now`` on, by date and time."""
        await self.setup()
        today = now.date().isoformat()
        async with self._db.transaction(write=False) as tx:
            rows = await tx.fetchall(
                f"SELECT {_COLUMNS} FROM appointments WHERE phone = ? AND status = 'booked'"
                " AND (day > ? OR (day = ? AND time >= ?)) ORDER BY day, time, id",
                (phone, today, today, now.strftime("%H:%M")),
            )
        return [Appointment.from_row(row).as_artifact() for row in rows]

    async def completed_effect(self, key: str) -> dict[str, Any] | None:
        """The artifact a side effect committed under ``key``, or None if it never committed.

        A write still in flight under ``key`` (its run was cancelled, the
        shielded transaction goes on) is awaited first, so the answer is final.
        """
        inflight = self._inflight.get(key)
        if inflight is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(inflight)
        await self.setup()
        async with self._db.transaction(write=False) as tx:
            row = await tx.fetchone(
                "SELECT artifact FROM effects WHERE idempotency_key = ?", (key,)
            )
        return json.loads(row[0]) if row else None

    # -- side effects ---------------------------------------------------------------------

    async def _effect(
        self, key: str, tool: str, decide: Callable[[Transaction], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        await self.setup()

        async def run() -> dict[str, Any]:
            async with self._db.transaction(write=True) as tx:
                row = await tx.fetchone(
                    "SELECT artifact FROM effects WHERE idempotency_key = ?", (key,)
                )
                if row is not None:
                    logger.info("replayed %s effect (already committed)", tool)
                    return json.loads(row[0])
                artifact = await decide(tx)
                await tx.execute(
                    "INSERT INTO effects (idempotency_key, tool, artifact, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (key, tool, json.dumps(artifact), _utc_now()),
                )
                return artifact

        # Shielded: a barge-in that cancels the run must not cut the transaction short.
        task = asyncio.ensure_future(run())
        self._inflight[key] = task
        task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def book(
        self,
        key: str,
        *,
        phone: str,
        name: str,
        appointment_type: str,
        day: date,
        at: time,
        now: datetime,
        doctor: str | None = None,
    ) -> dict[str, Any]:
        """Book a start time, once per idempotency key.

        Args:
            key: Idempotency key (``"{thread_id}:{tool_call_id}"``).
            phone: The caller's number (E.164); owns the appointment.
            name: The patient's name, stored as given.
            appointment_type: A canonical appointment type.
            day: The day.
            at: The start time (quarter hours).
            now: The clinic's current local time.
            doctor: A canonical doctor name, or None for whichever doctor is free.

        Returns:
            ``{"ok": True, "appointment": {...}}`` or ``{"ok": False, "error":
            "unknown_type" | "closed" | "past" | "bad_time" | "slot_taken",
            "alternatives": ["HH:MM", ...], ...}``. Replaying ``key`` returns the
            first outcome unchanged.
        """

        async def decide(tx: Transaction) -> dict[str, Any]:
            request = {
                "appointment_type": appointment_type,
                "day": day.isoformat(),
                "time": at.strftime("%H:%M"),
            }
            problem = _slot_problem(appointment_type, day, at, now)
            if problem is not None and problem["error"] in {"unknown_type", "closed", "past"}:
                return {"ok": False, **problem, **request, "alternatives": []}
            duration = APPOINTMENT_TYPES[appointment_type].duration_min
            booked = await self._day_bookings(tx, day)
            doctors = [doctor] if doctor else list(DOCTORS)
            free = free_starts(day, duration, booked, now, doctors=doctors)
            chosen = next((d for start, d in free if start == minute_of(at)), None)
            if problem is not None or chosen is None:
                error = problem["error"] if problem else "slot_taken"
                alternatives = nearest(free, minute_of(at))
                return {"ok": False, "error": error, **request, "alternatives": alternatives}
            row = await tx.fetchone(
                "INSERT INTO appointments (phone, name, appointment_type, doctor, day, time,"
                " duration_min, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'booked', ?)"
                f" RETURNING {_COLUMNS}",
                (phone, name, appointment_type, chosen, *_day_time(day, at), duration, _utc_now()),
            )
            assert row is not None  # RETURNING always yields the row
            return {"ok": True, "appointment": Appointment.from_row(row).as_artifact()}

        return await self._effect(key, "book_appointment", decide)

    async def _owned_upcoming(
        self, tx: Transaction, appointment_id: int, phone: str, now: datetime
    ) -> Appointment | None:
        appt = await self._get(tx, appointment_id)
        if appt is None or appt.phone != phone or appt.status != "booked":
            return None
        return appt if appt.starts_at >= now else None

    async def cancel(
        self, key: str, *, phone: str, appointment_id: int, now: datetime
    ) -> dict[str, Any]:
        """Cancel one of the caller's upcoming appointments, once per idempotency key.

        Returns:
            ``{"ok": True, "appointment": {...}}`` or ``{"ok": False, "error":
            "not_found", "appointment_id"}`` when it is not an upcoming, booked
            appointment of this phone number.
        """

        async def decide(tx: Transaction) -> dict[str, Any]:
            appt = await self._owned_upcoming(tx, appointment_id, phone, now)
            if appt is None:
                return {"ok": False, "error": "not_found", "appointment_id": appointment_id}
            await tx.execute(
                "UPDATE appointments SET status = 'cancelled' WHERE id = ?", (appt.id,)
            )
            return {"ok": True, "appointment": appt.as_artifact()}

        return await self._effect(key, "cancel_appointment", decide)

    async def reschedule(
        self,
        key: str,
        *,
        phone: str,
        appointment_id: int,
        day: date,
        at: time,
        now: datetime,
    ) -> dict[str, Any]:
        """Move one of the caller's appointments, once per idempotency key.

        The row is updated in place (same id, type and name) in one statement,
        so the caller never ends up with both appointments or neither. The same
        doctor is kept when free at the new time, otherwise another free doctor
        takes it. The appointment's own old time does not block the new one.

        Returns:
            ``{"ok": True, "appointment": {... new ...}, "previous": {... old ...}}``
            or ``{"ok": False, "error": "not_found" | "closed" | "past" | "bad_time" |
            "slot_taken", "alternatives": [...], ...}``.
        """

        async def decide(tx: Transaction) -> dict[str, Any]:
            old = await self._owned_upcoming(tx, appointment_id, phone, now)
            request = {
                "appointment_id": appointment_id,
                "day": day.isoformat(),
                "time": at.strftime("%H:%M"),
            }
            if old is None:
                return {"ok": False, "error": "not_found", **request, "alternatives": []}
            problem = _slot_problem(old.appointment_type, day, at, now)
            if problem is not None and problem["error"] in {"closed", "past"}:
                return {"ok": False, **problem, **request, "alternatives": []}
            booked = await self._day_bookings(tx, day)
            doctors = [old.doctor, *(d for d in DOCTORS if d != old.doctor)]
            free = free_starts(
                day, old.duration_min, booked, now, doctors=doctors, exclude_id=old.id
            )
            chosen = next((d for start, d in free if start == minute_of(at)), None)
            if problem is not None or chosen is None:
                error = problem["error"] if problem else "slot_taken"
                alternatives = nearest(free, minute_of(at))
                return {"ok": False, "error": error, **request, "alternatives": alternatives}
            await tx.execute(
                "UPDATE appointments SET day = ?, time = ?, doctor = ? WHERE id = ?",
                (*_day_time(day, at), chosen, old.id),
            )
            new = await self._get(tx, old.id)
            assert new is not None  # updated in this transaction
            return {"ok": True, "appointment": new.as_artifact(), "previous": old.as_artifact()}

        return await self._effect(key, "reschedule_appointment", decide)

    # -- demo data ------------------------------------------------------------------------

    async def seed(self, today: date) -> bool:
        """Fill the calendar with the demo clinic's bookings, relative to ``today``.

        Deterministic (the same ``today`` gives the same rows) and idempotent:
        seeding again for the same ``today`` does nothing. Seeding for a
        different ``today`` (a persistent demo database on a later day)
        replaces the previous demo rows in the same transaction; bookings made
        by callers are kept, and a demo row that would clash with one is skipped.

        Returns:
            True if rows were written, False if the calendar was already seeded for ``today``.
        """
        if self._seeded_for == today:
            return False
        await self.setup()
        async with self._db.transaction(write=True) as tx:
            row = await tx.fetchone(
                "SELECT artifact FROM effects WHERE idempotency_key = ?", (SEED_EFFECT_KEY,)
            )
            previous = json.loads(row[0]) if row else None
            if previous is not None and previous.get("today") == today.isoformat():
                self._seeded_for = today
                return False
            if previous is not None:
                for old_id in previous.get("ids", []):
                    await tx.execute("DELETE FROM appointments WHERE id = ?", (old_id,))
                await tx.execute(
                    "DELETE FROM effects WHERE idempotency_key = ?", (SEED_EFFECT_KEY,)
                )
            ids = await self._insert_seed(tx, today)
            artifact = {"today": today.isoformat(), "ids": ids}
            await tx.execute(
                "INSERT INTO effects (idempotency_key, tool, artifact, created_at)"
                " VALUES (?, 'seed', ?, ?)",
                (SEED_EFFECT_KEY, json.dumps(artifact), _utc_now()),
            )
        self._seeded_for = today
        logger.info("seeded the demo calendar for %s (%d appointments)", today, len(ids))
        return True

    async def _insert_seed(self, tx: Transaction, today: date) -> list[int]:
        ids: list[int] = []
        by_day: dict[date, list[Appointment]] = {}
        midnight = datetime.combine(today, time.min)
        for planned in seed_plan(today):
            if planned.day not in by_day:
                by_day[planned.day] = await self._day_bookings(tx, planned.day)
            kind = APPOINTMENT_TYPES[planned.appointment_type]
            free = free_starts(
                planned.day,
                kind.duration_min,
                by_day[planned.day],
                midnight,
                doctors=[planned.doctor],
            )
            if minute_of(planned.start) not in {start for start, _ in free}:
                continue  # a caller's booking got there first
            row = await tx.fetchone(
                "INSERT INTO appointments (phone, name, appointment_type, doctor, day, time,"
                " duration_min, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'booked', ?)"
                f" RETURNING {_COLUMNS}",
                (
                    planned.phone,
                    planned.name,
                    kind.name,
                    planned.doctor,
                    *_day_time(planned.day, planned.start),
                    kind.duration_min,
                    _utc_now(),
                ),
            )
            assert row is not None
            appt = Appointment.from_row(row)
            by_day[planned.day].append(appt)
            ids.append(appt.id)
        return ids


def _slot_problem(kind_name: str, day: date, at: time, now: datetime) -> dict[str, Any] | None:
    """Why a start can never be booked (type, closed, past, off hours), else None."""
    kind = APPOINTMENT_TYPES.get(kind_name)
    if kind is None:
        return {"error": "unknown_type"}
    hours = opening_hours(day)
    if hours is None:
        return {"error": "closed", **_next_open(day)}
    if datetime.combine(day, at) < now:
        return {"error": "past"}
    start, (opens, closes) = minute_of(at), (minute_of(t) for t in hours)
    if start % SLOT_MINUTES or start < opens or start + kind.duration_min > closes:
        return {"error": "bad_time"}
    return None


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _day_time(day: date, at: time) -> tuple[str, str]:
    return day.isoformat(), at.strftime("%H:%M")


def _next_open(day: date) -> dict[str, Any]:
    following = next_open_day(day)
    return {"next_open_day": following.isoformat() if following else None}


# -- one calendar per URL and event loop ----------------------------------------------------

_calendars: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Calendar]] = (
    weakref.WeakKeyDictionary()
)
_calendars_lock = threading.Lock()


def get_calendar(db_url: str) -> Calendar:
    """The shared :class:`Calendar` for ``db_url`` in the running event loop.

    Postgres pools belong to one event loop, so calendars are cached per
    (loop, URL); a loop's calendars go away with the loop. Called with no loop
    running, it returns a new, uncached calendar.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return Calendar(db_url)
    with _calendars_lock:
        per_loop = _calendars.setdefault(loop, {})
        calendar = per_loop.get(db_url)
        if calendar is None:
            calendar = per_loop[db_url] = Calendar(db_url)
        return calendar


async def close_calendars() -> None:
    """Close and forget the running loop's calendars (call on shutdown)."""
    loop = asyncio.get_running_loop()
    with _calendars_lock:
        calendars = list(_calendars.pop(loop, {}).values())
    for calendar in calendars:
        await calendar.aclose()
