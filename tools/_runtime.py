"""What the tools read from the LangGraph run: the call's context, thread and clock.

Tools never import the graph package (``graphs -> tools``, not the other
way), so the context is read structurally: any object with the attributes of
``graphs.clinic.context.Context`` (or a mapping, or nothing at all, as in
a bare ``ToolNode`` test) works, with the contract's defaults filling gaps.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langgraph.prebuilt import ToolRuntime

from tools.calendar import Calendar, get_calendar

__all__ = [
    "DEFAULT_DB_URL",
    "DEFAULT_TIMEZONE",
    "UNAVAILABLE",
    "CallFacts",
    "CallRuntime",
    "call_facts",
    "clinic_now",
    "guarded",
    "idempotency_key",
]

logger = logging.getLogger(__name__)

DEFAULT_DB_URL = "sqlite:///var/dialgraph.db"
DEFAULT_TIMEZONE = "America/New_York"  # the clinic's
UNAVAILABLE = (
    "I'm sorry, I can't reach the appointment book right now. "
    "I can transfer you to the front desk if you like."
)


# What tools declare as their injected ``runtime`` parameter. Parametrised with
# ``Any``: the bare ``ToolRuntime`` defaults its context type to None, which
# makes pydantic warn on every call that the context "should be None".
CallRuntime = ToolRuntime[Any, Any]


def _value(context: Any, name: str, default: str) -> str:
    if context is None:
        return default
    if isinstance(context, Mapping):
        value = context.get(name, default)
    else:
        value = getattr(context, name, default)
    return str(value) if value else default


def clinic_now(today: str = "", timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """The clinic's local wall-clock time (naive).

    Args:
        today: "" for the real clock; ``YYYY-MM-DD`` pins the date (at 00:00, so
            the whole day is bookable); ``YYYY-MM-DDTHH:MM`` pins date and time.
        timezone: IANA zone of the clinic, used for the real clock.
    """
    if today:
        if len(today) == len("YYYY-MM-DD"):
            return datetime.combine(date.fromisoformat(today), time.min)
        pinned = datetime.fromisoformat(today)
        if pinned.tzinfo is not None:
            pinned = pinned.astimezone(_zone(timezone)).replace(tzinfo=None)
        return pinned
    return datetime.now(_zone(timezone)).replace(tzinfo=None)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r; using the machine's local time", name)
        return None


def idempotency_key(thread_id: str, tool_call_id: str) -> str:
    """The key a side-effect tool call commits under: ``"{thread_id}:{tool_call_id}"``."""
    return f"{thread_id}:{tool_call_id}"


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What one tool call needs from its run."""

    caller: str
    db_url: str
    now: datetime
    key: str

    @property
    def today(self) -> date:
        """The clinic's current date."""
        return self.now.date()

    async def calendar(self) -> Calendar:
        """The shared calendar, seeded with the demo data for today (idempotent)."""
        calendar = get_calendar(self.db_url)
        await calendar.seed(self.today)
        return calendar


def call_facts(runtime: CallRuntime | None) -> CallFacts:
    """Read caller, database, clock and idempotency key from an injected ``ToolRuntime``.

    The thread id comes from ``config["configurable"]["thread_id"]`` (falling
    back to the context's ``call_sid``); without a tool call id (a direct
    ``.ainvoke`` with plain arguments) the key is random, i.e. not idempotent.
    """
    context = getattr(runtime, "context", None)
    config = getattr(runtime, "config", None) or {}
    configurable = config.get("configurable") or {}
    thread_id = str(configurable.get("thread_id") or _value(context, "call_sid", "no-thread"))
    tool_call_id = getattr(runtime, "tool_call_id", None) or f"direct-{uuid.uuid4().hex}"
    return CallFacts(
        caller=_value(context, "caller", "").strip(),
        db_url=_value(context, "db_url", DEFAULT_DB_URL),
        now=clinic_now(_value(context, "today", ""), _value(context, "timezone", DEFAULT_TIMEZONE)),
        key=idempotency_key(thread_id, tool_call_id),
    )


async def guarded(
    tool: str, work: Awaitable[tuple[str, dict[str, Any]]]
) -> tuple[str, dict[str, Any]]:
    """Run a tool's work; any failure becomes a polite sentence, never dead air.

    Cancellation still propagates (it is not an ``Exception``).
    """
    try:
        return await work
    except Exception:
        # No arguments in the log line: they hold names and phone numbers.
        logger.exception("tool %s failed", tool)
        return UNAVAILABLE, {"ok": False, "error": "unavailable"}
