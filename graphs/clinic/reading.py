"""How the clinic reads one caller turn: the clinic's NLU, plus four fixes from issue 15.

:func:`read_turn` reads a spoken or keyed turn with
:func:`graphs.clinic.nlu.parse` / ``parse_keys``, told what the last
reply asked for (the stage), and returns it as a JSON-safe :class:`Heard`
for the state. On top of the NLU it corrects what issue 15 found wrong in
the old flow:

- a person is asked for only by a request ("can I speak to someone", "the
  front desk, please", the 0 key), not by a word in passing ("my husband is
  a real person who needs a checkup", "the human papillomavirus vaccine");
  such a turn is read again with the person words left out;
- goodbyes in ordinary forms ("great, thanks so much, bye", "alright,
  cheers, bye now") end the call;
- "do you take Blue Cross?" is an insurance question, and "how much is a
  checkup without insurance?" one about prices;
- "i'm" introduces a name only at the start of a turn ("my doctor says i'm
  due one" does not book under the name "Due").

(Confirmations with more words, "yes, cancel it please", are read against
the stage, in :func:`graphs.clinic.policy.decide`.)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from dialgraph import CallerTurn, Understanding
from graphs.clinic.nlu import Expect, Intent, Utterance, parse, parse_keys
from graphs.clinic.state import Heard, Slots, Stage
from spoken.words import fold

__all__ = ["asks_for_person", "heard_from", "heard_of", "nlu_expect", "read", "read_turn"]

_NLU_EXPECT: dict[str, Expect] = {
    "type": "type",
    "day": "day",
    "time": "time",
    "name": "name",
    "name_on_booking": "name",
    "pick_time": "choice",
    "pick_appt": "choice",
    "offer_times": "choice",
    "retry_day": "day",
}
"""What the NLU is told to expect after each stage, so bare answers ("three") count."""

_PERSON = (
    r"(person|human|someone|somebody|anyone|operator|receptionist|representative|front desk"
    r"|reception|agent|staff|nurse|doctor|dr|people)"
)
_ASKS_FOR_PERSON = re.compile(
    r"\b(transfer me|put me through|connect me|transfer (the call|my call))\b"
    rf"|\b(talk|speak|chat)( \w+)? (to|with)\b.*\b{_PERSON}\b"
    rf"|\b(want|need|like|get|have|reach|give me)( \w+)?( a| an| the| some)?"
    r"( real| live| actual)? (person|human|operator|receptionist|representative|front desk"
    r"|reception)\b"
    r"|^(um |uh |well |can i have |can i get )?(a |an |the )?(real |live |actual )?(person"
    r"|human|operator|receptionist|representative|front desk|reception|someone)( please)?$"
)
_PERSON_WORDS = re.compile(
    r"\b(human|receptionist|operator|representative|front desk|reception|real person"
    r"|live person|actual person|a person|the person|staff member|talk|speak|chat)\b"
)
_FAREWELL = re.compile(
    r"\b(bye|goodbye|good bye|bye bye|cheers|take care|see you|see ya"
    r"|have a (good|nice|great|lovely) (day|one|evening|weekend|afternoon))( now| then| for now)?$"
    r"|\b(thanks|thank you|cheers|much|lot)\b.*\bby( by)?$"  # the recogniser's "bye"
)
_INSURER = re.compile(
    r"\b(blue cross|blue shield|aetna|cigna|united ?health\w*|humana|kaiser)\b"
    r"|\b(do|does) (you|the clinic|your clinic) (take|accept)\b"
)
_HOW_MUCH = re.compile(r"\b(how much|what does (it|a \w+|an \w+) cost|price of)\b")
_FAREWELL_INTENTS = (None, Intent.THANKS, Intent.GREETING)
_NAMED_ANYWHERE = (
    r"\b(my name is|my names|the name is|name is|names|this is|call me|under the name of"
    r"|under the name|under name|under)"
)
_NAMED_FIRST = r"^((hi|hello|hey|yes|yeah|um|uh|oh|well|so|ok|okay) )*(its|it is|im|i am)"


def asks_for_person(text: str) -> bool:
    """Whether the words ask to be put through to a person (not mention one)."""
    return bool(_ASKS_FOR_PERSON.search(fold(text)))


def _introduced(text: str, name: str) -> bool:
    """Whether ``name`` is introduced as one: "my name is ...", "this is ...", anywhere;
    "i'm ..." only at the start ("my doctor says i'm due one" names no one)."""
    said = re.escape(name.lower())
    return bool(
        re.search(rf"{_NAMED_ANYWHERE} {said}\b", text)
        or re.search(rf"{_NAMED_FIRST} {said}\b", text)
    )


def _corrected(u: Utterance, today: dt.date, expect: Expect | None) -> Utterance:
    """The NLU's reading with issue 15's fixes (see the module docstring)."""
    if u.intent is Intent.TRANSFER and u.dtmf is None and not asks_for_person(u.text):
        masked = " ".join(_PERSON_WORDS.sub(" ", u.text).split())
        u = parse(masked, today, expect=expect)
    if u.name and expect != "name" and not _introduced(u.text, u.name):
        u = dataclasses.replace(u, name=None)
    if u.intent in _FAREWELL_INTENTS and not u.has_slots and _FAREWELL.search(u.text):
        return dataclasses.replace(u, intent=Intent.GOODBYE, answer=None)
    if u.intent is None and _INSURER.search(u.text):
        return dataclasses.replace(u, intent=Intent.INSURANCE)
    if u.intent is Intent.INSURANCE and _HOW_MUCH.search(u.text):
        return dataclasses.replace(u, intent=Intent.PRICES)
    return u


def nlu_expect(stage: Stage | None) -> Expect | None:
    """What the NLU is told to expect after ``stage`` (``None``: nothing in particular)."""
    return _NLU_EXPECT.get(stage or "")


def read(turn: CallerTurn, today: dt.date, expect: Expect | None) -> Utterance:
    """Understand a spoken or keyed caller turn, told what answer to expect."""
    if turn["source"] == "dtmf":
        return parse_keys(turn.get("digits") or turn["text"], expect=expect)
    return _corrected(parse(turn["text"], today, expect=expect), today, expect)


def read_turn(turn: CallerTurn, today: dt.date, stage: Stage | None) -> Utterance:
    """Understand a spoken or keyed caller turn, given what the last reply asked for."""
    return read(turn, today, nlu_expect(stage))


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def heard_of(u: Utterance) -> Heard:
    """The turn as it goes into the state (JSON-safe; days as ISO strings)."""
    return Heard(
        text=u.text,
        intent=str(u.intent) if u.intent else None,
        answer=u.answer,
        correction=u.correction,
        slots=Slots(
            appointment_type=u.appointment_type,
            day=_iso(u.day),
            time=u.time,
            part_of_day=u.part_of_day,
            doctor=u.doctor,
            name=u.name,
        ),
        selection=u.selection,
        dtmf=u.dtmf,
        ref_day=_iso(u.ref_day),
        ref_time=u.ref_time,
        sure={},
        source="rules",
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def heard_from(found: Understanding) -> Heard:
    """The turn as the understanding step read it, as it goes into the state.

    The slot names are :data:`graphs.clinic.meaning.MEANING`'s; ``sure`` keeps
    the confidence of every detail and name the turn gave.
    """
    value = found.value
    selection = value("selection")
    return Heard(
        text=found.text,
        intent=found.intent,
        answer=found.answer,
        correction=found.correction,
        slots=Slots(
            appointment_type=_text(value("appointment_type")),
            day=_text(value("day")),
            time=_text(value("time")),
            part_of_day=_text(value("part_of_day")),
            doctor=_text(value("doctor")),
            name=_text(value("name")),
        ),
        selection=None if not isinstance(selection, int) else max(selection - 1, -1),
        dtmf=_text(value("key")),
        ref_day=_text(value("from_day")),
        ref_time=_text(value("from_time")),
        sure={name: round(slot.confidence, 3) for name, slot in found.slots.items()},
        source=found.source,
    )
