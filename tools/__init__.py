"""LangGraph tools for the demo clinic: booking, lookup, call control.

``CLINIC_TOOLS`` goes to ``ToolNode`` and ``model.bind_tools``; the tools read
the caller, database and date from the run's context (``ToolRuntime``), and
the thread id from its config. ``SIDE_EFFECT_TOOLS`` names the calls a runner
must let finish (or recover with :func:`tools.booking.completed_tool_message`)
rather than cut short.
"""

from langchain_core.tools import BaseTool

from tools.booking import BOOKING_TOOLS, completed_effect, completed_tool_message, idempotency_key
from tools.lookup import LOOKUP_TOOLS
from tools.transfer import CALL_TOOLS

__all__ = [
    "CLINIC_TOOLS",
    "SIDE_EFFECT_TOOLS",
    "completed_effect",
    "completed_tool_message",
    "idempotency_key",
]

CLINIC_TOOLS: list[BaseTool] = [*BOOKING_TOOLS, *LOOKUP_TOOLS, *CALL_TOOLS]
SIDE_EFFECT_TOOLS: frozenset[str] = frozenset(
    {"book_appointment", "cancel_appointment", "reschedule_appointment"}
)
