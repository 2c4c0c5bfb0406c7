"""The Northwind Broadband helpdesk, as an explicit LangGraph (no chat model by default).

One run per caller turn on the call's thread::

    START -route_start-+-> greet ------------------------------------------------> END
                       +-> understand -route_request-+-> outage ---------+
                                                     +-> ticket_lookup --+
                                                     |   route_after_lookup: tools, END (a
                                                     |   value read back, wait for the yes),
                                                     |   or transfer / goodbye / offer_person
                                                     +-> describe_problem
                                                     |   route_after_describing: END (wait
                                                     |   for the yes), or transfer / goodbye /
                                                     |   offer_person
                                                     +-> file_ticket | transfer | goodbye --> tools
                                                     +-> declined | reprompt | offer_person
                                                     |   | transfer_failed ------------> END
                                                     +-> END (a line event it does not know)
    tools -route_after_tools-+-> report --> END
                             +-> END (a transfer or a hang-up: the runtime carries it out)

- ``understand`` reads the caller's turn through Dialgraph's understanding
  step (``await understander.understand(turn, expecting=..., today=...)``):
  the helpdesk's offline rules (:data:`graphs.helpdesk.meaning.RULES`), or,
  when ``DIALGRAPH_HELPDESK_MODEL`` names a chat model, the rules first and
  the model for the turns they are unsure of
  (:mod:`graphs.helpdesk.understander`). It writes what the turn asks for
  (``request``) and what it was heard as (``heard``, with confidences); a
  yes or a no answers the question the last reply left ``pending``.
- ``outage``, ``ticket_lookup`` and ``describe_problem`` get their value from
  the turn or ask for it with ``dialgraph.ask`` (the run waits at an
  ``interrupt()``; ZIP codes and ticket numbers may be said or keyed, and
  are read by the same rules). Two tries, then the caller is offered a person.
- A ZIP code or ticket number heard less sure than :data:`CONFIRM_BELOW`
  (a poor recogniser's confidence, only in the recogniser's other reading,
  or read by the model) is read back ("Was that zip code 5 5 1 0 4?") and
  waits in ``unconfirmed``: a yes uses it, a no asks for it again. It is
  never used before.
- Everything that reads or writes the helpdesk's systems, and the call
  actions, are tool calls: a node writes an ``AIMessage`` with the call and
  the ``ToolNode`` runs it. So a ticket opens through the same
  ``side_effect`` tool as in the model-driven variant (never twice, never
  cut by a barge-in), each ``ToolMessage`` answers a tool call in the
  history (as chat models and Studio expect), and transfers and hang-ups
  are requests in the checkpoint that the runtime reads after the reply.
- A new ticket is read back and opened only after a yes.

Exports ``builder`` (tests and the phone service compile it with their
checkpointer), ``graph`` (compiled without one, for Studio / ``langgraph
dev``) and ``phone`` (the flow's phone settings; its start-up hook builds the
understander, so a wrong ``DIALGRAPH_HELPDESK_MODEL`` stops the service).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

from langchain_core.messages import AIMessage, ToolCall, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode

from dialgraph import (
    CallerTurn,
    Expect,
    Slot,
    StartupInfo,
    Understanding,
    ask,
    call_facts,
    expect,
    hang_up,
    is_call_start,
    last_caller_turn,
    requested_actions,
    transfer_call,
)
from graphs.helpdesk import replies
from graphs.helpdesk.context import HelpdeskContext
from graphs.helpdesk.intents import Intent, asks_instead
from graphs.helpdesk.meaning import RULES
from graphs.helpdesk.settings import phone as _phone
from graphs.helpdesk.settings import prepare
from graphs.helpdesk.state import (
    HeardValue,
    InputState,
    Pending,
    Request,
    Stage,
    State,
    ValueSlot,
)
from graphs.helpdesk.understander import check_setting, understander
from tools.helpdesk import HELPDESK_TOOLS, TICKET_DIGITS, ZIP_DIGITS

__all__ = ["CONFIRM_BELOW", "builder", "graph", "phone"]

ASK_TRIES = 2  # a value asked for twice without an answer: offer a person instead
MISSES_BEFORE_OFFER = 2  # turns in a row not understood (or silent) before a person is offered
MISSES_BEFORE_HANGUP = 4  # ... before the caller is taken to be gone
TRANSFER_FAILED = "transfer_failed"  # the line event after a transfer that did not go through
CONFIRM_BELOW = 0.95
"""A ZIP code or ticket number heard less sure than this is read back, and used only
after a yes (a no asks for it again). The rules read digits ``EXACT`` (1.0), scaled
by the recogniser's confidence, and a value only the recogniser's other readings
hold is trusted ``0.9`` per rank less; so a value is used as heard only when the
best reading holds it and the recogniser was at least 95 % sure of it (typed text,
keys, and a recogniser that gives no confidence count as sure). Everything else,
and any value a chat model read, is confirmed: a wrong ZIP code or ticket number
gives a caller a confident wrong answer they cannot notice."""

_YES_TO: dict[Pending, Request] = {
    "open_ticket": "open_ticket",
    "offer_ticket": "new_ticket",
    "transfer": "person",
}
_Step = Literal[
    "outage",
    "ticket_lookup",
    "describe_problem",
    "file_ticket",
    "transfer",
    "goodbye",
    "declined",
    "transfer_failed",
]
_REQUEST_OF: dict[str, Request] = {
    Intent.PERSON.value: "person",
    Intent.GOODBYE.value: "goodbye",
    Intent.NEW_TICKET.value: "new_ticket",
    Intent.TICKET_STATUS.value: "ticket_status",
    Intent.OUTAGE.value: "outage",
}
_VALUE_SLOTS: tuple[ValueSlot, ...] = ("zip_code", "ticket_number")
_STEP_OF: dict[ValueSlot, Request] = {"zip_code": "outage", "ticket_number": "ticket_status"}
"""The request a value is for: heard unsure, it is read back only when the turn asks
for that now (a ZIP code in "open a ticket, zip five five one oh four" is dropped)."""
_NODE_FOR: dict[Request, _Step] = {
    "outage": "outage",
    "ticket_status": "ticket_lookup",
    "new_ticket": "describe_problem",
    "open_ticket": "file_ticket",
    "person": "transfer",
    "goodbye": "goodbye",
    "declined": "declined",
    "transfer_failed": "transfer_failed",
}


def _tool_call(name: str, **args: str) -> ToolCall:
    # A fresh id per call: once the node's message is checkpointed the id is
    # fixed, which is what makes a re-run of the tool idempotent.
    return ToolCall(name=name, args=args, id=f"call_{uuid.uuid4().hex[:24]}", type="tool_call")


def _say(text: str, *, expecting: Mapping[str, Any] | None = None) -> list[AIMessage]:
    if expecting is not None:
        expect(expecting)
    return [AIMessage(text)]


def _expected(state: State) -> Mapping[str, Any] | None:
    """What the last reply's question expects, for the understanding step: a yes or
    a no when it left one open (every reply that sets ``pending`` says
    ``Expect.yes_no()``), else nothing in particular (a menu: "How can I help?")."""
    return Expect.yes_no() if state.pending is not None else None


def _resolve(heard: Understanding, state: State) -> Request | None:
    """What a turn asks for, given the question the last reply left open."""
    if heard.intent in (Intent.PERSON, Intent.GOODBYE):  # these win over any question
        return _REQUEST_OF[heard.intent]
    if state.pending == "confirm_value":
        value = state.unconfirmed
        step = _STEP_OF[value["slot"]] if value is not None else None
        answered = value is not None and (heard.answer or heard.slot(value["slot"]))
        if answered and (heard.intent is None or _REQUEST_OF.get(heard.intent) == step):
            return step  # yes: use it; no: ask for it again; another value: that one
    elif state.pending is not None and heard.answer == "yes":
        return _YES_TO[state.pending]
    elif state.pending is not None and heard.answer == "no":
        return "declined"
    if heard.intent is not None:
        return _REQUEST_OF.get(heard.intent)
    if heard.answer == "no":  # "no" to "anything else?"
        return "goodbye"
    return None


def _heard_value(slot: ValueSlot, found: Slot) -> HeardValue:
    return HeardValue(
        slot=slot, value=str(found.value), confidence=found.confidence, heard=found.heard
    )


def _read_back(value: HeardValue, stage: Stage) -> dict[str, Any]:
    """Read a value heard unsure back for a yes; the next turn answers it."""
    text = replies.confirm_value(value["slot"], value["value"])
    return {
        "messages": _say(text, expecting=Expect.yes_no()),
        "unconfirmed": value,
        "pending": "confirm_value",
        "stage": stage,
    }


def _collect(
    question: str,
    again: str,
    read: Callable[[CallerTurn], Slot | None],
    spec: Mapping[str, Any],
) -> tuple[Slot | None, Request | None]:
    """Ask for a value (twice at most): ``(value, None)``, ``(None, "person" or
    "goodbye")`` when the caller asked for that instead, or ``(None, None)``.

    Each ``ask`` is an ``interrupt()``: this node re-runs from the top when
    the caller answers, with the earlier answers replayed in order. So ``read``
    must give the same value for the same turn every time: the answers are read
    by the rules, never by a chat model, whose reading of a replayed answer
    could differ from the first and pair the caller's later answers with the
    wrong questions.
    """
    prompt = question
    for _ in range(ASK_TRIES):
        turn = ask(prompt, spec)
        if escape := asks_instead(turn):
            return None, escape.value
        if (found := read(turn)) is not None:
            return found, None
        prompt = again
    return None, None


def _value_in(slot: ValueSlot, spec: Mapping[str, Any]) -> Callable[[CallerTurn], Slot | None]:
    """Reads the answer to a question for ``slot`` through the understanding step's
    rules (told what was asked, so only a turn that is the number counts), with the
    recogniser's confidence and other readings behind its confidence."""

    def read(turn: CallerTurn) -> Slot | None:
        return RULES.read(turn, expecting=spec).slot(slot)

    return read


def _gave_up(escape: Request | None) -> dict[str, Any]:
    """A value was not given: hand over to ``transfer``/``goodbye``, or offer a person."""
    return {
        "request": escape,
        "misses": 0 if escape else MISSES_BEFORE_OFFER,
        "stage": "menu",
        "pending": None,
    }


def _fault_in(turn: CallerTurn) -> Slot | None:
    """The fault in the caller's own words (spoken only; keys describe nothing)."""
    if turn["source"] != "speech" or not (words := " ".join(turn["text"].split()).rstrip(".!?")):
        return None
    return Slot(words, heard=words)


# -- nodes ---------------------------------------------------------------------------
def greet(state: State) -> dict[str, Any]:
    """Answer the call: who we are and what we can do."""
    return {"messages": _say(replies.GREETING), "stage": "menu", "misses": 0, "pending": None}


async def understand_turn(state: State) -> dict[str, Any]:
    """Read the caller's turn through the understanding step: what it asks for, and
    any ZIP code, ticket number or fault, each with a confidence.

    A yes or a no answers the question the last reply left ``pending``; to a
    value read back (``confirm_value``) a yes uses it and a no asks for it
    again. A ZIP code or ticket number heard less sure than
    :data:`CONFIRM_BELOW` is never stored as the caller's: it waits in
    ``unconfirmed`` to be read back when the turn asks for its look-up, and
    is dropped otherwise.
    """
    turn = last_caller_turn(state.messages)
    if turn is not None and turn["source"] == "event":
        event = turn["text"] if turn["text"] == TRANSFER_FAILED else ""
        return {"request": event or None, "misses": state.misses, "heard": None}
    heard = Understanding()
    if turn is not None:
        heard = await understander().understand(
            turn, expecting=_expected(state), today=call_facts().local_date()
        )
    request = _resolve(heard, state)
    update: dict[str, Any] = {"request": request, "heard": heard.as_dict()}
    read_back = state.unconfirmed if state.pending == "confirm_value" else None
    refused = False
    if read_back is not None and request == _STEP_OF[read_back["slot"]]:
        if heard.answer == "yes":
            update[read_back["slot"]] = read_back["value"]
        elif heard.answer == "no":  # the step asks again ("Sorry about that...")
            update[read_back["slot"]] = ""
            refused = True
    if request is None:
        update["misses"] = state.misses + 1  # the open question, if any, stays open
    else:
        update["misses"] = 0
        update["unconfirmed"] = None
        if request != "declined" and not refused:  # these read what was said no to
            update["pending"] = None
    for name in _VALUE_SLOTS:
        if (found := heard.slot(name)) is None:
            continue
        if found.confidence >= CONFIRM_BELOW:
            update[name] = str(found.value)
        elif request == _STEP_OF[name]:
            update["unconfirmed"] = _heard_value(name, found)
    if problem := heard.value("problem"):
        update["description"] = str(problem)
    return update


def outage(state: State) -> dict[str, Any]:
    """Check for an outage at the caller's ZIP code: asked for if not given yet, and
    read back first when it was heard unsure."""
    if state.unconfirmed is not None and state.unconfirmed["slot"] == "zip_code":
        return _read_back(state.unconfirmed, "outage")
    zip_code = state.zip_code
    if not zip_code:
        spec = Expect.digits(ZIP_DIGITS, hints=["my zip code is"])
        refused = state.pending == "confirm_value"  # a no to the ZIP code read back
        question = replies.ASK_ZIP_REHEARD if refused else replies.ASK_ZIP
        found, escape = _collect(question, replies.ASK_ZIP_AGAIN, _value_in("zip_code", spec), spec)
        if found is None:
            return _gave_up(escape)
        if found.confidence < CONFIRM_BELOW:
            return _read_back(_heard_value("zip_code", found), "outage")
        zip_code = str(found.value)
    call = _tool_call("check_outage", zip_code=zip_code)
    return {
        "messages": [AIMessage("", tool_calls=[call])],
        "zip_code": zip_code,
        "stage": "outage",
        "pending": None,
    }


def ticket_lookup(state: State) -> dict[str, Any]:
    """Read a ticket's status: its number asked for (said or keyed) if not given yet,
    and read back first when it was heard unsure."""
    if state.unconfirmed is not None and state.unconfirmed["slot"] == "ticket_number":
        return _read_back(state.unconfirmed, "ticket_status")
    number = state.ticket_number
    if not number:
        spec = Expect.digits(TICKET_DIGITS, hints=["my ticket number is"])
        refused = state.pending == "confirm_value"  # a no to the number read back
        question = replies.ASK_TICKET_REHEARD if refused else replies.ASK_TICKET
        found, escape = _collect(
            question, replies.ASK_TICKET_AGAIN, _value_in("ticket_number", spec), spec
        )
        if found is None:
            return _gave_up(escape)
        if found.confidence < CONFIRM_BELOW:
            return _read_back(_heard_value("ticket_number", found), "ticket_status")
        number = str(found.value)
    call = _tool_call("ticket_status", ticket_number=number)
    return {
        "messages": [AIMessage("", tool_calls=[call])],
        "ticket_number": number,
        "stage": "ticket_status",
        "pending": None,
    }


def describe_problem(state: State) -> dict[str, Any]:
    """Get the fault in the caller's words and read the ticket back for a yes."""
    description = state.description
    if not description:
        found, escape = _collect(
            replies.ASK_PROBLEM, replies.ASK_PROBLEM_AGAIN, _fault_in, Expect.text()
        )
        if found is None:
            return _gave_up(escape)
        description = str(found.value)
    return {
        "messages": _say(replies.read_back(description), expecting=Expect.yes_no()),
        "description": description,
        "pending": "open_ticket",
        "stage": "new_ticket",
    }


def file_ticket(state: State) -> dict[str, Any]:
    """The caller said yes: open the ticket that was read back."""
    call = _tool_call("open_ticket", summary=state.description, zip_code=state.zip_code)
    return {"messages": [AIMessage("", tool_calls=[call])], "stage": "new_ticket"}


def transfer(state: State) -> dict[str, Any]:
    """Put the call through to the support team (after these words)."""
    call = _tool_call("transfer_call", reason="caller asked for a person", destination="support")
    return {
        "messages": [AIMessage(replies.TRANSFER, tool_calls=[call])],
        "stage": "transferring",
        "pending": None,
    }


def goodbye(state: State) -> dict[str, Any]:
    """Say goodbye and hang up (also when the caller has stayed silent too long)."""
    gone = state.request is None
    words = replies.GONE if gone else replies.GOODBYE
    call = _tool_call("hang_up", reason="caller silent" if gone else "caller said goodbye")
    return {"messages": [AIMessage(words, tool_calls=[call])], "stage": "ended", "pending": None}


def declined(state: State) -> dict[str, Any]:
    """The caller said no to the open question."""
    update: dict[str, Any] = {"pending": None, "stage": "menu"}
    if state.pending == "open_ticket":
        return {**update, "messages": _say(replies.NOT_OPENED), "description": ""}
    return {**update, "messages": _say(replies.DECLINED)}


def reprompt(state: State) -> dict[str, Any]:
    """Not understood (or silence): ask again, the open question if there is one."""
    turn = last_caller_turn(state.messages)
    if state.pending == "confirm_value" and state.unconfirmed is not None:
        value = state.unconfirmed
        text = replies.confirm_value_again(value["slot"], value["value"])
        return {"messages": _say(text, expecting=Expect.yes_no())}
    if state.pending in replies.PENDING_QUESTIONS:
        text = f"Sorry, I didn't catch that. {replies.PENDING_QUESTIONS[state.pending]}"
        return {"messages": _say(text, expecting=Expect.yes_no())}
    silent = turn is not None and turn["source"] == "silence"
    return {"messages": _say(replies.REPROMPT_SILENCE if silent else replies.REPROMPT)}


def offer_person(state: State) -> dict[str, Any]:
    """Two turns in a row not understood: offer to put the caller through."""
    return {
        "messages": _say(replies.OFFER_PERSON, expecting=Expect.yes_no()),
        "pending": "transfer",
        "unconfirmed": None,  # a value read back and not answered is dropped
        "stage": "menu",
    }


def transfer_failed(state: State) -> dict[str, Any]:
    """The transfer did not go through: the caller is still here; offer a ticket."""
    return {
        "messages": _say(replies.TRANSFER_FAILED, expecting=Expect.yes_no()),
        "pending": "offer_ticket",
        "stage": "menu",
    }


def report(state: State) -> dict[str, Any]:
    """Say what the tool found, and what the caller can do next."""
    result = state.messages[-1]
    if not isinstance(result, ToolMessage):
        raise ValueError(f"report runs after the tools, not after a {type(result).__name__}")
    said = result.content if isinstance(result.content, str) else str(result.content)
    found = result.artifact if isinstance(result.artifact, Mapping) else {}
    update: dict[str, Any] = {"stage": "menu"}
    if found.get("error") == "unavailable":  # the sentence offers a person already
        update["pending"] = "transfer"
        update["messages"] = _say(said, expecting=Expect.yes_no())
    elif result.name == "check_outage" and found.get("ok") and found.get("outage") != "active":
        update["pending"] = "offer_ticket"
        update["messages"] = _say(f"{said} {replies.OFFER_TICKET}", expecting=Expect.yes_no())
    else:
        if result.name == "open_ticket" and found.get("ok"):
            update["ticket_number"] = str(found.get("ticket_number") or "")
            update["description"] = ""
        elif result.name == "ticket_status" and not found.get("ok"):
            update["ticket_number"] = ""  # not a ticket: ask afresh next time
        update["messages"] = _say(f"{said} {replies.ANYTHING_ELSE}")
    return update


# -- routers -------------------------------------------------------------------------
def route_start(state: State) -> Literal["greet", "understand"]:
    """The call-start turn is greeted; every other turn is understood."""
    return "greet" if is_call_start(state.messages) else "understand"


def route_request(
    state: State,
) -> Literal[
    "outage",
    "ticket_lookup",
    "describe_problem",
    "file_ticket",
    "transfer",
    "goodbye",
    "declined",
    "transfer_failed",
    "reprompt",
    "offer_person",
    "__end__",
]:
    """To the step for what the caller asked; not understood: ask again, then offer a person."""
    if state.request is None:
        turn = last_caller_turn(state.messages)
        if turn is not None and turn["source"] == "event":  # nothing the caller said
            return "__end__"
        if state.misses >= MISSES_BEFORE_HANGUP:
            return "goodbye"
        return "offer_person" if state.misses >= MISSES_BEFORE_OFFER else "reprompt"
    node = _NODE_FOR.get(state.request)
    if node is None:
        raise ValueError(f"no step for the request {state.request!r}")
    return node


def _elsewhere(state: State) -> Literal["transfer", "goodbye", "offer_person"]:
    """A step that asked did not get its value: follow the caller, or offer a person."""
    if state.request == "person":
        return "transfer"
    if state.request == "goodbye":
        return "goodbye"
    if state.request is None:
        return "offer_person"
    raise ValueError(f"a step that asked ended with the request {state.request!r}")


def route_after_lookup(
    state: State,
) -> Literal["tools", "transfer", "goodbye", "offer_person", "__end__"]:
    """After ``outage`` or ``ticket_lookup``: run the look-up, wait for the answer to
    the value read back, or follow the caller."""
    last = state.messages[-1] if state.messages else None
    if isinstance(last, AIMessage) and last.tool_calls:
        return "tools"
    if state.pending == "confirm_value":
        return "__end__"
    return _elsewhere(state)


def route_after_describing(
    state: State,
) -> Literal["__end__", "transfer", "goodbye", "offer_person"]:
    """After ``describe_problem``: wait for the yes to the read-back, or follow the caller."""
    return "__end__" if state.pending == "open_ticket" else _elsewhere(state)


def route_after_tools(state: State) -> Literal["report", "__end__"]:
    """A call action ends the run (the runtime carries it out); a lookup is reported."""
    return "__end__" if requested_actions(state.messages) else "report"


# -- the graph -----------------------------------------------------------------------
builder = StateGraph(State, input_schema=InputState, context_schema=HelpdeskContext)
builder.add_node("greet", greet)
builder.add_node("understand", understand_turn)
builder.add_node("outage", outage)
builder.add_node("ticket_lookup", ticket_lookup)
builder.add_node("describe_problem", describe_problem)
builder.add_node("file_ticket", file_ticket)
builder.add_node("transfer", transfer)
builder.add_node("goodbye", goodbye)
builder.add_node("declined", declined)
builder.add_node("reprompt", reprompt)
builder.add_node("offer_person", offer_person)
builder.add_node("transfer_failed", transfer_failed)
builder.add_node("tools", ToolNode([*HELPDESK_TOOLS, transfer_call, hang_up]))
builder.add_node("report", report)

builder.add_conditional_edges(START, route_start)
builder.add_conditional_edges("understand", route_request)
builder.add_conditional_edges("outage", route_after_lookup)
builder.add_conditional_edges("ticket_lookup", route_after_lookup)
builder.add_conditional_edges("describe_problem", route_after_describing)
for acting in ("file_ticket", "transfer", "goodbye"):
    builder.add_edge(acting, "tools")
builder.add_conditional_edges("tools", route_after_tools)
for speaking in ("greet", "declined", "reprompt", "offer_person", "transfer_failed", "report"):
    builder.add_edge(speaking, END)

graph = builder.compile(name="helpdesk")


async def _start(startup: StartupInfo) -> None:
    check_setting()  # a model setting that names no model: stop now, not at a caller's turn
    await prepare(startup)


phone = dataclasses.replace(_phone, on_startup=_start)
"""The helpdesk's phone settings, whose start-up hook also builds this graph's
understander (``DIALGRAPH_HELPDESK_MODEL``, when set)."""
