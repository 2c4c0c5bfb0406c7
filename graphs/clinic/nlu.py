"""Understand one caller turn for the Riverside Family Clinic receptionist.

How it works: ``spoken.words.fold`` turns recognised speech or typed text into
lower-case words (pocketsphinx already writes that way; typed text, "3pm",
"p.m." and "Dr." are folded into the same shape). ``parse`` then reads, in
this order, the day (relative to an injected ``today``), the time, the part of
day, the appointment type, the doctor, a name, a yes/no answer, a choice from
a list read out ("the second one"), a key typed as words ("press one") and the
intent. Words used for the day are masked before the time is read, so "the
third" never becomes 3 p.m. When a phrase mentions two values of one slot
("tuesday, no, wednesday") the last one wins, which is how people correct
themselves. Keys pressed on the phone arrive tagged, apart from speech, and
are read by ``parse_keys``.

Bare numbers are times only when the dialogue asked for a time, after a
correction word ("no, make it four"), or after "at"; "three" then means 15:00
and "nine" 09:00 because the clinic is open 09:00-17:00. Days, times, parts
of the day and number words are read by :mod:`spoken` (one meaning for the
tools and this dialogue); what is the clinic's here is when it opens and
what its callers ask for.

Everything here is pure and deterministic: same text, same ``today``, same
result.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypedDict

from spoken.days import find_days, ordinal_only
from spoken.names import MONTHS, WEEKDAYS
from spoken.numbers import CARDINALS, ORDINALS
from spoken.times import PartOfDay, find_times, parse_part_of_day
from spoken.words import fold
from tools.clinic import OPENING_HOURS, OPENS_AT_HOUR

from .answers import correction_marked, dtmf_key, no_answer, selection, yes_answer

__all__ = [
    "APPOINTMENT_TYPES",
    "CLINIC_CLOSE_HOUR",
    "CLINIC_OPEN_HOUR",
    "DOCTORS",
    "FACT_TOPICS",
    "Expect",
    "Intent",
    "Utterance",
    "parse",
    "parse_appointment_type",
    "parse_doctor",
    "parse_keys",
    "parse_name",
]

CLINIC_OPEN_HOUR = OPENS_AT_HOUR
"""An hour said without a.m./p.m. below it is the afternoon ("three" is 15:00)."""
CLINIC_CLOSE_HOUR = max(closes.hour for _, closes in OPENING_HOURS.values())

APPOINTMENT_TYPES = ("checkup", "consultation", "vaccination")
DOCTORS = ("Dr. Patel", "Dr. Nguyen")

Expect = Literal["time", "day", "name", "type", "choice", "yes_no"]
"""What the dialogue just asked for; it lets bare answers ("three", "maria lopez") count."""


class Intent(StrEnum):
    """What the caller wants from this turn (``None`` on an ``Utterance``: no intent words)."""

    BOOK = "book"
    AVAILABILITY = "availability"
    MY_APPOINTMENTS = "my_appointments"
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"
    HOURS = "hours"
    ADDRESS = "address"
    PARKING = "parking"
    INSURANCE = "insurance"
    PRICES = "prices"
    DOCTORS = "doctors"
    TRANSFER = "transfer"
    GOODBYE = "goodbye"
    THANKS = "thanks"
    GREETING = "greeting"
    HELP = "help"
    REPEAT = "repeat"
    ABORT = "abort"


FACT_TOPICS: dict[Intent, str] = {
    Intent.HOURS: "hours",
    Intent.ADDRESS: "address",
    Intent.PARKING: "parking",
    Intent.INSURANCE: "insurance",
    Intent.PRICES: "prices",
    Intent.DOCTORS: "doctors",
}
"""Intents answered by the ``clinic_info`` tool, with the tool's topic."""


class _Slots(TypedDict):
    """The booking details one turn can name (the :class:`Utterance` fields of the same names)."""

    day: dt.date | None
    time: str | None
    part_of_day: PartOfDay | None
    appointment_type: str | None
    doctor: str | None


@dataclass(frozen=True, slots=True)
class Utterance:
    """One caller turn, understood.

    Attributes:
        text: The normalised text.
        intent: The strongest intent found, if any.
        answer: ``"yes"`` or ``"no"`` when the turn answers a yes/no question.
        correction: The turn corrects a value ("no, wednesday", "actually four").
        day: The day named (for a reschedule: the new day).
        time: The time named, ``"HH:MM"`` 24 h (for a reschedule: the new time).
        part_of_day: ``"morning"`` or ``"afternoon"``.
        appointment_type: One of ``APPOINTMENT_TYPES``.
        doctor: One of ``DOCTORS``.
        name: A person's name, title-cased.
        selection: Index into a list just read out (``-1`` = the last one).
        dtmf: The keypad key pressed, if the turn is a key press.
        ref_day: For a reschedule, the day of the appointment to move.
        ref_time: For a reschedule, the time of the appointment to move.
    """

    text: str
    intent: Intent | None = None
    answer: Literal["yes", "no"] | None = None
    correction: bool = False
    day: dt.date | None = None
    time: str | None = None
    part_of_day: PartOfDay | None = None
    appointment_type: str | None = None
    doctor: str | None = None
    name: str | None = None
    selection: int | None = None
    dtmf: str | None = None
    ref_day: dt.date | None = None
    ref_time: str | None = None

    @property
    def has_slots(self) -> bool:
        """Whether the turn carries any booking detail."""
        return any(
            v is not None
            for v in (self.day, self.time, self.part_of_day, self.appointment_type, self.doctor)
        )

    @property
    def understood(self) -> bool:
        """False for silence and for speech in which nothing useful was found."""
        return bool(
            self.intent
            or self.answer
            or self.has_slots
            or self.name
            or self.selection is not None
            or self.dtmf
        )


# --- slots ------------------------------------------------------------------------

_TYPE_PATTERNS = (
    (
        "vaccination",
        re.compile(
            r"\b(vaccin\w*|shots?|jabs?|flu|immuni[sz]\w*|boosters?|covid|tetanus|injections?)\b"
        ),
    ),
    (
        "checkup",
        re.compile(
            r"\b(check ?ups?|physicals?|(annual|routine|yearly|general) (exam|visit|check)\w*"
            r"|exam|examination|wellness visit)\b"
        ),
    ),
    (
        "consultation",
        re.compile(
            r"\b(consult\w*|see (the |a )?(doctor|dr)|doctor visit|sick visit|appointment with "
            r"(the |a )?(doctor|dr))\b"
        ),
    ),
)


def parse_appointment_type(text: str) -> str | None:
    """ "checkup", "consultation" or "vaccination" from their everyday names."""
    t = fold(text)
    hits = [(m.start(), kind) for kind, rx in _TYPE_PATTERNS if (m := rx.search(t))]
    return min(hits)[1] if hits else None


_PATEL = re.compile(r"\b(patel|pattel|patil|pat el)\b")
_NGUYEN = re.compile(
    r"\b(nguyen|nguyens|new yen|new when|new win|nu yen|nuyen|nwin)\b"
    r"|\b(dr|doctor|doc|with) (win|wen|when|gwen)\b"
)


def parse_doctor(text: str) -> str | None:
    """ "Dr. Patel" or "Dr. Nguyen", including how the recogniser may spell Nguyen."""
    t = fold(text)
    hits = [
        (m.start(), doc)
        for doc, rx in zip(DOCTORS, (_PATEL, _NGUYEN), strict=True)
        if (m := rx.search(t))
    ]
    return min(hits)[1] if hits else None


_NAME_LEAD = re.compile(
    r"\b(?:my name is|my names|the name is|name is|names|this is|its|it is|im|i am|call me"
    r"|under the name of|under the name|under name|under)\s+"
)
_FILLERS = frozenset(
    "yes yeah yep sure ok okay um uh er its it is the name names my im i am this "
    "oh well so please thanks thank you".split()
)
_NON_NAME = frozenset(
    (
        "a an the and or but to for with at on in of from by my me i im id ive ill you your "
        "it its is are was be this that these there here what when where who why how which "
        "please thanks thank yes yeah yep no nope not ok okay sure fine good great right "
        "correct wrong well just so um uh er hi hello hey calling looking trying going want "
        "wanted need like would could can do does have has get got make book booking booked "
        "appointment appointments cancel move change reschedule check up checkup physical "
        "consultation vaccination shot flu vaccine jab doctor dr nurse clinic today tomorrow "
        "morning afternoon evening next am pm oclock noon free available time day week "
        "someone somebody person human receptionist operator representative front desk bye "
        "goodbye speak talk help again sorry actually meant mean instead also still "
        "whatever anything something nothing all done back later soon now"
    ).split()
    + list(WEEKDAYS)
    + list(MONTHS)
    + list(CARDINALS)
    + list(ORDINALS)
)


def _name_words(words: list[str]) -> list[str]:
    out: list[str] = []
    for w in words:
        if w in _NON_NAME or not w.isalpha() or len(w) < 2:
            break
        out.append(w)
        if len(out) == 3:
            break
    return out


def parse_name(text: str, *, bare: bool = False) -> str | None:
    """A person's name: "my name is maria lopez", "this is john", "it's priya sharma".

    With ``bare`` (the dialogue just asked for a name) a turn that is only a
    name ("maria lopez", "yes it's maria") counts too.
    """
    t = fold(text)
    for m in _NAME_LEAD.finditer(t):
        if words := _name_words(t[m.end() :].split()):
            return " ".join(words).title()
    if bare:
        words = t.split()
        while words and words[0] in _FILLERS:
            words = words[1:]
        while words and words[-1] in {"please", "thanks", "thank", "you"}:
            words = words[:-1]
        if 1 <= len(words) <= 3 and _name_words(words) == words:
            return " ".join(words).title()
    return None


# --- intents -----------------------------------------------------------------------

_INTENT_RULES: tuple[tuple[Intent, re.Pattern[str]], ...] = tuple(
    (intent, re.compile(rx))
    for intent, rx in (
        (
            Intent.TRANSFER,
            r"\b(human|receptionist|operator|representative|front desk|reception|real person"
            r"|live person|actual person|a person|the person|staff member|transfer me"
            r"|put me through)\b|\b(talk|speak|connect me|chat)\b.*\b(someone|somebody|anyone"
            r"|person|doctor|dr|nurse|agent|staff|people)\b",
        ),
        (
            Intent.GOODBYE,
            r"\b(good ?bye|bye bye|hang up|have a (good|nice|great) (day|one|evening|weekend)"
            r"|thats all|that is all|thats everything|nothing else|im done|im all set"
            r"|that will be all|thatll be all|thats it for (now|today))\b"
            r"|^bye\b|\b(thanks|thank you|ok|okay|alright|great|perfect|cheers) (bye|by)$"
            # the recogniser writes "bye" as "by": "thank you by by", "no thank the by"
            r"|\b(bye|by) (bye|by)$|\bthank(s| you)?( \w+)? by$|^(at |that )?all thank you",
        ),
        (
            Intent.ABORT,
            r"\b(never ?mind|forget (it|about it|that)|scratch that|dont bother|dont book"
            r"|leave it|dont do (it|that))\b",
        ),
        (Intent.CANCEL, r"\bcancel\w*\b|\bcall off\b"),
        (
            Intent.RESCHEDULE,
            r"\bre ?schedul\w*|\b(move|change|switch|shift|push|bring)\b( \w+){0,3}"
            r" (appointment|booking|visit)\b"
            # "move it to friday", "can we change that to ten": a pronoun and a new time
            r"|\b(move|change|switch|shift|push|bring)\b (it|that|this)\b( \w+)?"
            r"(?= (to|till|until)\b)",
        ),
        (Intent.PARKING, r"\b(park|parking|car park|garage)\b"),
        (
            Intent.INSURANCE,
            r"\b(insurance|insured|insurer|medicare|medicaid|coverage|covered)\b"
            r"|\b(accept|take) my (plan|card)\b",
        ),
        (
            Intent.PRICES,
            r"\b(price|prices|pricing|cost|costs|how much|fee|fees|charge|charges|expensive"
            r"|afford|pay|payment)\b",
        ),
        (
            Intent.BOOK,
            r"\b(book|schedule|make an? (new )?(appointment|booking)|set up an? (appointment|visit)"
            r"|(get|need|want|like) an? (new )?appointment|come in|new appointment)\b",
        ),
        (
            Intent.MY_APPOINTMENTS,
            r"\bmy (upcoming |next |existing )?(appointments?|bookings?|visits?)\b"
            r"|\b(do|did) i have (an? |any )?(appointments?|bookings?)\b|\bwhat appointments\b"
            r"|\bwhen is my\b|\b(am i|have i got anything|do i have anything) (booked|scheduled)\b"
            r"|\bwhat (do|did) i have (booked|scheduled|coming up)\b|\bupcoming appointments?\b",
        ),
        (
            Intent.AVAILABILITY,
            r"\b(free|available|availability|openings?|open slots?|slots?|spots?)\b"
            r"|\bwhat (times? |else )?(do|did|can) you (have|offer)\b|\bwhat have you got\b"
            r"|\bany ?thing (open|on|for)\b|\bsomething (open|on)\b|\bwhats open\b"
            r"|\bwhen (can|could) i\b|\bany (times?|appointments?)\b|\bfit me in\b"
            r"|\bwhats the earliest\b",
        ),
        (
            Intent.DOCTORS,
            r"\b(which|what) doctors?\b|\bdoctors (do you have|work|are there)\b"
            r"|\bwho (are|is) (the|your) doctors?\b",
        ),
        (
            Intent.HOURS,
            r"\b(hours|open|opening|opens|close|closing|closes|closed)\b|\bwhat time do you\b"
            r"|\bhow late\b|\bhow early\b",
        ),
        (
            Intent.ADDRESS,
            r"\b(address|where|located|location|directions|find you|get there|get to you)\b",
        ),
        (
            Intent.THANKS,
            r"^(ok |okay |great |perfect |oh |alright )?(thanks|thank you)( (very|so) much"
            r"| a lot)?$",
        ),
        (Intent.GREETING, r"^(hi|hello|hey|good (morning|afternoon|evening))( there)?$"),
        (Intent.HELP, r"\b(help|what can you do|options|menu)\b"),
        (
            Intent.REPEAT,
            r"\b(repeat|say (that|it) again|come again|pardon|what did you say|didnt (catch|hear)"
            r"|one more time)\b|^(sorry|what|huh|excuse me|sorry what|what was that|say again)$",
        ),
    )
)
_DTMF_INTENTS = {"0": Intent.TRANSFER, "*": Intent.REPEAT}


def _intent(t: str) -> tuple[Intent | None, re.Match[str] | None]:
    for intent, rx in _INTENT_RULES:
        if m := rx.search(t):
            return intent, m
    return None, None


# --- the whole turn ----------------------------------------------------------------


def parse(text: str, today: dt.date, *, expect: Expect | None = None) -> Utterance:
    """Understand one caller turn.

    Args:
        text: Recognised speech, typed text, or a key press ("1", "press one").
        today: The date that "tomorrow" and "friday" are counted from.
        expect: What the dialogue just asked for, so bare answers count.

    Returns:
        The ``Utterance``; ``understood`` is False for silence and gibberish.
    """
    t = fold(text)
    if not t:
        return Utterance(text="")
    choosing = expect == "choice"
    key = dtmf_key(t)
    if key is not None:
        return _key_press(t, key, expect=expect)

    correction = correction_marked(t)
    intent, match = _intent(t)
    words = t.split()
    new_words, ref_words = words, []
    if intent is Intent.RESCHEDULE and match is not None:
        head, tail = t[: match.end()], t[match.end() :]
        split = re.search(r"\b(to|for|until|till|into)\b", tail)
        if split:
            ref_words = (head + tail[: split.start()]).split()
            new_words = tail[split.end() :].split()
        else:
            new_words, ref_words = [], words
    loose = expect in {"time", "choice"} or correction or intent is Intent.RESCHEDULE

    days = find_days(new_words, today, bare_ordinals=expect == "day" and not choosing)
    if choosing:  # "the second" picks from the list read out, not the 2nd of the month
        days = [
            d
            for d in days
            if not (len(d[2]) <= 2 and d[1].day <= 5 and ordinal_only(new_words, d[2]))
        ]
    used = set().union(*(d[2] for d in days)) if days else set()
    times = find_times(new_words, used, loose=loose, opens_at=CLINIC_OPEN_HOUR)
    ref_days = find_days(ref_words, today, bare_ordinals=False)
    ref_used = set().union(*(d[2] for d in ref_days)) if ref_days else set()
    ref_times = find_times(ref_words, ref_used, loose=False, opens_at=CLINIC_OPEN_HOUR)

    slots: _Slots = {
        "day": days[-1][1] if days else None,
        "time": times[-1][1] if times else None,
        "part_of_day": parse_part_of_day(" ".join(new_words)),
        "appointment_type": parse_appointment_type(t),
        "doctor": parse_doctor(t),
    }
    if intent is Intent.GREETING:
        slots["part_of_day"] = None  # "good morning" is a greeting, not a preference
    has_slots = any(v is not None for v in slots.values())
    correction = correction and has_slots
    answer: Literal["yes", "no"] | None = None
    if not correction:
        if no_answer(t):
            answer = "no"
        elif yes_answer(t):
            answer = "yes"
    return Utterance(
        text=t,
        intent=intent,
        answer=answer,
        correction=correction,
        name=parse_name(t, bare=expect == "name"),
        selection=selection(t, choosing=choosing),
        ref_day=ref_days[-1][1] if ref_days else None,
        ref_time=ref_times[-1][1] if ref_times else None,
        **slots,
    )


_KEYPAD = "0123456789*#"  # the keys of a telephone keypad


def parse_keys(keys: str, *, expect: Expect | None = None) -> Utterance:
    """Understand keys pressed on the phone (a ``dtmf`` turn: ``"1"``, ``"#"``).

    One key is a menu answer: 1 = yes, 2 = no, 0 = front desk, * = repeat; in a
    list just read out, its number; when a time was asked, the hour. The clinic
    never asks for a longer entry, so more keys than one are heard but not
    understood (the question is asked again).

    Args:
        keys: The keys, in the order pressed.
        expect: What the dialogue just asked for.
    """
    keys = "".join(keys.split())
    if len(keys) == 1 and keys in _KEYPAD:
        return _key_press(keys, keys, expect=expect)
    return Utterance(text=keys)


def _key_press(t: str, key: str, *, expect: Expect | None) -> Utterance:
    """A keypad digit: 1 = yes, 2 = no, 0 = front desk, * = repeat; in a list, its number."""
    if expect == "choice" and key.isdigit() and key != "0":
        return Utterance(text=t, dtmf=key, selection=int(key) - 1)
    if expect == "time" and key.isdigit() and key != "0":
        hours = find_times([key], set(), loose=True, opens_at=CLINIC_OPEN_HOUR)
        return Utterance(text=t, dtmf=key, time=hours[0][1] if hours else None)
    answers: dict[str, Literal["yes", "no"]] = {"1": "yes", "2": "no"}
    answer = answers.get(key)
    return Utterance(text=t, dtmf=key, answer=answer, intent=_DTMF_INTENTS.get(key))
