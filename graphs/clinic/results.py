"""What the receptionist makes of a tool's result: the ``report`` step, read from artifacts.

Artifacts follow the tools' contract (``{"ok": True, ...}`` or ``{"ok":
False, "error": ...}``). A missing or unexpected artifact never raises: the
caller hears an apology and, where it helps, an offer of the front desk.
Each ``after_<tool>`` returns the state update of the ``report`` node; an
update without ``messages`` means the task goes on (a target was found for
a move, a doctor was not known): the graph's next step asks or reads back.
Ported from the old flow's ``graphs.clinic._tool_results``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from dialgraph import Expect
from graphs.clinic import words
from graphs.clinic.policy import matching
from graphs.clinic.replies import anything_else, ask, offer_transfer, say, start
from graphs.clinic.state import EMPTY_SLOTS, Slots, Stage, State
from spoken.saying import say_time, say_times, sentence, speakable

__all__ = ["after_tool"]

Update = dict[str, Any]

_ASK_AGAIN: dict[str, tuple[Stage, str]] = {  # refusal -> (what to ask again, how)
    "closed": ("day", words.DAY_ERRORS["closed"]),
    "past": ("day", words.DAY_ERRORS["past"]),
    "bad_day": ("day", "Sorry, I didn't catch the day. Which day would you like?"),
    "bad_time": ("time", f"Sorry, that time isn't possible. {words.OPENING_HOURS}"),
    "unknown_type": ("type", words.WHICH_TYPE),
    "missing_name": ("name", "What name should I put the appointment under?"),
}


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _day(slots: Slots) -> dt.date | None:
    return words.parse_iso(slots["day"]) if slots["day"] else None


def _choosing_from(times: list[str]) -> dict[str, Any]:
    return Expect.choice([say_time(t) for t in times], hints=["the first one", "the last one"])


def after_tool(
    state: State, name: str, args: Mapping[str, Any], artifact: Any, content: str, *, failed: bool
) -> Update:
    """The ``report`` update after tool ``name`` (called with ``args``) answered.

    ``failed`` marks an error result (the tool raised, or a barge-in cancelled
    it before it ran): nothing changed, so the pending question is asked again.
    """
    if failed and not isinstance(artifact, Mapping):
        return say(f"Sorry, something went wrong on my side. {state.question or words.MENU}")
    art = artifact if isinstance(artifact, Mapping) else {}
    handler = _AFTER.get(name)
    if handler is None:
        return anything_else(state, speakable(content) if content.strip() else "Done.")
    return handler(state, args, art, content)


def _after_check_availability(
    state: State, args: Mapping[str, Any], art: Mapping[str, Any], content: str
) -> Update:
    update: Update = {}
    if state.task is None:
        update = start("availability")
    slots = Slots(**(update.get("slots") or state.slots))
    task = update.get("task", state.task)
    if slots["day"] is None and args.get("day"):
        parsed = words.parse_iso(args.get("day"))
        slots["day"] = parsed.isoformat() if parsed else None
    update["slots"] = slots
    if not art.get("ok"):
        return {**update, **_refused(state, slots, art, words.CALENDAR_DOWN)}
    found = art.get("slots") or []
    times = words.distinct_times(found)[: words.MAX_READ]
    update["offered"] = [[t, words.doctor_at(found, t)] for t in times]
    update["offered_for"] = [slots["day"], slots["part_of_day"]]
    when = words.day_and_part(_day(slots), slots["part_of_day"])
    if not times:
        if task == "availability":
            text = f"Sorry, nothing is free {when}. {words.CHECK_OTHER}"
            return {**update, **ask(state, text, "retry_day")}
        slots["day"] = None
        return {**update, **ask(state, f"Sorry, nothing is free {when}. {words.OTHER_DAY}", "day")}
    if task == "availability":
        offer = sentence(f"{_upper_first(when)}, I have openings at {say_times(times, 'and')}")
        text = f"{offer} Would you like to book one of those?"
        return {**update, **ask(state, text, "offer_times")}
    offer = sentence(f"{_upper_first(when)}, I have {say_times(times)}")
    text = f"{offer} Which time would you like?"
    return {**update, **ask(state, text, "pick_time", expecting=_choosing_from(times))}


def _after_book_appointment(
    state: State, args: Mapping[str, Any], art: Mapping[str, Any], content: str
) -> Update:
    booked = art.get("appointment")
    if art.get("ok") and isinstance(booked, Mapping):
        said = f"You're all set: {words.appointment(booked)}"
        return {
            "caller_name": booked.get("name") or state.caller_name,
            **start(None),
            **anything_else(state, said),
        }
    failed = "Sorry, something went wrong and I couldn't book that."
    return _refused(state, state.slots, art, failed)


def _after_reschedule_appointment(
    state: State, args: Mapping[str, Any], art: Mapping[str, Any], content: str
) -> Update:
    moved = art.get("appointment")
    if art.get("ok") and isinstance(moved, Mapping):
        said = f"Done. {words.your_appointment(moved, now=True)}"
        return {**start(None), **anything_else(state, said)}
    failed = "Sorry, something went wrong and I couldn't move it."
    return _refused(state, state.slots, art, failed)


def _after_cancel_appointment(
    state: State, args: Mapping[str, Any], art: Mapping[str, Any], content: str
) -> Update:
    cancelled = art.get("appointment") if art.get("ok") else None
    if isinstance(cancelled, Mapping):
        said = f"Done. I've cancelled {words.appointment(cancelled, 'your')}"
        return {**start(None), **anything_else(state, said)}
    failed = "Sorry, something went wrong and I couldn't cancel it."
    return {**start(None), **_refused(state, Slots(**EMPTY_SLOTS), art, failed)}


def _after_list_my_appointments(
    state: State, args: Mapping[str, Any], art: Mapping[str, Any], content: str
) -> Update:
    if not art.get("ok"):
        return {**start(None), **_refused(state, state.slots, art, words.CALENDAR_DOWN)}
    listed = [dict(a) for a in art.get("appointments") or [] if isinstance(a, Mapping)]
    update: Update = {"appointments": listed}
    task = state.task or "my_appointments"
    if not listed:
        if task == "my_appointments":
            text = words.NO_APPOINTMENTS + " Would you like to book one?"
            return {**update, **start(None), **ask(state, text, "offer_book")}
        return {**update, **start(None), **anything_else(state, words.NO_APPOINTMENTS)}
    if task == "my_appointments":
        return {**update, **start(None), **anything_else(state, words.list_appointments(listed))}
    found = matching(listed, state.hint, ref=task == "reschedule")
    if len(listed) == 1 or len(found) == 1:
        return {**update, "target": found[0] if len(found) == 1 else listed[0]}  # go on
    verb = "cancel" if task == "cancel" else "move"
    question = f"Which one would you like to {verb}? You can say the first or the second."
    text = words.choose_appointment(listed, verb)
    return {**update, **ask(state, text, "pick_appt", question=question)}


def _after_clinic_info(
    state: State, args: Mapping[str, Any], art: Mapping[str, Any], content: str
) -> Update:
    fact = str(art.get("text") or content or "").strip()
    text = speakable(fact) if fact else "Sorry, I don't have that information."
    if state.task and state.stage and state.question:
        return ask(state, f"{text} {state.question}", state.stage, question=state.question)
    return anything_else(state, text)


def _refused(state: State, slots: Slots, art: Mapping[str, Any], failed: str) -> Update:
    """A tool said no: offer the alternatives, or ask again for what was wrong."""
    slots, error = Slots(**slots), str(art.get("error") or "")
    if error == "slot_taken":
        slots["time"] = None
        alternatives = words.alternative_times(art.get("alternatives") or [])
        if alternatives:
            text = words.taken_with_alternatives(_day(slots), alternatives)
            return {
                "slots": slots,
                "offered": [[t, None] for t in alternatives],
                "offered_for": [slots["day"], slots["part_of_day"]],
                **ask(state, text, "pick_time", expecting=_choosing_from(alternatives)),
            }
        slots["day"] = None
        text = f"Sorry, that time is already taken. {words.OTHER_DAY}"
        return {"slots": slots, **ask(state, text, "day")}
    if error in _ASK_AGAIN:
        stage, text = _ASK_AGAIN[error]
        update: Update = {}
        if stage == "day":
            slots["day"] = slots["time"] = None
        elif stage == "time":
            slots["time"] = None
        elif stage == "type":
            slots["appointment_type"] = None
        else:
            slots["name"], update["caller_name"] = None, None
        return {**update, "slots": slots, **ask(state, text, stage)}
    if error == "unknown_doctor":
        slots["doctor"] = None
        return {"slots": slots, "ack": "Sorry, I couldn't find that doctor. "}  # go on
    if error == "not_found":
        return {**start(None), **anything_else(state, "Sorry, I couldn't find that appointment.")}
    if error == "no_caller_id":
        return offer_transfer(state, words.NO_CALLER_ID)
    return offer_transfer(state, failed)


_AFTER: dict[str, Callable[[State, Mapping[str, Any], Mapping[str, Any], str], Update]] = {
    "check_availability": _after_check_availability,
    "book_appointment": _after_book_appointment,
    "reschedule_appointment": _after_reschedule_appointment,
    "cancel_appointment": _after_cancel_appointment,
    "list_my_appointments": _after_list_my_appointments,
    "clinic_info": _after_clinic_info,
}
