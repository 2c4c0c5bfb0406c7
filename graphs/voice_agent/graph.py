"""The Riverside Family Clinic receptionist, as an explicit LangGraph.

One run per caller turn on the call's thread::

    START --route_turn--> greet ------------------------------> END
                     \\--> agent --route_after_agent--> tools --> remember --> agent
                                                   \\--> END

- ``greet`` answers the call-start turn (``dialgraph.is_call_start``): it
  greets a returning caller by name (from long-term memory keyed by phone
  number, or the name on their appointments).
- ``agent`` calls the chat model with the clinic tools bound.
- ``tools`` runs the tool calls (``ToolNode``); tool errors come back as
  messages the model can speak, never as exceptions. Transfer and hang-up
  answer with the runtime's call-action requests; booking, cancelling and
  rescheduling are side effects the runtime never cuts or repeats.
- ``remember`` stores what is worth keeping across calls (the caller's name
  and last booking) after a successful booking.

Exports ``builder`` (for tests, compiled with a checkpointer and store),
``graph`` (for LangGraph Studio / ``langgraph dev`` and the phone service)
and ``phone``, the clinic's phone settings (``dialgraph.PhoneSettings``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, Literal
from zoneinfo import ZoneInfo

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from dialgraph import PhoneSettings, Redaction, SpeechHints, is_call_start
from graphs.voice_agent import vocabulary
from graphs.voice_agent.context import Context
from graphs.voice_agent.lifecycle import call_context, open_clinic, remember_visit
from graphs.voice_agent.models import get_chat_model
from graphs.voice_agent.prompts import SYSTEM_PROMPT, greeting
from graphs.voice_agent.state import InputState, State
from memory.store import CallerMemory
from spoken.names import weekday_name
from tools import CLINIC_TOOLS
from tools._runtime import DEFAULT_TIMEZONE, clinic_now
from tools.calendar import get_calendar
from tools.clinic import CLINIC_NAME, FRONT_DESK
from tools.transfer import FRONT_DESK_DESTINATION

__all__ = ["GRAPH_ID", "builder", "graph", "make_builder", "phone"]

GRAPH_ID = "clinic"  # its id in langgraph.json

logger = logging.getLogger("dialgraph.graph")


def _memory(runtime: Runtime[Context]) -> CallerMemory | None:
    if runtime.store is None or not runtime.context.caller:
        return None
    return CallerMemory(runtime.store)


async def _name_on_file(ctx: Context) -> str | None:
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


async def greet(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Greet the caller, by name if they called before."""
    name = state.caller_name
    memory = _memory(runtime)
    if name is None and memory is not None:
        profile = await memory.get(runtime.context.caller)
        name = (profile or {}).get("name")
    if name is None and runtime.context.caller:
        name = await _name_on_file(runtime.context)
    hour = dt.datetime.now(ZoneInfo(runtime.context.timezone)).hour
    return {
        "messages": [AIMessage(greeting(name, hour))],
        "caller_name": name,
        "greeted": True,
    }


def make_agent_node(model_for: Callable[[str], BaseChatModel]) -> Callable[..., Any]:
    """The ``agent`` node, asking ``model_for(context.model)`` for the next step."""

    async def agent(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
        """Ask the model for the next reply or tool calls."""
        ctx = runtime.context
        today = ctx.today_date()
        system = SystemMessage(
            SYSTEM_PROMPT.format(
                today=today.isoformat(),
                weekday=weekday_name(today),  # English whatever the server's locale
                caller_name=state.caller_name or "unknown",
                caller=ctx.caller or "withheld",
            )
        )
        model = model_for(ctx.model).bind_tools(CLINIC_TOOLS)
        response = await model.ainvoke([system, *state.messages])
        return {"messages": [response]}

    return agent


async def remember(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Keep the caller's name (and last booking) after a successful booking."""
    update: dict[str, Any] = {}
    for message in reversed(state.messages):
        if not isinstance(message, ToolMessage):
            break
        artifact = message.artifact if isinstance(message.artifact, dict) else {}
        appointment = artifact.get("appointment") if artifact.get("ok") else None
        if message.name == "book_appointment" and appointment:
            update["caller_name"] = appointment.get("name") or state.caller_name
            memory = _memory(runtime)
            if memory is not None:
                await memory.remember(
                    runtime.context.caller,
                    name=update["caller_name"],
                    last_booking=appointment,
                )
    return update


def route_turn(state: State) -> Literal["greet", "agent", "__end__"]:
    """Greet at call start; answer a caller turn; otherwise nothing to do.

    A run with no input (started by hand in Studio) greets once too.
    """
    if is_call_start(state.messages):
        return "greet"
    if state.messages and isinstance(state.messages[-1], HumanMessage):
        return "agent"
    if not state.greeted:
        return "greet"
    return "__end__"


def route_after_agent(state: State) -> Literal["tools", "__end__"]:
    """Run the tools the model asked for, or end the turn with its reply."""
    last = state.messages[-1] if state.messages else None
    if not isinstance(last, AIMessage):
        raise ValueError(f"expected the model's reply after 'agent', got {type(last).__name__}")
    return "tools" if last.tool_calls else "__end__"


def make_builder(
    model_for: Callable[[str], BaseChatModel] = get_chat_model,
) -> StateGraph[State, Context, InputState, State]:
    """The clinic graph, uncompiled; ``model_for`` maps ``Context.model`` to a chat model."""
    graph_builder = StateGraph(State, input_schema=InputState, context_schema=Context)
    graph_builder.add_node("greet", greet)
    graph_builder.add_node("agent", make_agent_node(model_for))
    graph_builder.add_node("tools", ToolNode(CLINIC_TOOLS, handle_tool_errors=True))
    graph_builder.add_node("remember", remember)
    graph_builder.add_conditional_edges(START, route_turn)
    graph_builder.add_edge("greet", END)
    graph_builder.add_conditional_edges("agent", route_after_agent)
    graph_builder.add_edge("tools", "remember")
    graph_builder.add_edge("remember", "agent")
    return graph_builder


builder = make_builder()
graph = builder.compile(name=GRAPH_ID)

phone = PhoneSettings(
    name=CLINIC_NAME,
    # The greet node greets; this is said only if the graph says nothing at call start.
    greeting=f"Thank you for calling {CLINIC_NAME}. How can I help you today?",
    voicemail_message=f"Hello, this is {CLINIC_NAME}. Please call us back. Goodbye.",
    timezone=DEFAULT_TIMEZONE,
    spoken_nodes=frozenset({"greet", "agent"}),
    transfer_targets={FRONT_DESK_DESTINATION: FRONT_DESK},
    speech=SpeechHints(
        phrases=tuple(vocabulary.corpus()),
        words=tuple(sorted(vocabulary.words())),
        # Rare words the cloud recogniser should favour (vendors warn against long lists).
        keyterms=(
            CLINIC_NAME,
            "checkup",
            "consultation",
            "vaccination",
            "Dr. Patel",
            "Dr. Nguyen",
            "reschedule",
        ),
    ),
    redaction=Redaction(allow_list=("Patel", "Nguyen", "Riverside", CLINIC_NAME)),
    context=call_context,
    on_startup=open_clinic,
    on_call_end=remember_visit,
)
"""The clinic's phone settings, found by the loader next to ``graph``."""
