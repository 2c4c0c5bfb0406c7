"""LangGraph tools for the demo clinic: booking, lookup, call control.

``CLINIC_TOOLS`` goes to ``ToolNode`` and ``model.bind_tools``; the tools read
the caller, database and date from the run's context (``ToolRuntime``), and
the thread id from its config. Booking, cancelling and rescheduling are
marked :func:`dialgraph.side_effect`, so the runtime lets them finish when the
caller barges in and never repeats one (its ledger); the calendar keeps its
own idempotency underneath. Transfer and hang-up answer with the runtime's
call-action requests (:mod:`tools.transfer`).
"""

from langchain_core.tools import BaseTool

from tools.booking import BOOKING_TOOLS
from tools.lookup import LOOKUP_TOOLS
from tools.transfer import CALL_CONTROL_TOOLS

__all__ = ["CLINIC_TOOLS"]

CLINIC_TOOLS: list[BaseTool] = [*BOOKING_TOOLS, *LOOKUP_TOOLS, *CALL_CONTROL_TOOLS]
