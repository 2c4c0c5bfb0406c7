"""Per-call fixed data of the helpdesk, read by its tools through LangGraph's runtime.

The call facts (CallSid, caller, today) reach nodes and tools through
``dialgraph.call_facts``; what the flow adds is where its data lives. On the
phone, :func:`helpdesk_context` (the flow's ``PhoneSettings.context``) fills
it from the service's start-up info, so the tools use the same database as
the checkpoints; Studio runs without a context get the same default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dialgraph import CallFacts, StartupInfo
from tools.helpdesk import default_database_url

__all__ = ["HelpdeskContext", "helpdesk_context"]


@dataclass(frozen=True, slots=True)
class HelpdeskContext:
    """The helpdesk's run context (the graph's ``context_schema``).

    Attributes:
        database_url: Where the outages and tickets are (``sqlite:///...`` or
            ``postgresql://...``): the service's database.
    """

    database_url: str = field(default_factory=default_database_url)


def helpdesk_context(facts: CallFacts, startup: StartupInfo) -> HelpdeskContext:
    """The context of one call: the service's database (``PhoneSettings.context``)."""
    return HelpdeskContext(database_url=startup.database_url)
