"""The clinic receptionist's policy: what to say or which tool to call next.

How it works: a ``ClinicDialogue`` is fed the conversation event by event:
caller turns through ``hear`` (words) or ``hear_keys`` (keys pressed), notes
from the phone system through ``on_event``, tool results through
``tool_result``; each returns the next ``Say`` or ``ToolCall``. The local
model rebuilds one from the whole message history on every call (it keeps no
state of its own), so the state here is always what the transcript implies,
after a checkpoint restore or a cancelled run as well.

The state is small: the task in progress (book, availability, cancel,
reschedule, my appointments), the booking details collected since the last
completed task, the stage (what was just asked, so "yes", "three" or "maria
lopez" can be read), times and appointments just read out, and the count of
consecutive turns that were not understood. Every change with a side effect
is read back and confirmed first, because the recogniser forces out-of-domain
speech into in-domain words.
"""

from __future__ import annotations

import re
from typing import Any

from graphs.runtime.events import TRANSFER_FAILED

from . import _replies as replies
from ._dialogue_state import MENU, Action, Say, Slots, Task, ToolCall, matching
from ._tool_results import ToolResults
from .nlu import FACT_TOPICS, Expect, Intent, Utterance, parse, parse_keys

__all__ = ["ClinicDialogue", "Say", "Slots", "ToolCall"]

_HINTS: dict[str, Expect] = {
    "type": "type",
    "day": "day",
    "time": "time",
    "name": "name",
    "pick_time": "choice",
    "pick_appt": "choice",
    "offer_times": "choice",
    "retry_day": "day",
}


class ClinicDialogue(ToolResults):
    """The receptionist's policy: ``hear`` a caller turn, or a ``tool_result``; get an action.

    Args:
        today: The date the caller's "tomorrow" and "friday" are counted from.
        caller_name: The caller's name if already known (not asked again).
        tools: Names of the tools that may be called.
    """

    # --- caller turns ---------------------------------------------------------------

    def hear(self, text: str) -> Action:
        """The next action after the caller said (or typed) ``text``; ``""`` is silence."""
        return self._understand(parse(text, self.today, expect=_HINTS.get(self.stage or "")))

    def hear_keys(self, keys: str) -> Action:
        """The next action after the caller pressed ``keys`` on the phone."""
        return self._understand(parse_keys(keys, expect=_HINTS.get(self.stage or "")))

    def _understand(self, u: Utterance) -> Action:
        if not u.text:  # silence: re-ask, without counting it as a miss
            return Say(f"Sorry, I didn't hear anything. {self.question or MENU}")
        if u.name and (self.stage == "name" or u.name != self.caller_name):
            self.caller_name = u.name
            if self.task == "book":
                self.slots.name = u.name
        action = self._respond(u) if u.understood or self.stage == "change" else None
        if action is None:
            return self._not_understood()
        self.failures = 0
        return action

    def on_event(self, name: str) -> Action:
        """The next action after a note from the phone system (not the caller's words).

        ``transfer_failed``: the caller was not put through and is still on
        the line: apologise, offer what else can be done, and stop offering
        the front desk. Any other event: ask the pending question again.
        """
        if name == TRANSFER_FAILED:
            self.transfer_failed = True
            self._start(None)
            self.resume = None
            return self._ask(replies.NOT_PUT_THROUGH, "anything_else")
        return Say(self.question or MENU)

    def _respond(self, u: Utterance) -> Action | None:
        intent = u.intent
        if intent is Intent.TRANSFER:
            return self._call("transfer_to_front_desk", reason="caller asked for a person")
        if self.stage == "confirm_transfer" and u.answer:
            if u.answer == "yes":
                return self._call("transfer_to_front_desk", reason="caller was not understood")
            stage, question = self.resume or (None, MENU)
            self.resume = None
            return self._ask(f"All right. {question}", stage)
        confirming = (self.stage or "").startswith("confirm")
        if intent is Intent.GOODBYE and not (confirming and u.answer == "yes"):
            return self._call("end_call", reason="caller said goodbye")
        if intent is Intent.REPEAT:
            return Say(self.last_reply or MENU)
        if intent in FACT_TOPICS:
            return self._call("clinic_info", topic=FACT_TOPICS[intent])
        if intent is Intent.GREETING:
            return self._ask(f"Hello! {self.question or 'How can I help you today?'}", self.stage)
        if intent is Intent.HELP:
            return self._ask(MENU, self.stage if self.task else None)
        if intent is Intent.ABORT or (
            intent is Intent.CANCEL and confirming and "appointment" not in u.text
        ):
            return self._abort()
        if intent is Intent.THANKS:
            if self.task and self.question:
                return self._ask(f"You're welcome. {self.question}", self.stage)
            return self._anything_else("You're welcome.")
        if intent is Intent.CANCEL:
            return self._start_listing("cancel", u)
        if intent is Intent.RESCHEDULE and not (self.task == "book" and " my " not in f" {u.text}"):
            self.slots = Slots(day=u.day, time=u.time, part_of_day=u.part_of_day)
            return self._start_listing("reschedule", u)
        if intent is Intent.MY_APPOINTMENTS:
            return self._start_listing("my_appointments", u)
        if intent is Intent.BOOK and self.task not in {"book"}:
            self._start("book")
            self._apply(u)
            return self._next_step()
        if intent is Intent.AVAILABILITY and self.task not in {"book", "reschedule"}:
            self._start("availability")
            self._apply(u)
            return self._next_step()
        return self._in_stage(u)

    def _in_stage(self, u: Utterance) -> Action | None:
        """A turn without a new request: an answer to what was asked, or a detail."""
        stage = self.stage
        if stage == "confirm_cancel":
            if u.answer == "yes" and self.target:
                return self._call("cancel_appointment", appointment_id=self.target.get("id"))
            if u.answer == "no":
                self._start(None)
                return self._anything_else("All right, I'll keep that appointment.")
            return None
        if stage == "pick_appt":
            return self._pick_appointment(u)
        if stage in {"anything_else", "offer_book", "retry_day", "offer_times"} or not stage:
            if u.answer == "no" and stage == "anything_else":
                return self._call("end_call", reason="caller needs nothing else")
            if u.answer == "no" and stage:
                self._start(None)
                return self._anything_else("All right.")
            if u.answer == "yes" and stage in {"anything_else", None} and not u.has_slots:
                return self._ask("Sure, what can I help you with?", None)
            if u.answer == "no" and self.task is None and not u.has_slots:
                return self._ask(f"All right. {MENU}", None)
            if u.answer == "yes" and stage == "offer_book":
                self._start("book")
                return self._next_step()
            if u.answer == "yes" and stage == "retry_day":
                return self._ask("Which day would you like me to check?", "day")
            if stage == "offer_times" and (u.time or u.selection is not None or u.answer):
                self.task = "book"
                if not self._take_offered(u):
                    return self._ask("Which time would you like?", "pick_time")
                return self._next_step()
            if self.task is None and (u.has_slots or u.name):
                if not u.has_slots and u.name:
                    return self._ask(
                        f"Thanks, {u.name.split()[0]}. How can I help you today?", None
                    )
                self._start("book")
            if self.task is None or not (u.has_slots or stage == "name"):
                return None
        if self.task in {"book", "reschedule"} and stage == "pick_time" and self._take_offered(u):
            self._apply(u, keep_time=True)
            return self._next_step()
        changed = self._apply(u)
        if stage in {"confirm_book", "confirm_reschedule"}:
            if changed:
                return self._next_step()
            if u.answer == "yes":
                return self._commit()
            if u.answer == "no" and stage == "confirm_reschedule":
                self.slots.day = self.slots.time = None
                return self._ask("Okay, what day and time would suit you instead?", "day")
            if u.answer == "no":
                return self._ask(replies.WHAT_TO_CHANGE, "change")
            return None
        if stage == "change" and not changed:
            return self._change(u)
        if changed or (stage == "name" and self._booking_name()):
            if u.correction and stage not in {"confirm_book", "confirm_reschedule"}:
                self.ack = "Got it. "  # the read-back will repeat the corrected detail
            return self._next_step()
        if stage == "pick_time" and u.answer == "no":
            self.slots.day = self.slots.time = None
            return self._ask("Which other day would suit you?", "day")
        if stage == "pick_time" and u.answer == "yes":
            return self._ask("Which time would you like?", "pick_time")
        return None

    # --- slot filling ---------------------------------------------------------------

    def _apply(self, u: Utterance, *, keep_time: bool = False) -> bool:
        """Copy the turn's details into the slots; True if anything changed."""
        s, changed = self.slots, False
        for name in ("appointment_type", "day", "part_of_day", "doctor") + (
            () if keep_time else ("time",)
        ):
            value = getattr(u, name)
            if value is not None and value != getattr(s, name):
                setattr(s, name, value)
                changed = True
                fits = s.time is None or (s.time < "12:00") == (value == "morning")
                if name == "part_of_day" and not u.time and not fits:
                    s.time = None  # "no, in the afternoon": the time no longer fits
        if u.name and self.task == "book" and u.name != s.name:
            s.name, changed = u.name, True
        return changed

    def _take_offered(self, u: Utterance) -> bool:
        """Pick one of the times just read out ("nine thirty", "the second one")."""
        times = [t for t, _ in self.offered]
        if u.time and u.time in times:
            pick = times.index(u.time)
        elif u.selection is not None and -len(times) <= u.selection < len(times):
            pick = u.selection % len(times)
        else:
            return False
        self.slots.time, doctor = self.offered[pick]
        if doctor and not self.slots.doctor:
            self.slots.doctor = doctor
        return True

    def _booking_name(self) -> str | None:
        return self.slots.name or self.caller_name

    def _next_step(self) -> Action:
        """Ask for the next missing detail, check the calendar, or read back to confirm."""
        s = self.slots
        if self.task == "availability":
            if not s.day:
                return self._ask("Which day would you like me to check?", "day")
            return self._check_day() or self._availability()
        if problem := self._check_day():
            return problem
        if self.task == "book" and not s.appointment_type:
            return self._ask(replies.WHICH_TYPE, "type")
        if not s.day:
            question = "What day would you like to come in?"
            if self.task == "reschedule" and self.target:
                return self._ask(
                    f"{replies.your_appointment(self.target)} What day would you like to move "
                    "it to?",
                    "day",
                )
            return self._ask(question, "day")
        if not s.time:
            if self.offered and self.offered_for == (s.day, s.part_of_day):
                return self._ask("Which time would you like?", "pick_time")
            return self._availability()
        if self.task == "reschedule" and self.target:
            return self._ask(replies.confirm_reschedule(self.target, s), "confirm_reschedule")
        if not self._booking_name():
            return self._ask("And what name should I put the appointment under?", "name")
        return self._ask(replies.confirm_booking(s, self._booking_name()), "confirm_book")

    def _check_day(self) -> Action | None:
        """Catch a past day, a Sunday or an hour the clinic is shut, before any tool call."""
        s = self.slots
        if s.day and s.day < self.today:
            s.day = s.time = None
            return self._ask("Sorry, that day has already passed. Which day would you like?", "day")
        if s.day and s.day.weekday() == 6:
            s.day = s.time = None
            return self._ask(f"Sorry, we're closed on Sundays. {replies.OTHER_DAY}", "day")
        if s.time and not replies.open_at(s.day, s.time):
            s.time = None
            return self._ask(f"Sorry, we're not open then. {replies.OPENING_HOURS}", "time")
        return None

    def _availability(self) -> Action:
        s = self.slots
        kind = s.appointment_type or (self.target or {}).get("appointment_type") or "checkup"
        return self._call(
            "check_availability",
            day=s.day.isoformat() if s.day else "",
            appointment_type=kind,
            part_of_day=s.part_of_day,
        )

    def _commit(self) -> Action:
        s = self.slots
        if self.task == "reschedule" and self.target:
            return self._call(
                "reschedule_appointment",
                appointment_id=self.target.get("id"),
                day=s.day.isoformat() if s.day else "",
                time=s.time or "",
            )
        args: dict[str, Any] = {
            "appointment_type": s.appointment_type,
            "day": s.day.isoformat() if s.day else "",
            "time": s.time,
            "name": self._booking_name(),
        }
        if s.doctor:
            args["doctor"] = s.doctor
        return self._call("book_appointment", **args)

    def _change(self, u: Utterance) -> Action | None:
        """After "no" to a read-back: which detail is wrong."""
        s = self.slots
        if m := re.search(r"\b(day|date|time|name|type|kind)\b", u.text):
            word = m.group(1)
            if word in {"day", "date"}:
                s.day = s.time = None
            elif word == "time":
                s.time = None
            elif word == "name":
                s.name = None
                self.caller_name = None
                return self._ask("What name should I put the appointment under?", "name")
            else:
                s.appointment_type = None
            return self._next_step()
        if re.search(r"\b(nothing|its fine|all good)\b", u.text):
            return self._next_step()  # read it back again
        if u.answer == "no":
            return self._abort()
        return None

    # --- existing appointments -------------------------------------------------------

    def _start_listing(self, task: Task, u: Utterance) -> Action:
        slots = self.slots if task == "reschedule" else Slots()
        self._start(task)
        self.slots, self.hint = slots, u
        return self._call("list_my_appointments")

    def _pick_appointment(self, u: Utterance) -> Action | None:
        matches = matching(self.appointments, u, ref=False)
        if len(matches) != 1:
            return None
        self.target = matches[0]
        return self._after_target()

    def _after_target(self) -> Action:
        if self.task == "cancel" and self.target:
            return self._ask(replies.confirm_cancel(self.target), "confirm_cancel")
        return self._next_step()
