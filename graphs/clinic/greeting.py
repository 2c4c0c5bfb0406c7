"""How the clinic greets a caller: by the clinic's clock, by name when it knows it.

The name comes from long-term memory (a caller who booked before) or, for a
caller whose number is on an upcoming appointment booked by another channel,
from that appointment (:func:`name_on_file`).
"""

from __future__ import annotations

import logging

from graphs.clinic.context import Context
from tools._runtime import clinic_now
from tools.calendar import get_calendar
from tools.clinic import CLINIC_NAME

__all__ = ["greeting", "name_on_file"]

logger = logging.getLogger("dialgraph.graph")


def greeting(caller_name: str | None, hour: int) -> str:
    """The first thing the caller hears, ``hour`` being the clinic's local hour."""
    part = "Good morning" if hour < 12 else "Good afternoon" if hour < 18 else "Good evening"
    if caller_name:
        first = caller_name.split()[0]
        return f"{part}, {first}, welcome back to {CLINIC_NAME}. How can I help you today?"
    return f"{part}, thank you for calling {CLINIC_NAME}. How can I help you today?"


async def name_on_file(ctx: Context) -> str | None:
    """The name on the caller's upcoming appointments, if any (a patient who
    booked by another channel is still greeted by name)."""
    try:
        booked = await get_calendar(ctx.db_url).upcoming(
            ctx.caller, now=clinic_now(ctx.today, ctx.timezone)
        )
    except Exception:  # the greeting must never fail on a lookup
        logger.warning("could not look up the caller's appointments for the greeting")
        return None
    return booked[0].get("name") if booked else None
