"""The Riverside Family Clinic receptionist, as an explicit LangGraph (no chat model).

One run per caller turn on the call's thread::

    START -route_start-+-> greet ----------------------------------------------> END
                       +-> understand -route_request-+
                                                     +-> collect | change --+
                                                     |                     route_next:
                                                     |   ask_detail | read_back --> END
                                                     |   check_availability ----> tools
                                                     |   END (the step spoke)
                                                     +-> identify -route_after_identify->
                                                     |   list_appointments, or END (it asked)
                                                     +-> list_appointments | act | answer |
                                                     |   transfer | goodbye --------> tools
                                                     +-> converse | reprompt |
                                                         offer_person ---------------> END
    tools -route_after_tools-+-> report -route_next-> (as above)
                             +-> remember --> report  (after a booking)
                             +-> END  (a transfer or a hang-up: the runtime carries it out)

- ``understand`` reads the caller's turn with the clinic's NLU, told what the
  last reply asked for (``stage``), and writes what it was understood as
  (``heard``) and what it asks for (``request``): a yes is ``confirm`` after
  a read-back, ``accept_transfer`` after the offer of the front desk, and so
  on (:func:`graphs.clinic.policy.decide`).
- ``collect`` and ``change`` fill or clear the booking details; ``route_next``
  then picks the step the task needs (:func:`graphs.clinic.policy.next_need`):
  ``ask_detail`` asks for the next missing detail (with ``dialgraph.expect``,
  so the ear knows what to listen for), ``check_availability`` looks at the
  calendar, ``read_back`` reads every detail that will be used (type,
  doctor, day, time, name) and waits for a yes. Nothing is booked, moved or
  cancelled before that yes (``act``).
- A caller without caller ID who wants their appointments is ``identify``-ed
  first: the number on the booking (said or keyed) and the name on it must
  match a booking before anything is read out or changed; the number then
  stands for the caller ID on this call's tool calls.
- Everything that reads or writes the clinic's calendar, and the call
  actions, are tool calls written by a node and run by the ``ToolNode``
  (fresh ids, so a re-run is idempotent); ``report`` says what the tool
  found (:mod:`graphs.clinic.results`).
- Two turns in a row not understood: ``offer_person`` offers the front desk
  (and the keypad); if the front desk cannot be reached, the call ends
  politely instead of looping.

Exports ``builder`` (tests and the phone service compile it with their
checkpointer), ``graph`` (compiled without one, for Studio / ``langgraph
dev``) and ``phone`` (the clinic's phone settings, with this graph's
speaking nodes).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from langchain_core.messages import AIMessage, HumanMessage, ToolCall, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.runtime import Runtime
from langgraph.types import Command

from dialgraph import (
    caller_turn,
    digits_of,
    is_call_start,
    last_caller_turn,
    requested_actions,
)
from graphs.clinic import policy, replies, words
from graphs.clinic.context import Context
from graphs.clinic.greeting import greeting, name_on_file
from graphs.clinic.nlu import FACT_TOPICS, Intent
from graphs.clinic.reading import heard_from, nlu_expect
from graphs.clinic.replies import anything_else, ask, expecting, say, start
from graphs.clinic.results import after_tool
from graphs.clinic.settings import phone
from graphs.clinic.state import (
    EMPTY_SLOTS,
    Heard,
    InputState,
    Request,
    Resume,
    Slots,
    State,
    Task,
    slot_values,
)
from graphs.clinic.understanding import understander
from graphs.runtime.events import TRANSFER_FAILED, event_name
from memory.store import CallerMemory
from tools import CLINIC_TOOLS
from tools._runtime import clinic_now
from tools.calendar import get_calendar

__all__ = ["GRAPH_ID", "builder", "graph", "phone"]

GRAPH_ID = "clinic"  # its id in langgraph.json
MISSES_BEFORE_OFFER = 2  # turns in a row not understood before the front desk is offered
MISSES_BEFORE_TRANSFER = 4  # still not understood while that offer is open: put them through
MISSES_BEFORE_GOODBYE = 4  # ... and when the front desk cannot be reached: end politely
IDENTITY_TRIES = 2  # a number and name that match no booking, twice: stop asking
NUMBER_DIGITS = 10  # a North American number, as the clinic's callers say it
_SILENCE = re.compile(r"[(\[]?\s*silence\s*[)\]]?", re.IGNORECASE)  # "(silence)" typed in Studio


logger = logging.getLogger("dialgraph.graph")

_LOOKUPS: tuple[Request, ...] = ("cancel", "reschedule", "my_appointments")
_INTENTS = frozenset({None, *(intent.value for intent in Intent)})
_Step = Literal[
    "transfer",
    "goodbye",
    "answer",
    "identify",
    "act",
    "change",
    "reprompt",
    "offer_person",
    "list_appointments",
    "collect",
    "converse",
]
_NODE_FOR: dict[Request, _Step] = {
    "person": "transfer",
    "accept_transfer": "transfer",
    "goodbye": "goodbye",
    "done": "goodbye",
    "info": "answer",
    "identity": "identify",
    "confirm": "act",
    "refuse": "change",
    "change_detail": "change",
    "silence": "reprompt",
    **dict.fromkeys(_LOOKUPS, "list_appointments"),
    **dict.fromkeys(
        (
            "book",
            "availability",
            "details",
            "take_offer",
            "retry_day",
            "other_day",
            "which_time",
            "pick_appointment",
            "value_ok",
            "value_wrong",
        ),
        "collect",
    ),
    **dict.fromkeys(
        (
            "decline_transfer",
            "repeat",
            "hello",
            "help",
            "thanks",
            "abort",
            "keep",
            "declined",
            "what_else",
            "menu",
            "named",
            "event",
            "transfer_failed",
        ),
        "converse",
    ),
}


def _tool_call(name: str, args: dict[str, Any]) -> ToolCall:
    # A fresh id per call: once the node's message is checkpointed the id is
    # fixed, which is what makes a re-run of the tool idempotent.
    return ToolCall(name=name, args=args, id=f"call_{uuid.uuid4().hex[:24]}", type="tool_call")


def _calling(tool: str, text: str = "", /, **args: Any) -> dict[str, Any]:
    """A node's update that calls ``tool`` with ``args`` (after saying ``text``, if any)."""
    return {"messages": [AIMessage(text, tool_calls=[_tool_call(tool, args)])], "ack": ""}


def _memory(runtime: Runtime[Context]) -> CallerMemory | None:
    if runtime.store is None or not runtime.context.caller:
        return None
    return CallerMemory(runtime.store)


def _can_transfer(state: State) -> bool:
    return not state.transfer_failed


# -- greeting and understanding ---------------------------------------------------
async def greet(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Greet the caller (by name if they called before), by the clinic's clock."""
    ctx = runtime.context
    name = state.caller_name
    memory = _memory(runtime)
    if name is None and memory is not None:
        profile = await memory.get(ctx.caller)
        name = (profile or {}).get("name")
    if name is None and ctx.caller:
        name = await name_on_file(ctx)
    # The call's own clock (pinned in demos and evals), in the clinic's time zone.
    text = greeting(name, clinic_now(ctx.today, ctx.timezone).hour)
    return {
        "messages": [AIMessage(text)],
        "caller_name": name,
        "greeted": True,
        "today": ctx.today_date().isoformat(),
        "caller_known": bool(ctx.caller),
        "last_reply": text,
    }


async def understand(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Read the caller's turn against what was asked: what it says, and what it asks for.

    The understanding step reads it (the clinic's rules, and the chat model
    ``DIALGRAPH_MODEL`` names when the rules are unsure: see
    :mod:`graphs.clinic.understanding`), with a confidence for every value.
    """
    ctx = runtime.context
    today = ctx.today_date()
    update: dict[str, Any] = {
        "today": today.isoformat(),
        "caller_known": bool(ctx.caller or state.identified),
        "heard": None,
    }
    message = next((m for m in reversed(state.messages) if isinstance(m, HumanMessage)), None)
    turn = caller_turn(message)
    if message is None or turn is None:
        return {**update, "request": None, "misses": state.misses + 1}
    if event := event_name(message):  # a note from the line, not the caller's words
        return {**update, "request": "transfer_failed" if event == TRANSFER_FAILED else "event"}
    spoken = turn["text"].strip()
    if turn["source"] == "silence" or (
        turn["source"] == "speech" and (not spoken or _SILENCE.fullmatch(spoken))
    ):
        return {**update, "request": "silence"}  # asked again, not counted as a miss
    reading = understander(ctx.model, nlu_expect(state.stage))
    found = await reading.understand(turn, expecting=expecting(state.stage), today=today)
    heard = heard_from(found)
    if heard["intent"] not in _INTENTS:  # a model's word the clinic has no step for
        heard["intent"] = None
    name = heard["slots"]["name"]
    if name and (state.stage in {"name", "name_on_booking"} or name != state.caller_name):
        update["caller_name"] = name
        if state.task == "book":
            update["slots"] = Slots(**{**state.slots, "name": name})
    seen = dataclasses.replace(state, **{k: v for k, v in update.items() if k != "heard"})
    request = policy.decide(seen, heard)
    return {
        **update,
        "heard": heard,
        "request": request,
        "misses": 0 if request else state.misses + 1,
    }


# -- the booking details ----------------------------------------------------------
_REASK: dict[str, tuple[str, Any]] = {
    "appointment_type": (words.WHICH_TYPE, "type"),
    "day": ("What day would you like?", "day"),
    "time": ("What time would you like?", "time"),
    "doctor": ("Which doctor would you like to see?", "doctor"),
    "name": ("What name should I put the appointment under?", "name"),
}
"""The question asked again for a detail the caller said was misheard."""


def collect(state: State) -> dict[str, Any]:
    """Apply the turn's details to the task (starting it if asked); ask where the turn
    only picks the way on. The next step is ``route_next``'s.

    A detail that was not clearly heard is kept but noted (``unsure``), and
    confirmed before the task goes on; a no to that check clears it and asks
    for it again.
    """
    heard = state.heard
    if heard is None:
        raise ValueError("collect runs after a turn that was heard")
    if state.request == "value_ok":
        return {"unsure": []}
    if state.request == "value_wrong":
        return _misheard(state, policy.to_confirm(state))
    update = _collected(state, heard)
    if "slots" in update:
        kept = [] if "task" in update else state.unsure
        before = EMPTY_SLOTS if "task" in update else state.slots
        update["unsure"] = policy.still_unsure(kept, heard, before, update["slots"])
    return update


def _misheard(state: State, details: list[str]) -> dict[str, Any]:
    """The caller said no to "Did you say ...?": clear what was checked and ask again."""
    values = {**slot_values(state.slots), **dict.fromkeys(details)}
    if "day" in details:
        values["time"] = None
    update: dict[str, Any] = {"slots": Slots(**values), "unsure": []}  # type: ignore[typeddict-item]
    asked = next((name for name in details if name in _REASK), None)
    if asked is None:
        return update
    question, stage = _REASK[asked]
    return {**update, **ask(state, f"Sorry about that. {question}", stage)}


def _collected(state: State, heard: Heard) -> dict[str, Any]:
    request, stage = state.request, state.stage
    if request in {"book", "availability"}:
        task: Task = "book" if request == "book" else "availability"
        slots, _ = policy.apply_turn(EMPTY_SLOTS, heard, task)
        return {**start(task), "slots": slots}
    if request == "take_offer":
        taken = policy.take_offered(state.slots, state.offered, heard)
        if taken is None:
            return {"task": "book", **ask(state, "Which time would you like?", "pick_time")}
        return {"task": "book", "slots": taken}
    if request == "retry_day":
        return {"slots": Slots(**{**state.slots, "day": None, "time": None})}
    if request == "other_day":
        slots = Slots(**{**state.slots, "day": None, "time": None})
        return {"slots": slots, **ask(state, "Which other day would suit you?", "day")}
    if request == "which_time":
        return ask(state, "Which time would you like?", "pick_time")
    if request == "pick_appointment":
        return {"target": policy.matching(state.appointments, heard, ref=False)[0]}
    if request != "details":
        raise ValueError(f"collect does not handle the request {request!r}")
    update: dict[str, Any] = {}
    doing, slots = state.task, state.slots
    if doing is None:
        update, doing = start("book"), "book"
        slots = update["slots"]
    taken = None
    if doing in {"book", "reschedule"} and stage == "pick_time":
        taken = policy.take_offered(slots, state.offered, heard)
    if taken is not None:
        update["slots"], _ = policy.apply_turn(taken, heard, doing, keep_time=True)
        return update
    update["slots"], changed = policy.apply_turn(slots, heard, doing)
    confirming = stage in {"confirm_book", "confirm_reschedule"}
    if changed and heard["correction"] and not confirming:
        update["ack"] = "Got it. "  # the read-back will repeat the corrected detail
    return update


def change(state: State) -> dict[str, Any]:
    """The caller said no to the read-back, or named what to change."""
    slots = Slots(**state.slots)
    if state.request == "refuse":
        if state.stage == "confirm_reschedule":
            slots["day"] = slots["time"] = None
            text = "Okay, what day and time would suit you instead?"
            return {"slots": slots, **ask(state, text, "day")}
        return ask(state, words.WHAT_TO_CHANGE, "change")
    if state.heard is None:
        raise ValueError("change runs after a turn that was heard")
    detail = policy.change_asked(state.heard)
    if detail in {"day", "date"}:
        slots["day"] = slots["time"] = None
    elif detail == "time":
        slots["time"] = None
    elif detail == "name":
        slots["name"] = None
        text = "What name should I put the appointment under?"
        return {"slots": slots, "caller_name": None, **ask(state, text, "name")}
    elif detail in {"type", "kind"}:
        slots["appointment_type"] = None
    return {"slots": slots}  # nothing named: read it back again


def ask_detail(state: State) -> dict[str, Any]:
    """Ask for what the task still needs: a detail, or another day or time."""
    need, slots = policy.next_need(state), Slots(**state.slots)
    if need == "confirm_value":
        said = replies.values_said(slots, policy.to_confirm(state))
        lead = (
            "And did you" if state.ack else "Sorry, I want to be sure I heard that right. Did you"
        )
        text = f"{lead} say {said}?"
        return ask(state, text, "confirm_value")
    if need == "past_day":
        slots["day"] = slots["time"] = None
        text = "Sorry, that day has already passed. Which day would you like?"
        return {"slots": slots, **ask(state, text, "day")}
    if need == "sunday":
        slots["day"] = slots["time"] = None
        text = f"Sorry, we're closed on Sundays. {words.OTHER_DAY}"
        return {"slots": slots, **ask(state, text, "day")}
    if need == "closed_time":
        slots["time"] = None
        text = f"Sorry, we're not open then. {words.OPENING_HOURS}"
        return {"slots": slots, **ask(state, text, "time")}
    if need == "type":
        return ask(state, words.WHICH_TYPE, "type")
    if need == "day_to_check":
        return ask(state, "Which day would you like me to check?", "day")
    if need == "day":
        if state.task == "reschedule" and state.target:
            moving = words.your_appointment(state.target)
            return ask(state, f"{moving} What day would you like to move it to?", "day")
        return ask(state, "What day would you like to come in?", "day")
    if need == "pick_time":
        return ask(state, "Which time would you like?", "pick_time")
    if need == "name":
        return ask(state, "And what name should I put the appointment under?", "name")
    raise ValueError(f"ask_detail cannot ask for {need!r}")


def check_availability(state: State) -> dict[str, Any]:
    """Look at the calendar for the day (and part of the day) asked for."""
    s = state.slots
    kind = s["appointment_type"] or (state.target or {}).get("appointment_type") or "checkup"
    return _calling(
        "check_availability",
        "",
        day=s["day"] or "",
        appointment_type=kind,
        part_of_day=s["part_of_day"],
    )


@dataclasses.dataclass
class _SlotsView:
    """The booking details as the read-back sentences take them (a day as a date)."""

    appointment_type: str | None = None
    day: dt.date | None = None
    time: str | None = None
    doctor: str | None = None


def read_back(state: State) -> dict[str, Any]:
    """Before any change: read back every detail that will be used, and wait for a yes."""
    s = state.slots
    if state.task == "cancel" and state.target:
        return ask(state, words.confirm_cancel(state.target), "confirm_cancel")
    details = _SlotsView(
        appointment_type=s["appointment_type"],
        day=words.parse_iso(s["day"]) if s["day"] else None,
        time=s["time"],
        doctor=s["doctor"],
    )
    if state.task == "reschedule" and state.target:
        return ask(state, words.confirm_reschedule(state.target, details), "confirm_reschedule")
    text = words.confirm_booking(details, policy.booking_name(state))
    return ask(state, text, "confirm_book")


def act(state: State) -> dict[str, Any]:
    """The caller said yes to the read-back: book, move or cancel, as read."""
    s, target = state.slots, state.target or {}
    if state.task == "cancel":
        return _calling("cancel_appointment", "", appointment_id=target.get("id"))
    if state.task == "reschedule":
        return _calling(
            "reschedule_appointment",
            "",
            appointment_id=target.get("id"),
            day=s["day"] or "",
            time=s["time"] or "",
        )
    args: dict[str, Any] = {
        "appointment_type": s["appointment_type"],
        "day": s["day"] or "",
        "time": s["time"],
        "name": policy.booking_name(state),
    }
    if s["doctor"]:
        args["doctor"] = s["doctor"]
    return _calling("book_appointment", "", **args)


# -- the caller's appointments ----------------------------------------------------
def _lookup_started(state: State) -> dict[str, Any]:
    """Start a cancel, a move or a listing from the turn that asked for it."""
    task = state.request
    if task not in ("cancel", "reschedule", "my_appointments"):
        raise ValueError(f"no look-up starts with the request {task!r}")
    said = state.heard["slots"] if state.heard else None
    slots = None
    if task == "reschedule" and said is not None:  # the new day and time, if said already
        slots = Slots(**EMPTY_SLOTS)
        slots["day"], slots["time"] = said["day"], said["time"]
        slots["part_of_day"] = said["part_of_day"]
    return {**start(task, slots), "hint": state.heard}


def list_appointments(state: State) -> dict[str, Any]:
    """Look up the caller's upcoming appointments (to list, cancel or move one)."""
    update = _lookup_started(state) if state.request in _LOOKUPS else {}
    return {**update, **_calling("list_my_appointments")}


def _e164(digits: str) -> str:
    if len(digits) == NUMBER_DIGITS:
        return f"+1{digits}"
    if len(digits) == NUMBER_DIGITS + 1 and digits.startswith("1"):
        return f"+{digits}"
    return ""


async def identify(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """No caller ID: ask for the number on the booking and the name on it; go on only
    when they match a booking. Nothing about any booking is said before that."""
    if state.request in _LOOKUPS:
        return {**_lookup_started(state), **ask(state, replies.ASK_NUMBER, "number")}
    number, name = state.number_given, state.caller_name
    if state.stage == "number":
        number = _e164(digits_of(last_caller_turn(state.messages)))
        if not number:
            return _try_again(state, replies.ASK_NUMBER_AGAIN)
    if not name:
        if state.stage == "name_on_booking":  # asked, and no name was heard
            again = "Sorry, I didn't get the name. What's the name on the booking?"
            return _try_again(state, again, "name_on_booking")
        asked = ask(state, replies.ASK_NAME_ON_BOOKING, "name_on_booking")
        return {"number_given": number, **asked}
    ctx = runtime.context
    try:
        booked = await get_calendar(ctx.db_url).upcoming(
            number, now=clinic_now(ctx.today, ctx.timezone)
        )
    except Exception:  # a look-up that fails must not end the call in silence
        logger.exception("could not look up the bookings to identify the caller")
        return replies.offer_transfer(state, words.CALENDAR_DOWN)
    wanted = " ".join(name.casefold().split())
    if any(" ".join(str(b.get("name") or "").casefold().split()) == wanted for b in booked):
        return {"identified": number, "caller_known": True, "number_given": "", "identity_tries": 0}
    asked_again = f"{replies.NOT_ON_FILE} What's the phone number on the booking?"
    return {"number_given": "", "caller_name": None, **_try_again(state, asked_again)}


def _try_again(
    state: State, question: str, stage: Literal["number", "name_on_booking"] = "number"
) -> dict[str, Any]:
    """A number or a name that did not do: ask again, or (the second time) offer the
    front desk, without a word about any booking."""
    tries = state.identity_tries + 1
    if tries < IDENTITY_TRIES:
        return {"identity_tries": tries, **ask(state, question, stage)}
    return {"identity_tries": tries, **replies.offer_transfer(state, replies.NOT_ON_FILE)}


def answer(state: State) -> dict[str, Any]:
    """A question about the clinic (hours, address, parking, ...): ask the tool."""
    intent = Intent(state.heard["intent"]) if state.heard and state.heard["intent"] else None
    if intent not in FACT_TOPICS:
        raise ValueError(f"answer runs for a question about the clinic, not {intent!r}")
    return _calling("clinic_info", "", topic=FACT_TOPICS[intent])


# -- handing over, closing, small talk --------------------------------------------
def transfer(state: State) -> dict[str, Any]:
    """Put the call through to the front desk (after these words)."""
    asked = state.request == "person"
    reason = "caller asked for a person" if asked else "caller was not understood"
    return {
        **start(None),
        "stage": None,
        **_calling(
            "transfer_to_front_desk", "Let me put you through to the front desk.", reason=reason
        ),
    }


def goodbye(state: State) -> dict[str, Any]:
    """Say goodbye and hang up (also when the caller cannot be understood at all)."""
    reasons = {"goodbye": "caller said goodbye", "done": "caller needs nothing else"}
    reason = reasons.get(state.request or "", "caller not understood")
    text = words.CLOSING
    if state.request is None:
        text = f"Sorry, I can't understand you on this line. {words.CLOSING}"
    return {**start(None), "stage": None, **_calling("end_call", text, reason=reason)}


def converse(state: State) -> dict[str, Any]:
    """Replies that need no tool and no detail: hello, help, thanks, "say that again",
    "never mind", a no to an offer, the front desk declined or unreachable."""
    request, heard = state.request, state.heard
    if request == "decline_transfer":
        back = state.resume or Resume(stage=None, question=words.MENU)
        return {"resume": None, **ask(state, f"All right. {back['question']}", back["stage"])}
    if request == "repeat":
        return say(state.last_reply or words.MENU)
    if request == "hello":
        text = f"Hello! {state.question or 'How can I help you today?'}"
        return ask(state, text, state.stage)
    if request == "help":
        return ask(state, words.MENU, state.stage if state.task else None)
    if request == "thanks":
        if state.task and state.question:
            return ask(state, f"You're welcome. {state.question}", state.stage)
        return anything_else(state, "You're welcome.")
    leads = {
        "abort": "All right, I've left everything as it was.",
        "keep": "All right, I'll keep that appointment.",
        "declined": "All right.",
    }
    if request in leads:
        return {**start(None), **anything_else(state, leads[request])}
    if request == "what_else":
        return ask(state, "Sure, what can I help you with?", None)
    if request == "menu":
        return ask(state, f"All right. {words.MENU}", None)
    if request == "named" and heard is not None and heard["slots"]["name"]:
        first = heard["slots"]["name"].split()[0]
        return ask(state, f"Thanks, {first}. How can I help you today?", None)
    if request == "transfer_failed":
        return {
            **start(None),
            "transfer_failed": True,
            "resume": None,
            **ask(state, words.NOT_PUT_THROUGH, "anything_else"),
        }
    if request == "event":
        return say(state.question or words.MENU)
    raise ValueError(f"converse does not handle the request {request!r}")


def reprompt(state: State) -> dict[str, Any]:
    """Silence, or a turn not understood: ask the open question again."""
    if state.request == "silence":
        return say(f"Sorry, I didn't hear anything. {state.question or words.MENU}")
    if state.stage == "confirm_transfer":
        return say(f"Sorry, I didn't catch that. {words.TRANSFER_OFFER} {words.KEYS_HINT}")
    if state.stage not in {None, "anything_else"} and state.question:
        return ask(state, f"Sorry, I didn't catch that. {state.question}", state.stage)
    return ask(state, f"Sorry, I didn't catch that. {words.MENU}", None, question="")


def offer_person(state: State) -> dict[str, Any]:
    """Two turns in a row not understood: offer the front desk, and the keypad for the answer."""
    text = (
        f"Sorry, I'm still having trouble understanding. {words.TRANSFER_OFFER} {words.KEYS_HINT}"
    )
    return {
        "resume": Resume(stage=state.stage, question=state.question or words.MENU),
        **ask(state, text, "confirm_transfer", question=words.TRANSFER_OFFER),
    }


# -- after the tools --------------------------------------------------------------
def _tool_args(state: State, result: ToolMessage) -> dict[str, Any]:
    for message in reversed(state.messages):
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call.get("id") == result.tool_call_id:
                    return dict(call.get("args") or {})
    return {}


def report(state: State) -> dict[str, Any]:
    """Say what the tool found, and ask what comes next (or leave that to the next step)."""
    result = state.messages[-1]
    if not isinstance(result, ToolMessage):
        raise ValueError(f"report runs after the tools, not after a {type(result).__name__}")
    content = result.content if isinstance(result.content, str) else str(result.content)
    return after_tool(
        state,
        result.name or "",
        _tool_args(state, result),
        result.artifact,
        content,
        failed=result.status == "error",
    )


async def remember(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Keep the caller's name (and last booking) after a successful booking."""
    result = state.messages[-1]
    artifact = result.artifact if isinstance(result, ToolMessage) else None
    booked = (
        artifact.get("appointment") if isinstance(artifact, dict) and artifact.get("ok") else None
    )
    if not booked:
        return {}
    name = booked.get("name") or state.caller_name
    memory = _memory(runtime)
    if memory is not None:
        await memory.remember(runtime.context.caller, name=name, last_booking=booked)
    return {"caller_name": name}


async def _as_identified_caller(
    request: ToolCallRequest,
    execute: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
) -> ToolMessage | Command[Any]:
    """A caller identified by the number on a booking is that number to the tools."""
    number = getattr(request.state, "identified", "")
    context = request.runtime.context
    if number and isinstance(context, Context) and not context.caller:
        runtime = dataclasses.replace(
            request.runtime, context=dataclasses.replace(context, caller=number)
        )
        request = dataclasses.replace(request, runtime=runtime)
    return await execute(request)


# -- routers ----------------------------------------------------------------------
def route_start(state: State) -> Literal["greet", "understand", "__end__"]:
    """Greet at call start; understand a caller turn; otherwise nothing to do.

    A run with no input (started by hand in Studio) greets once too.
    """
    if is_call_start(state.messages):
        return "greet"
    if state.messages and isinstance(state.messages[-1], HumanMessage):
        return "understand"
    return "__end__" if state.greeted else "greet"


def route_request(state: State) -> _Step:
    """To the step for what the caller asked; not understood: ask again, then offer a person."""
    if state.request is None:
        can = _can_transfer(state)
        if state.stage == "confirm_transfer":
            return "transfer" if can and state.misses >= MISSES_BEFORE_TRANSFER else "reprompt"
        if can and state.misses >= MISSES_BEFORE_OFFER:
            return "offer_person"
        if not can and state.misses >= MISSES_BEFORE_GOODBYE:
            return "goodbye"  # never loop: no one to hand over to
        return "reprompt"
    if state.request in _LOOKUPS and not state.caller_known:
        return "identify"
    node = _NODE_FOR.get(state.request)
    if node is None:
        raise ValueError(f"no step for the request {state.request!r}")
    return node


def _spoke(state: State) -> bool:
    last = state.messages[-1] if state.messages else None
    return isinstance(last, AIMessage) and not last.tool_calls


def route_next(state: State) -> Literal["ask_detail", "check_availability", "read_back", "__end__"]:
    """After a step that changed the task: it spoke (wait for the caller), or go on to
    what the task needs next."""
    if _spoke(state):
        return "__end__"
    need = policy.next_need(state)
    if need == "availability":
        return "check_availability"
    return "read_back" if need == "read_back" else "ask_detail"


def route_after_identify(state: State) -> Literal["list_appointments", "__end__"]:
    """The caller is who the booking says: look up their appointments; else wait."""
    return "__end__" if _spoke(state) else "list_appointments"


def route_after_tools(state: State) -> Literal["report", "remember", "__end__"]:
    """A call action ends the run (the runtime carries it out); a booking is remembered;
    any other result is reported."""
    if requested_actions(state.messages):
        return "__end__"
    last = state.messages[-1] if state.messages else None
    if isinstance(last, ToolMessage) and last.name == "book_appointment":
        return "remember"
    return "report"


# -- the graph --------------------------------------------------------------------
builder = StateGraph(State, input_schema=InputState, context_schema=Context)
builder.add_node("greet", greet)
builder.add_node("understand", understand)
builder.add_node("identify", identify)
builder.add_node("collect", collect)
builder.add_node("change", change)
builder.add_node("ask_detail", ask_detail)
builder.add_node("check_availability", check_availability)
builder.add_node("read_back", read_back)
builder.add_node("act", act)
builder.add_node("list_appointments", list_appointments)
builder.add_node("answer", answer)
builder.add_node("transfer", transfer)
builder.add_node("goodbye", goodbye)
builder.add_node("converse", converse)
builder.add_node("reprompt", reprompt)
builder.add_node("offer_person", offer_person)
builder.add_node(
    "tools",
    ToolNode(CLINIC_TOOLS, handle_tool_errors=True, awrap_tool_call=_as_identified_caller),
)
builder.add_node("remember", remember)
builder.add_node("report", report)

builder.add_conditional_edges(START, route_start)
builder.add_conditional_edges("understand", route_request)
for deciding in ("collect", "change", "report"):
    builder.add_conditional_edges(deciding, route_next)
builder.add_conditional_edges("identify", route_after_identify)
for calling in (
    "check_availability",
    "act",
    "list_appointments",
    "answer",
    "transfer",
    "goodbye",
):
    builder.add_edge(calling, "tools")
builder.add_conditional_edges("tools", route_after_tools)
builder.add_edge("remember", "report")
for speaking in ("greet", "ask_detail", "read_back", "converse", "reprompt", "offer_person"):
    builder.add_edge(speaking, END)

graph = builder.compile(name=GRAPH_ID)
