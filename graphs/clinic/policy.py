"""The receptionist's decisions, as pure functions of the state and the turn heard.

The graph's nodes do what these decide: :func:`decide` reads a turn against
the stage (what the last reply asked) and names the step it asks for;
:func:`apply_turn` and :func:`take_offered` fill the booking details;
:func:`next_need` says what the booking still needs (a detail, a look at
the calendar, or the read-back); :func:`matching` finds the appointment a
turn points at; :func:`still_unsure` keeps the details that were not
clearly heard (below :data:`CONFIRM_BELOW`), which are confirmed before they
are used. Decisions and their order are the old rule-engine clinic's,
except where issue 15 found it wrong: "yes, cancel it please" to "Shall I go
ahead?" confirms the cancel.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any, Literal

from graphs.clinic import words as replies
from graphs.clinic.nlu import FACT_TOPICS, Intent
from graphs.clinic.state import Heard, Request, Slots, State, slot_values

__all__ = [
    "CONFIRM_BELOW",
    "Need",
    "apply_turn",
    "booking_name",
    "change_asked",
    "decide",
    "has_slots",
    "matching",
    "next_need",
    "still_unsure",
    "take_offered",
    "to_confirm",
    "understood",
]

CONFIRM_BELOW = 0.7
"""A detail heard with less confidence than this is confirmed before it is used.

The offline rules give 1.0 to a phrase they know, 0.8 to a bare answer to the
question asked and 0.75 to a misspelt or misheard doctor's name, times the
recogniser's confidence when it gives one; a value found only in the
recogniser's second or third reading is trusted 0.9 or 0.81 times less, and a
chat model says its own. So what falls below is a value the ear was unsure of,
or only its other readings held."""

Need = Literal[
    "confirm_value",
    "past_day",
    "sunday",
    "closed_time",
    "type",
    "day",
    "day_to_check",
    "pick_time",
    "name",
    "availability",
    "read_back",
]
"""What a booking, a check or a move needs next."""

_Detail = Literal["appointment_type", "day", "part_of_day", "doctor", "time"]
_DETAILS: tuple[_Detail, ...] = ("appointment_type", "day", "part_of_day", "doctor", "time")
_CHANGE_WORD = re.compile(r"\b(day|date|time|name|type|kind)\b")
_NOTHING_TO_CHANGE = re.compile(r"\b(nothing|its fine|all good)\b")
_OPEN_STAGES = frozenset({"anything_else", "offer_book", "retry_day", "offer_times"})
_CONFIRM_DETAILS = frozenset({"confirm_book", "confirm_reschedule"})
_IDENTITY = frozenset({"number", "name_on_booking"})
_FREE_ANSWERS = _IDENTITY | {"change"}  # stages whose answer may hold no word the NLU knows
# what a turn may give that is confirmed when unsure, in the order it is said back
_CHECKED = ("appointment_type", "doctor", "day", "time", "part_of_day", "name")


def has_slots(heard: Heard) -> bool:
    """Whether the turn names a booking detail (the name is not one)."""
    return any(heard["slots"][k] is not None for k in _DETAILS)


def understood(heard: Heard) -> bool:
    """False for speech in which nothing useful was found."""
    return bool(
        heard["intent"]
        or heard["answer"]
        or has_slots(heard)
        or heard["slots"]["name"]
        or heard["selection"] is not None
        or heard["dtmf"]
    )


def booking_name(state: State) -> str | None:
    """The name the booking goes under: the one given for it, else the caller's."""
    return state.slots["name"] or state.caller_name


def apply_turn(
    slots: Slots, heard: Heard, task: str | None, *, keep_time: bool = False
) -> tuple[Slots, bool]:
    """The details with the turn's copied in, and whether anything changed."""
    new, said, changed = Slots(**slots), heard["slots"], False
    for name in _DETAILS:
        if keep_time and name == "time":
            continue
        value = said[name]
        if value is not None and value != new[name]:
            new[name] = value
            changed = True
            time = new["time"]
            fits = time is None or (time < "12:00") == (value == "morning")
            if name == "part_of_day" and not said["time"] and not fits:
                new["time"] = None  # "no, in the afternoon": the time no longer fits
    if said["name"] and task == "book" and said["name"] != new["name"]:
        new["name"], changed = said["name"], True
    return new, changed


def take_offered(
    slots: Slots, offered: Sequence[Sequence[str | None]], heard: Heard
) -> Slots | None:
    """The details with one of the times just read out picked ("nine thirty", "the second
    one"), the doctor free then included; ``None`` when the turn picks none."""
    times = [t for t, _ in offered]
    wanted, chosen = heard["slots"]["time"], heard["selection"]
    if wanted and wanted in times:
        pick = times.index(wanted)
    elif chosen is not None and -len(times) <= chosen < len(times):
        pick = chosen % len(times)
    else:
        return None
    time, doctor = offered[pick]
    new = Slots(**slots)
    new["time"] = time
    if doctor and not new["doctor"]:
        new["doctor"] = doctor
    return new


def matching(
    appointments: Sequence[dict[str, Any]], heard: Heard | None, *, ref: bool
) -> list[dict[str, Any]]:
    """The listed appointments a turn points at: by position, day, time, type or doctor.

    ``ref``: for a move, the turn's day and time are the new ones; the
    appointment is the one named before "to" ("move my friday checkup to ...").
    """
    if heard is None:
        return list(appointments)
    read = list(appointments[: replies.MAX_READ])  # a position refers to what was read out
    chosen = heard["selection"]
    if chosen is not None and -len(read) <= chosen < len(read):
        return [read[chosen]]
    said = heard["slots"]
    wanted = {
        "day": heard["ref_day"] if ref else said["day"],
        "time": heard["ref_time"] if ref else said["time"],
        "appointment_type": said["appointment_type"],
        "doctor": said["doctor"],
    }
    wanted = {k: v for k, v in wanted.items() if v}
    if not wanted:
        return list(appointments)
    return [a for a in appointments if all(a.get(k) == v for k, v in wanted.items())]


# -- what the turn asks for -------------------------------------------------------------
def decide(state: State, heard: Heard) -> Request | None:
    """The step a spoken or keyed turn asks for, read against the stage; ``None``: a miss.

    ``state`` already holds the turn's name, if it gave one (see ``understand``).
    """
    if not (understood(heard) or state.stage in _FREE_ANSWERS):
        return None
    intent = Intent(heard["intent"]) if heard["intent"] else None
    stage, answer = state.stage or "", heard["answer"]
    if intent is Intent.TRANSFER:
        return "person"
    if stage == "confirm_transfer" and answer:
        return "accept_transfer" if answer == "yes" else "decline_transfer"
    confirming = stage.startswith("confirm")
    if intent is Intent.GOODBYE and not (confirming and answer == "yes"):
        return "goodbye"
    if intent is Intent.REPEAT:
        return "repeat"
    if intent in FACT_TOPICS:
        return "info"
    if intent is Intent.GREETING:
        return "hello"
    if intent is Intent.HELP:
        return "help"
    if intent is Intent.CANCEL and stage == "confirm_cancel" and answer != "no":
        # "yes, cancel it please": the cancel just read back, not "never mind"
        return "confirm" if state.target else None
    if intent is Intent.ABORT or (
        intent is Intent.CANCEL and confirming and "appointment" not in heard["text"]
    ):
        return "abort"
    if intent is Intent.THANKS:
        return "thanks"
    if intent is Intent.CANCEL:
        return "cancel"
    if intent is Intent.RESCHEDULE and not (
        state.task == "book" and " my " not in f" {heard['text']}"
    ):
        return "reschedule"
    if intent is Intent.MY_APPOINTMENTS:
        return "my_appointments"
    if intent is Intent.BOOK and state.task != "book":
        return "book"
    if intent is Intent.AVAILABILITY and state.task not in {"book", "reschedule"}:
        return "availability"
    return _in_stage(state, heard)


def _in_stage(state: State, heard: Heard) -> Request | None:
    """A turn without a new request: an answer to what was asked, or a detail."""
    stage, answer = state.stage, heard["answer"]
    if stage == "confirm_value":
        _, changed = apply_turn(state.slots, heard, state.task)
        if changed:  # "no, Dr. Nguyen": the right value, said again
            return "details"
        if answer:
            return "value_ok" if answer == "yes" else "value_wrong"
        return None
    if stage == "confirm_cancel":
        if answer == "yes" and state.target:
            return "confirm"
        return "keep" if answer == "no" else None
    if stage == "pick_appt":
        found = matching(state.appointments, heard, ref=False)
        return "pick_appointment" if len(found) == 1 else None
    if stage in _IDENTITY:
        return "identity"
    if stage in _OPEN_STAGES or not stage:
        return _open_question(state, heard)
    return _detail(state, heard)


def _open_question(state: State, heard: Heard) -> Request | None:
    """After "anything else?", an offer, or no question at all."""
    stage, answer, task, details = state.stage, heard["answer"], state.task, has_slots(heard)
    if answer == "no" and stage == "anything_else":
        return "done"
    if answer == "no" and stage:
        return "declined"
    if answer == "yes" and stage in {"anything_else", None} and not details:
        return "what_else"
    if answer == "no" and task is None and not details:
        return "menu"
    if answer == "yes" and stage == "offer_book":
        return "book"
    if answer == "yes" and stage == "retry_day":
        return "retry_day"
    if stage == "offer_times" and (
        heard["slots"]["time"] or heard["selection"] is not None or answer
    ):
        return "take_offer"
    if task is None and (details or heard["slots"]["name"]):
        return "details" if details else "named"
    if task is None or not details:
        return None
    return _detail(state, heard)


def _detail(state: State, heard: Heard) -> Request | None:
    """A detail of the task in progress, a yes or a no to its read-back, or a change."""
    stage, answer, task = state.stage, heard["answer"], state.task
    if (
        task in {"book", "reschedule"}
        and stage == "pick_time"
        and take_offered(state.slots, state.offered, heard) is not None
    ):
        return "details"
    _, changed = apply_turn(state.slots, heard, task)
    if stage in _CONFIRM_DETAILS:
        if changed:
            return "details"
        if answer == "yes":
            return "confirm"
        return "refuse" if answer == "no" else None
    if stage == "change" and not changed:
        if _CHANGE_WORD.search(heard["text"]) or _NOTHING_TO_CHANGE.search(heard["text"]):
            return "change_detail"
        return "abort" if answer == "no" else None
    if changed or (stage == "name" and booking_name(state)):
        return "details"
    if stage == "doctor":  # "any of them", "no preference": go on without one
        return "details"
    if stage == "pick_time" and answer:
        return "other_day" if answer == "no" else "which_time"
    return None


def still_unsure(unsure: Sequence[str], heard: Heard, before: Slots, after: Slots) -> list[str]:
    """The details still to confirm once a turn's values are in: those it set that were
    not clearly heard join the list; those it said again clearly, or cleared, leave it."""
    sure = heard.get("sure") or {}
    old = slot_values(before)
    new = slot_values(after)
    said = slot_values(heard["slots"])
    left = [name for name in unsure if new.get(name) is not None]
    for name in _CHECKED:
        if said[name] is None or new[name] != said[name]:
            continue  # not given, or not taken (a time kept while a list is open)
        confident = sure.get(name, 1.0) >= CONFIRM_BELOW
        if confident and name in left:
            left.remove(name)
        elif not confident and new[name] != old[name] and name not in left:
            left.append(name)
    return left


def to_confirm(state: State) -> list[str]:
    """The details still to confirm that have a value, in the order they are read out."""
    values = slot_values(state.slots)
    return [name for name in _CHECKED if name in state.unsure and values[name] is not None]


def change_asked(heard: Heard) -> str | None:
    """Which detail the caller wants to change after a "no" to the read-back (``None``:
    nothing, read it back again)."""
    found = _CHANGE_WORD.search(heard["text"])
    return found.group(1) if found else None


# -- what the task needs next -------------------------------------------------------
def _day_problem(slots: Slots, today: dt.date) -> Need | None:
    day = dt.date.fromisoformat(slots["day"]) if slots["day"] else None
    if day and day < today:
        return "past_day"
    if day and day.weekday() == 6:
        return "sunday"
    if slots["time"] and not replies.open_at(day, slots["time"]):
        return "closed_time"
    return None


def next_need(state: State) -> Need:
    """What the task in progress needs next: a detail, the calendar, or the read-back."""
    s, task = state.slots, state.task
    today = dt.date.fromisoformat(state.today) if state.today else dt.date.today()
    if to_confirm(state):
        return "confirm_value"
    if task == "cancel":
        return "read_back"
    if task == "availability":
        if not s["day"]:
            return "day_to_check"
        return _day_problem(s, today) or "availability"
    if problem := _day_problem(s, today):
        return problem
    if task == "book" and not s["appointment_type"]:
        return "type"
    if not s["day"]:
        return "day"
    if not s["time"]:
        if state.offered and state.offered_for == [s["day"], s["part_of_day"]]:
            return "pick_time"
        return "availability"
    if task == "reschedule" and state.target:
        return "read_back"
    if not booking_name(state):
        return "name"
    return "read_back"
