"""Lookup tools: the caller's upcoming appointments, and clinic facts."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool

from tools._runtime import CallRuntime, call_facts, guarded
from tools._spoken import describe_appointments
from tools.clinic import FACT_TOPICS, clinic_fact, fact_topic

__all__ = ["LOOKUP_TOOLS", "clinic_info", "list_my_appointments"]

_NO_CALLER_ID = (
    "I can't see your phone number on this call, so I can't look up your appointments. "
    "I can transfer you to the front desk."
)
_TOPICS_SPOKEN = "opening hours, our address, parking, insurance, prices, or our doctors"


async def _list_my_appointments(runtime: CallRuntime) -> tuple[str, dict[str, Any]]:
    facts = call_facts(runtime)
    if not facts.caller:
        return _NO_CALLER_ID, {"ok": False, "error": "no_caller_id"}
    calendar = await facts.calendar()
    appointments = await calendar.upcoming(facts.caller, now=facts.now)
    return describe_appointments(appointments, facts.today), {
        "ok": True,
        "appointments": appointments,
    }


@tool(response_format="content_and_artifact")
async def list_my_appointments(runtime: CallRuntime) -> tuple[str, dict[str, Any]]:
    """List the caller's upcoming appointments (found by their caller ID), soonest first.

    Each comes with its appointment number, which cancel_appointment and
    reschedule_appointment need.
    """
    return await guarded("list_my_appointments", _list_my_appointments(runtime))


@tool(response_format="content_and_artifact", parse_docstring=True)
def clinic_info(topic: str) -> tuple[str, dict[str, Any]]:
    """Answer a question about the clinic itself.

    Args:
        topic: One of "hours", "address", "parking", "insurance", "prices", "doctors".
    """
    canonical = fact_topic(topic)
    if canonical is None:
        return (
            f"I can tell you about {_TOPICS_SPOKEN}. What would you like to know?",
            {"ok": False, "error": "unknown_topic", "topic": topic, "topics": list(FACT_TOPICS)},
        )
    text = clinic_fact(canonical)
    return text, {"ok": True, "topic": canonical, "text": text}


LOOKUP_TOOLS = [list_my_appointments, clinic_info]
