"""The Riverside Family Clinic receptionist as a tool-calling agent, for when a chat model is set.

The same tools as the explicit graph (``graph.py``); the model decides the
steps. The model is named by ``DIALGRAPH_MODEL`` (``openai:<model>`` or
``openai-compatible:<base_url>|<model>``, :mod:`graphs.clinic.models`); the
start-up hook stops the service when none is set, since this graph has no
offline way to talk. One run per caller turn on the call's thread::

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
and ``phone``, the clinic's phone settings with this graph's speaking nodes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime

from dialgraph import StartupInfo, is_call_start
from graphs.clinic.context import Context
from graphs.clinic.greeting import greeting, name_on_file
from graphs.clinic.lifecycle import model_spec, open_clinic
from graphs.clinic.models import ModelSpecError, get_chat_model
from graphs.clinic.settings import phone as _phone
from graphs.clinic.state import keep_recent_messages
from memory.store import CallerMemory
from spoken.names import weekday_name
from tools import CLINIC_TOOLS
from tools._runtime import clinic_now

__all__ = ["GRAPH_ID", "SYSTEM_PROMPT", "AgentState", "builder", "graph", "make_builder", "phone"]

GRAPH_ID = "clinic_agent"  # its id in langgraph.json

logger = logging.getLogger("dialgraph.graph")

SYSTEM_PROMPT = """You are the receptionist of Riverside Family Clinic, answering the phone.
Today is {today} ({weekday}).
Caller name: {caller_name}
Caller number: {caller}

You are speaking on a phone line: answer in one or two short, natural sentences.
No lists, no markdown, no emojis; say dates and times in words ("Tuesday the first
of December at three p.m."). The caller's words come from speech recognition and
may be misheard: when a detail matters (day, time, name), confirm it before acting.

You can check availability, book, cancel and reschedule appointments, list the
caller's upcoming appointments, answer questions about the clinic, transfer the
caller to the front desk when they ask for a person or you cannot help, and end
the call when the caller says goodbye. Always confirm a booking, cancellation or
change with the caller before calling the tool. Tools take dates as YYYY-MM-DD
and times as 24-hour HH:MM. Keys the caller presses on the phone arrive as the
digits alone (e.g. "1"); on a yes/no question 1 means yes and 2 means no.

"(call started)" marks the moment the call was answered and "(silence)" a turn
in which the caller said nothing: neither is the caller's words. A message
starting with [event: ...] is a note from the phone system, not the caller's
words. After [event: transfer_failed] the caller was NOT put through
and is still on the line: in one or two short sentences, say you're sorry you
couldn't put them through to the front desk just now and offer to help with
something else. Do not try to transfer again unless the caller asks."""


@dataclass
class AgentInput:
    """What one caller turn brings in."""

    messages: Annotated[list[AnyMessage], keep_recent_messages] = field(default_factory=list)
    """The recent conversation: caller turns, the agent's replies, tool calls and results.

    Bounded to the last ``MESSAGE_WINDOW`` messages (never splitting a tool
    call from its results) so every turn costs the same at turn 200 as at
    turn 1; the whole call is kept in its transcript. An interrupted reply is
    stored as the part the caller actually heard."""


@dataclass
class AgentState(AgentInput):
    """The whole conversation state of a call.

    Call actions (transfer, hang-up) are not kept here: the call-action tools
    answer with a request that lives in ``messages`` (``dialgraph.action_message``)
    and the runtime carries it out after the reply.
    """

    caller_name: str | None = None
    """The caller's name, once known (from memory or given during the call)."""

    greeted: bool = False
    """Whether the greeting turn has run."""


def _memory(runtime: Runtime[Context]) -> CallerMemory | None:
    if runtime.store is None or not runtime.context.caller:
        return None
    return CallerMemory(runtime.store)


async def greet(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
    """Greet the caller, by name if they called before."""
    name = state.caller_name
    memory = _memory(runtime)
    if name is None and memory is not None:
        profile = await memory.get(runtime.context.caller)
        name = (profile or {}).get("name")
    if name is None and runtime.context.caller:
        name = await name_on_file(runtime.context)
    hour = clinic_now(runtime.context.today, runtime.context.timezone).hour
    return {
        "messages": [AIMessage(greeting(name, hour))],
        "caller_name": name,
        "greeted": True,
    }


def make_agent_node(model_for: Callable[[str], BaseChatModel | None]) -> Callable[..., Any]:
    """The ``agent`` node, asking ``model_for(context.model)`` for the next step."""

    async def agent(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
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
        chat = model_for(ctx.model)
        if chat is None:
            raise ModelSpecError(f"the clinic_agent graph needs a chat model, not {ctx.model!r}")
        response = await chat.bind_tools(CLINIC_TOOLS).ainvoke([system, *state.messages])
        return {"messages": [response]}

    return agent


async def remember(state: AgentState, runtime: Runtime[Context]) -> dict[str, Any]:
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


def route_turn(state: AgentState) -> Literal["greet", "agent", "__end__"]:
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


def route_after_agent(state: AgentState) -> Literal["tools", "__end__"]:
    """Run the tools the model asked for, or end the turn with its reply."""
    last = state.messages[-1] if state.messages else None
    if not isinstance(last, AIMessage):
        raise ValueError(f"expected the model's reply after 'agent', got {type(last).__name__}")
    return "tools" if last.tool_calls else "__end__"


def make_builder(
    model_for: Callable[[str], BaseChatModel | None] = get_chat_model,
) -> StateGraph[AgentState, Context, AgentInput, AgentState]:
    """The agent graph, uncompiled; ``model_for`` maps ``Context.model`` to a chat model."""
    graph_builder = StateGraph(AgentState, input_schema=AgentInput, context_schema=Context)
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


async def open_clinic_agent(startup: StartupInfo) -> None:
    """The clinic's start-up, and a chat model must be set: this graph cannot talk without one.

    Raises:
        ModelSpecError: ``DIALGRAPH_MODEL`` is unset, ``local``, or not one of the documented forms.
    """
    if model_spec() == "local":
        raise ModelSpecError(
            "the clinic_agent graph needs a chat model: set DIALGRAPH_MODEL to "
            "'openai:<model>' or 'openai-compatible:<base_url>|<model>' "
            "(or use the graph 'clinic', which needs none)"
        )
    await open_clinic(startup)


phone = dataclasses.replace(
    _phone, spoken_nodes=frozenset({"greet", "agent"}), on_startup=open_clinic_agent
)
"""The clinic's phone settings, speaking from this graph's nodes."""
