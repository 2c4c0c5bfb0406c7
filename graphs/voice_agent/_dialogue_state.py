"""The receptionist's dialogue state and the primitives every reply goes through.

``DialogueState`` holds what the transcript implies (see ``_dialogue``): the
task, the details collected, the stage (what was just asked) and the misses in
a row. ``_ask`` records the question a reply ends with, so a miss or a side
question ("where do you park?") can re-ask it; ``_call`` keeps tool calls to
the tools that are bound.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from . import _replies as replies
from .nlu import Utterance

__all__ = [
    "MENU",
    "Action",
    "DialogueState",
    "Say",
    "Slots",
    "Task",
    "ToolCall",
    "matching",
    "upper_first",
]

Task = Literal["book", "availability", "cancel", "reschedule", "my_appointments"]
MENU = replies.MENU
TRANSFER_OFFER_AFTER = 2  # consecutive turns not understood before the front desk is offered
TRANSFER_ANYWAY_AFTER = 4  # still not understood while that offer is open: put them through


@dataclass(frozen=True, slots=True)
class Say:
    """Speak ``text`` to the caller and wait for their answer."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """Call the tool ``name`` with ``args`` (the model-visible arguments only)."""

    name: str
    args: dict[str, Any]


Action = Say | ToolCall


@dataclass(slots=True)
class Slots:
    """The details of the booking (or the new time of a reschedule) being collected."""

    appointment_type: str | None = None
    day: dt.date | None = None
    time: str | None = None
    part_of_day: str | None = None
    doctor: str | None = None
    name: str | None = None


@dataclass
class DialogueState:
    """What the conversation so far implies, and the ways of replying.

    Attributes:
        today: The date relative days are counted from.
        caller_name: The caller's name, from the system message or learned.
        tools: Names of the tools that may be called.
        task: The request in progress, if any.
        slots: Details of the booking or new time being collected.
        stage: What was just asked ("time", "confirm_book", ...), or None.
        question: The question the last reply ended with (re-asked after a miss).
        last_reply: The last thing said (for "say that again").
        offered: Times just read out, with a doctor free at each.
        offered_for: The (day, part of day) those times are for.
        appointments: The caller's appointments, as last listed.
        target: The listed appointment being cancelled or moved.
        hint: The turn that started a cancel or move ("my friday appointment").
        failures: Turns not understood in a row.
        resume: Stage and question to return to when the front desk is declined.
        ack: A short acknowledgement to put before the next question.
        transfer_failed: A transfer did not go through on this call, so the
            front desk is not offered again (the caller may still ask for it).
    """

    today: dt.date
    caller_name: str | None = None
    tools: frozenset[str] = frozenset()
    task: Task | None = None
    slots: Slots = field(default_factory=Slots)
    stage: str | None = None
    question: str = ""
    last_reply: str = ""
    offered: list[tuple[str, str | None]] = field(default_factory=list)
    offered_for: tuple[dt.date | None, str | None] | None = None
    appointments: list[dict[str, Any]] = field(default_factory=list)
    target: dict[str, Any] | None = None
    hint: Utterance | None = None
    failures: int = 0
    resume: tuple[str | None, str] | None = None
    ack: str = ""
    transfer_failed: bool = False

    def _next_step(self) -> Action:  # the policy, in ``ClinicDialogue``
        raise NotImplementedError

    def _after_target(self) -> Action:  # the policy, in ``ClinicDialogue``
        raise NotImplementedError

    # --- replies --------------------------------------------------------------------

    def _not_understood(self) -> Action:
        self.failures += 1
        can_transfer = self._can_offer_transfer()
        if self.stage == "confirm_transfer":
            if self.failures >= TRANSFER_ANYWAY_AFTER and can_transfer:
                return self._call("transfer_to_front_desk", reason="caller was not understood")
            return Say(f"Sorry, I didn't catch that. {replies.TRANSFER_OFFER} {replies.KEYS_HINT}")
        if self.failures >= TRANSFER_OFFER_AFTER and can_transfer:
            self.resume = (self.stage, self.question or MENU)
            return self._ask(
                f"Sorry, I'm still having trouble understanding. {replies.TRANSFER_OFFER}",
                "confirm_transfer",
                question=replies.TRANSFER_OFFER,
            )
        if self.stage not in {None, "anything_else"} and self.question:
            return self._ask(f"Sorry, I didn't catch that. {self.question}", self.stage)
        return self._ask(f"Sorry, I didn't catch that. {MENU}", None, question="")

    def _abort(self) -> Action:
        self._start(None)
        return self._anything_else("All right, I've left everything as it was.")

    def _anything_else(self, lead: str) -> Action:
        return self._ask(f"{lead} {replies.ANYTHING_ELSE}", "anything_else")

    def _start(self, task: Task | None) -> None:
        self.task, self.slots, self.target, self.hint = task, Slots(), None, None
        self.offered, self.offered_for = [], None

    def _ask(self, text: str, stage: str | None, *, question: str | None = None) -> Say:
        """Say ``text``; its last sentence (or ``question``) is re-asked after a miss."""
        self.stage = stage
        text, self.ack = self.ack + text, ""
        if question is None:
            parts = re.split(r"(?<=[.!])\s+(?=[A-Z])", text)
            question = parts[-1] if stage else ""
        self.question = question
        return self._say(text)

    def _say(self, text: str) -> Say:
        self.last_reply = text
        return Say(text)

    def _call(self, tool: str, /, **args: Any) -> Action:
        self.ack = ""
        if tool in self.tools:
            return ToolCall(tool, args)
        if tool == "end_call":
            return self._ask(replies.CLOSING, None)
        if tool == "transfer_to_front_desk":
            return self._anything_else("Sorry, I can't transfer calls on this line.")
        self._start(None)
        return self._anything_else("Sorry, I can't do that on this line right now.")

    def _can_offer_transfer(self) -> bool:
        return "transfer_to_front_desk" in self.tools and not self.transfer_failed

    def _offer_transfer(self, lead: str) -> Action:
        self._start(None)
        if not self._can_offer_transfer():
            return self._anything_else(lead)
        self.resume = (None, MENU)
        return self._ask(f"{lead} {replies.TRANSFER_OFFER}", "confirm_transfer")


def matching(
    appointments: list[dict[str, Any]], u: Utterance | None, *, ref: bool
) -> list[dict[str, Any]]:
    """The listed appointments a turn points at: by position, day, time, type or doctor."""
    if u is None:
        return list(appointments)
    read = appointments[: replies.MAX_READ]  # a position refers to what was read out
    if u.selection is not None and -len(read) <= u.selection < len(read):
        return [read[u.selection]]
    day, time = (u.ref_day, u.ref_time) if ref else (u.day, u.time)
    wanted = {
        "day": day.isoformat() if day else None,
        "time": time,
        "appointment_type": u.appointment_type,
        "doctor": u.doctor,
    }
    wanted = {k: v for k, v in wanted.items() if v}
    if not wanted:
        return list(appointments)
    return [a for a in appointments if all(a.get(k) == v for k, v in wanted.items())]


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]
