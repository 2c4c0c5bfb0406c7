"""Per-call fixed data, read by nodes and tools through LangGraph's runtime.

Everything here is known when the call starts and never changes during it,
so it lives in the run's context, not in the checkpointed state.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

__all__ = ["Context"]


def _default_db_url() -> str:
    # The same database as the service, also for runs Studio starts without a context.
    return os.environ.get("DIALGRAPH_DATABASE_URL") or "sqlite:///var/dialgraph.db"


@dataclass(frozen=True, slots=True)
class Context:
    """The call's fixed facts and the engines it uses.

    Attributes:
        call_sid: Twilio's CallSid ("" outside a call, e.g. in Studio).
        caller: The caller's number in E.164 (caller ID), "" if withheld.
        model: Chat model: ``local`` (none: the offline rules alone),
            ``openai:<model>``, or ``openai-compatible:<base_url>|<model>``.
        db_url: Database of the calendar and caller memory
            (``sqlite:///path`` or ``postgresql://...``).
        today: ISO date (or date and time, ``YYYY-MM-DDTHH:MM``, to pin the
            clock too) to treat as now; "" = the real date. Tests inject it.
        timezone: The clinic's time zone (IANA name).
    """

    call_sid: str = ""
    caller: str = ""
    model: str = "local"
    db_url: str = field(default_factory=_default_db_url)
    today: str = ""
    timezone: str = "America/New_York"

    def today_date(self) -> dt.date:
        """``today`` as a date (the real date in the clinic's zone if unset)."""
        if self.today:
            return dt.datetime.fromisoformat(self.today).date()
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo(self.timezone)).date()
