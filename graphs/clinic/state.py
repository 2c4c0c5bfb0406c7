"""The checkpointed state of one clinic call: where the call is and what is known.

Every value is JSON-safe (days as ISO strings, appointments as plain
mappings), so the checkpoint, Studio's state panel and a ``langgraph-sdk``
dump all show the same thing: the task, the details collected, the question
the last reply asked (``stage``) and what the last turn was understood as
(``heard``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, cast

from langchain_core.messages import AnyMessage

# Not ``typing.TypedDict``: Studio's state schema is built by pydantic, which
# takes only ``typing_extensions``' on Python < 3.12.
from typing_extensions import TypedDict

from memory.window import windowed_messages

__all__ = [
    "EMPTY_SLOTS",
    "MESSAGE_WINDOW",
    "Heard",
    "InputState",
    "Request",
    "Resume",
    "Slots",
    "Stage",
    "State",
    "Task",
    "slot_values",
]

MESSAGE_WINDOW = 40  # ~10 caller turns of context: enough for any booking dialogue
# One reducer object: LangGraph compares the input and full schemas' channels by identity.
keep_recent_messages = windowed_messages(MESSAGE_WINDOW)

Task = Literal["book", "availability", "cancel", "reschedule", "my_appointments"]
"""The request in progress."""

Stage = Literal[
    "type",
    "day",
    "time",
    "name",
    "number",
    "name_on_booking",
    "pick_time",
    "pick_appt",
    "confirm_book",
    "confirm_cancel",
    "confirm_reschedule",
    "confirm_transfer",
    "confirm_value",
    "doctor",
    "anything_else",
    "offer_book",
    "offer_times",
    "retry_day",
    "change",
]
"""What the last reply asked for, so that "yes", "three" or "maria lopez" can be read."""

Request = Literal[
    "person",
    "accept_transfer",
    "decline_transfer",
    "goodbye",
    "done",
    "repeat",
    "info",
    "hello",
    "help",
    "thanks",
    "abort",
    "keep",
    "declined",
    "what_else",
    "menu",
    "named",
    "cancel",
    "reschedule",
    "my_appointments",
    "book",
    "availability",
    "details",
    "take_offer",
    "retry_day",
    "other_day",
    "which_time",
    "pick_appointment",
    "confirm",
    "refuse",
    "change_detail",
    "value_ok",
    "value_wrong",
    "identity",
    "silence",
    "event",
    "transfer_failed",
]
"""What the latest caller turn asks the receptionist to do, read against the stage
(a yes to "Shall I book it?" is ``confirm``, a no is ``refuse``)."""


class Slots(TypedDict):
    """The details of the booking (or of the new time of a move) being collected."""

    appointment_type: str | None
    """``checkup``, ``consultation`` or ``vaccination``."""
    day: str | None
    """The day, ``YYYY-MM-DD``."""
    time: str | None
    """The start time, ``HH:MM`` (24 h)."""
    part_of_day: str | None
    """``morning`` or ``afternoon``, when the caller said which."""
    doctor: str | None
    """``Dr. Patel`` or ``Dr. Nguyen``, when asked for (or free at the time picked)."""
    name: str | None
    """The patient's name for the booking (the caller's name when not given)."""


EMPTY_SLOTS = Slots(
    appointment_type=None, day=None, time=None, part_of_day=None, doctor=None, name=None
)


def slot_values(slots: Slots) -> dict[str, str | None]:
    """A copy of the details as a plain mapping, to look one up by a name in a variable."""
    return cast("dict[str, str | None]", slots).copy()


class Heard(TypedDict):
    """One caller turn as it was understood (``graphs.clinic.nlu.Utterance``, JSON-safe)."""

    text: str
    """The words, folded to lower case (the keys, for a keyed turn)."""
    intent: str | None
    """The strongest intent found (``book``, ``cancel``, ``goodbye``, ...)."""
    answer: Literal["yes", "no"] | None
    """A yes or a no, when the turn answers a yes/no question."""
    correction: bool
    """The turn corrects a detail ("no, wednesday", "actually four")."""
    slots: Slots
    """The booking details the turn names (``name`` is the person's name heard)."""
    selection: int | None
    """An index into what was just read out ("the second one": 1; the last: -1)."""
    dtmf: str | None
    """The keypad key, when the turn is one key."""
    ref_day: str | None
    """For a move: the day of the appointment to move."""
    ref_time: str | None
    """For a move: the time of the appointment to move."""
    sure: dict[str, float]
    """How sure the understanding step is of each value the turn gave, in [0, 1], by
    its slot name (``day``, ``doctor``, ``from_day``...): a value below
    :data:`graphs.clinic.policy.CONFIRM_BELOW` is confirmed before it is used."""
    source: str
    """Which understander read the turn: ``rules``, or ``rules+model`` when the chat
    model was asked too."""


class Resume(TypedDict):
    """The question to go back to after an aside (the offer of the front desk)."""

    stage: Stage | None
    """The stage it left."""
    question: str
    """The question to ask again there."""


@dataclass
class InputState:
    """What one caller turn brings in (also the input form Studio shows)."""

    messages: Annotated[list[AnyMessage], keep_recent_messages] = field(default_factory=list)
    """The recent conversation: caller turns (tagged, see ``dialgraph.caller_turn``),
    the receptionist's replies, tool calls and their results. Bounded so every
    turn costs the same however long the call; the whole call is in its transcript."""


@dataclass
class State(InputState):
    """The whole state of a clinic call."""

    caller_name: str | None = None
    """The caller's name, once known (from memory, the calendar, or said on this call)."""

    greeted: bool = False
    """Whether the call has been greeted."""

    today: str = ""
    """The call's date, ``YYYY-MM-DD``: "tomorrow" and "friday" are counted from it."""

    task: Task | None = None
    """The request in progress: book, availability, cancel, reschedule, my_appointments."""

    slots: Slots = field(default_factory=lambda: Slots(**EMPTY_SLOTS))
    """The details of the booking or move being collected since the last finished task."""

    stage: Stage | None = None
    """What the last reply asked for; ``None`` when it asked nothing in particular."""

    question: str = ""
    """The question the last reply ended with: asked again after a miss or a side question."""

    last_reply: str = ""
    """The last thing said (for "say that again")."""

    request: Request | None = None
    """What the latest caller turn asked for; ``None`` when it was not understood."""

    heard: Heard | None = None
    """What the latest caller turn was understood as (``None`` for silence and events)."""

    offered: list[list[str | None]] = field(default_factory=list)
    """Times just read out, each ``[time, doctor free then or None]``."""

    offered_for: list[str | None] | None = None
    """The ``[day, part of day]`` the offered times are for."""

    appointments: list[dict[str, Any]] = field(default_factory=list)
    """The caller's upcoming appointments, as last listed."""

    target: dict[str, Any] | None = None
    """The listed appointment being cancelled or moved."""

    unsure: list[str] = field(default_factory=list)
    """Details taken from a turn that was not clearly heard (``doctor``, ``day``...),
    each confirmed with the caller ("Was that Dr. Nguyen?") before the task goes on."""

    hint: Heard | None = None
    """The turn that started a cancel or a move ("my friday appointment")."""

    misses: int = 0
    """Caller turns in a row that were not understood (two: offer the front desk)."""

    resume: Resume | None = None
    """Where to go back to when the offer of the front desk is declined."""

    ack: str = ""
    """A short acknowledgement the next question starts with ("Got it. ")."""

    transfer_failed: bool = False
    """A transfer did not go through on this call: the front desk is not offered again."""

    caller_known: bool = False
    """The caller is known: by caller ID, or by the number and name on a booking."""

    identified: str = ""
    """The number on the booking (E.164) a caller without caller ID proved with their
    name: it stands for the caller ID on this call's look-ups and changes."""

    number_given: str = ""
    """The number on the booking a caller without caller ID gave, before it is checked."""

    identity_tries: int = 0
    """Numbers or names given that matched no booking (two: stop asking)."""
