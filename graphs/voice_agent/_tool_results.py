"""The receptionist's replies to tool results, read from the tools' artifacts.

Artifacts follow the Issue 3 contract (``{"ok": True, ...}`` or
``{"ok": False, "error": ...}``). A missing or unexpected artifact (a run
repaired after a cancel, a tool that failed) never raises: the caller hears an
apology and, where it helps, an offer of the front desk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spoken.saying import say_times, sentence, speakable

from . import _replies as replies
from ._dialogue_state import MENU, Action, DialogueState, Say, matching, upper_first

__all__ = ["ToolResults"]

_ASK_AGAIN = {  # refusal -> (what to ask again, how)
    "closed": ("day", replies.DAY_ERRORS["closed"]),
    "past": ("day", replies.DAY_ERRORS["past"]),
    "bad_day": ("day", "Sorry, I didn't catch the day. Which day would you like?"),
    "bad_time": ("time", f"Sorry, that time isn't possible. {replies.OPENING_HOURS}"),
    "unknown_type": ("type", replies.WHICH_TYPE),
    "missing_name": ("name", "What name should I put the appointment under?"),
}


class ToolResults(DialogueState):
    """``DialogueState`` plus one ``_after_<tool>`` handler per clinic tool."""

    def tool_result(
        self,
        name: str,
        args: Mapping[str, Any],
        artifact: Any,
        content: str,
        *,
        failed: bool = False,
    ) -> Action:
        """The next action after tool ``name`` (called with ``args``) returned.

        ``failed`` marks an error result (the tool raised, or a barge-in
        cancelled it before it ran): nothing changed, so neither does the
        dialogue; the pending question is asked again.
        """
        if failed and not isinstance(artifact, Mapping):
            return Say(f"Sorry, something went wrong on my side. {self.question or MENU}")
        art = artifact if isinstance(artifact, Mapping) else {}
        handler = getattr(self, f"_after_{name}", None)
        if handler is None:
            text = speakable(content) if content.strip() else "Done."
            return self._anything_else(text)
        return handler(args, art, content)

    def _after_check_availability(
        self, args: Mapping[str, Any], art: Mapping, content: str
    ) -> Action:
        s = self.slots
        if self.task is None:
            self._start("availability")
            s = self.slots
        if s.day is None and args.get("day"):
            s.day = replies.parse_iso(args.get("day"))
        if not art.get("ok"):
            return self._refused(art, replies.CALENDAR_DOWN)
        times = replies.distinct_times(art.get("slots") or [])[: replies.MAX_READ]
        self.offered = [(t, replies.doctor_at(art.get("slots") or [], t)) for t in times]
        self.offered_for = (s.day, s.part_of_day)
        when = replies.day_and_part(s.day, s.part_of_day)
        if not times:
            if self.task == "availability":
                return self._ask(
                    f"Sorry, nothing is free {when}. {replies.CHECK_OTHER}", "retry_day"
                )
            s.day = None
            return self._ask(f"Sorry, nothing is free {when}. {replies.OTHER_DAY}", "day")
        if self.task == "availability":
            listing = say_times(times, "and")
            offer = sentence(f"{upper_first(when)}, I have openings at {listing}")
            return self._ask(f"{offer} Would you like to book one of those?", "offer_times")
        offer = sentence(f"{upper_first(when)}, I have {say_times(times)}")
        return self._ask(f"{offer} Which time would you like?", "pick_time")

    def _after_book_appointment(
        self, args: Mapping[str, Any], art: Mapping, content: str
    ) -> Action:
        if art.get("ok") and isinstance(art.get("appointment"), Mapping):
            appointment = art["appointment"]
            self.caller_name = appointment.get("name") or self.caller_name
            self._start(None)
            return self._anything_else(f"You're all set: {replies.appointment(appointment)}")
        return self._refused(art, "Sorry, something went wrong and I couldn't book that.")

    def _after_reschedule_appointment(
        self, args: Mapping[str, Any], art: Mapping, content: str
    ) -> Action:
        if art.get("ok") and isinstance(art.get("appointment"), Mapping):
            moved = replies.your_appointment(art["appointment"], now=True)
            self._start(None)
            return self._anything_else(f"Done. {moved}")
        return self._refused(art, "Sorry, something went wrong and I couldn't move it.")

    def _refused(self, art: Mapping, failed: str) -> Action:
        """A tool said no: offer the alternatives, or ask again for what was wrong."""
        s, error = self.slots, str(art.get("error") or "")
        if error == "slot_taken":
            s.time = None
            alternatives = replies.alternative_times(art.get("alternatives") or [])
            if alternatives:
                self.offered = [(t, None) for t in alternatives]
                self.offered_for = (s.day, s.part_of_day)
                return self._ask(replies.taken_with_alternatives(s.day, alternatives), "pick_time")
            s.day = None
            return self._ask(f"Sorry, that time is already taken. {replies.OTHER_DAY}", "day")
        if error in _ASK_AGAIN:
            stage, text = _ASK_AGAIN[error]
            if stage == "day":
                s.day = s.time = None
            elif stage == "time":
                s.time = None
            elif stage == "type":
                s.appointment_type = None
            else:
                s.name = self.caller_name = None
            return self._ask(text, stage)
        if error == "unknown_doctor":
            s.doctor = None
            self.ack = "Sorry, I couldn't find that doctor. "
            return self._next_step()
        if error == "not_found":
            self._start(None)
            return self._anything_else("Sorry, I couldn't find that appointment.")
        if error == "no_caller_id":
            return self._offer_transfer(replies.NO_CALLER_ID)
        return self._offer_transfer(failed)

    def _after_cancel_appointment(
        self, args: Mapping[str, Any], art: Mapping, content: str
    ) -> Action:
        appointment = art.get("appointment") if art.get("ok") else None
        self._start(None)
        if isinstance(appointment, Mapping):
            return self._anything_else(
                f"Done. I've cancelled {replies.appointment(appointment, 'your')}"
            )
        return self._refused(art, "Sorry, something went wrong and I couldn't cancel it.")

    def _after_list_my_appointments(
        self, args: Mapping[str, Any], art: Mapping, content: str
    ) -> Action:
        if not art.get("ok"):
            self._start(None)
            return self._refused(art, replies.CALENDAR_DOWN)
        self.appointments = [
            dict(a) for a in art.get("appointments") or [] if isinstance(a, Mapping)
        ]
        task = self.task or "my_appointments"
        if not self.appointments:
            self._start(None)
            if task == "my_appointments":
                return self._ask(
                    replies.NO_APPOINTMENTS + " Would you like to book one?", "offer_book"
                )
            return self._anything_else(replies.NO_APPOINTMENTS)
        if task == "my_appointments":
            self._start(None)
            return self._anything_else(replies.list_appointments(self.appointments))
        matches = matching(self.appointments, self.hint, ref=task == "reschedule")
        if len(self.appointments) == 1 or len(matches) == 1:
            self.target = matches[0] if len(matches) == 1 else self.appointments[0]
            return self._after_target()
        verb = "cancel" if task == "cancel" else "move"
        return self._ask(
            replies.choose_appointment(self.appointments, verb),
            "pick_appt",
            question=f"Which one would you like to {verb}? You can say the first or the second.",
        )

    def _after_clinic_info(self, args: Mapping[str, Any], art: Mapping, content: str) -> Action:
        fact = str(art.get("text") or content or "").strip()
        text = speakable(fact) if fact else "Sorry, I don't have that information."
        if self.task and self.stage and self.question:
            return self._ask(f"{text} {self.question}", self.stage, question=self.question)
        return self._anything_else(text)

    def _after_transfer_to_front_desk(
        self, args: Mapping[str, Any], art: Mapping, content: str
    ) -> Action:
        self._start(None)
        if art and not art.get("ok", True):
            return self._anything_else("Sorry, I couldn't put you through just now.")
        return self._ask("Let me put you through to the front desk.", None)

    def _after_end_call(self, args: Mapping[str, Any], art: Mapping, content: str) -> Action:
        self._start(None)
        return self._ask(replies.CLOSING, None)
