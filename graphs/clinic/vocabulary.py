"""What callers say to the clinic receptionist: the corpus for a domain language model.

The offline recogniser is far more accurate when its language model knows
the dialogue's sentences (DESIGN.md section 4). This module is that
knowledge as plain data: :func:`corpus` expands sentence templates with
slot values (days, dates, times, appointment types, doctors, names) into a
few thousand sentences, and :func:`words` is their vocabulary. The speech
layer builds its model from these; nothing here knows about speech engines
(``graphs`` never imports ``telephony``).

How it works: a template is lower-case words with ``(a|b|)`` alternatives
and ``{slot}`` placeholders. Every alternative is expanded; the slots of
each expansion are filled with at most :data:`_PER_FORM` combinations,
drawn with a fixed seed, so the corpus is the same on every start (the
speech layer caches its model under a hash of it). After the templates come
numbers read digit by digit (:data:`DIGIT_STRINGS`: phone, card and ID
numbers in their usual groupings, with "oh" and "double five"), drawn with
their own seed: callers give phone numbers for callbacks and look-ups.

Words are spelt as the recogniser's pronouncing dictionary spells them
(CMUdict): numbers as words, "i'd", "o'clock", "a.m."/"p.m.", "doctor"
rather than "dr". One spelling per word sequence ("checkup", never "check
up"; "okay", never "ok"), because two spellings of one sound only split the
probability between them.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from collections.abc import Callable, Iterator, Sequence

from spoken.names import MONTHS, WEEKDAYS
from spoken.numbers import say_number, say_ordinal

__all__ = ["DIGIT_STRINGS", "TEMPLATES", "corpus", "slot_values", "words"]

_SEED = 20261124  # any fixed value: the corpus must not change between starts
_PER_FORM = 12  # slot combinations drawn per expanded template (more adds counts, not words)

_HOURS = [say_number(h) for h in (9, 10, 11, 12, 1, 2, 3, 4, 5)]
_MORNING_HOURS = [say_number(h) for h in (8, 9, 10, 11)]
_AFTERNOON_HOURS = [say_number(h) for h in (12, 1, 2, 3, 4, 5)]
_MINUTES = ["fifteen", "thirty", "forty five", "oh five", "ten", "twenty", "forty", "fifty"]

_FIRST_NAMES = (
    "john mary james patricia robert jennifer michael linda william elizabeth david barbara "
    "richard susan joseph jessica thomas sarah charles karen daniel nancy matthew lisa "
    "anthony betty mark sandra paul ashley steven emily andrew donna joshua michelle kevin "
    "carol brian amanda george melissa edward deborah ronald stephanie timothy rebecca "
    "jason laura jeffrey sharon ryan cynthia jacob kathleen gary amy nicholas anna eric "
    "angela jonathan maria peter emma samuel olivia jose sophia carlos grace luis ann "
    "ahmed aisha wei mohammed raj anita kim"
).split()
_LAST_NAMES = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
    "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
    "white harris sanchez clark ramirez lewis robinson walker young allen king wright scott "
    "torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell "
    "carter roberts turner phillips evans parker collins edwards stewart morris murphy cook "
    "rogers morgan cooper peterson reed bailey bell kelly howard ward cox richardson wood "
    "watson brooks bennett gray james hughes price sanders patel kumar shah sharma chen "
    "wang zhang khan ali kim park"
).split()

_TIMES = (
    _HOURS
    + [f"{h} o'clock" for h in _HOURS]
    + [f"{h} {m}" for h in _HOURS for m in _MINUTES]
    + [f"{h} a.m." for h in _MORNING_HOURS]
    + [f"{h} p.m." for h in _AFTERNOON_HOURS]
    + [f"{h} thirty {ap}" for h, ap in itertools.product(_HOURS, ("a.m.", "p.m."))]
    + [f"{h} fifteen {ap}" for h, ap in itertools.product(_HOURS, ("a.m.", "p.m."))]
    + [f"{q} {h}" for q in ("half past", "quarter past", "quarter to") for h in _HOURS]
    + [f"{h} in the morning" for h in _MORNING_HOURS]
    + [f"{h} in the afternoon" for h in _AFTERNOON_HOURS]
    + ["noon", "midday", "lunchtime"]
)
_DATES = (
    [f"{month} {say_ordinal(n)}" for month in MONTHS for n in range(1, 32)]
    + [f"the {say_ordinal(n)}" for n in range(1, 32)]
    + [f"the {say_ordinal(n)} of {month}" for month in MONTHS for n in range(1, 32)]
)
_WEEKDAYS = list(WEEKDAYS)
_RELATIVE_DAYS = ["today", "tomorrow", "the day after tomorrow", "this week", "next week"]
_PARTS = ["morning", "afternoon", "evening"]

# Slot values. A list repeats a value to make it likelier; the draws are uniform.
_SLOTS: dict[str, list[str]] = {
    "weekday": _WEEKDAYS,
    "day": (
        _WEEKDAYS * 3
        + [f"{q} {d}" for q in ("this", "next") for d in _WEEKDAYS]
        + [f"{d} {p}" for d in _WEEKDAYS for p in _PARTS]
        + _RELATIVE_DAYS * 2
        + ["tomorrow morning", "tomorrow afternoon", "this afternoon", "this morning"]
        + [f"{d} the {say_ordinal(n)}" for d in _WEEKDAYS for n in (1, 2, 3, 10, 15, 21, 30)]
        + _DATES[::9]
    ),
    "on_day": (
        [f"on {d}" for d in _WEEKDAYS] * 3
        + [f"{q} {d}" for q in ("this", "next") for d in _WEEKDAYS]
        + [f"on {d} {p}" for d in _WEEKDAYS for p in _PARTS]
        + [f"for {d}" for d in _WEEKDAYS]
        + _RELATIVE_DAYS * 2
        + ["tomorrow morning", "tomorrow afternoon", "this afternoon"]
        + [f"on {d}" for d in _DATES[::7]]
    ),
    "date": _DATES,
    "time": _TIMES,
    "part": _PARTS,
    "type": ["checkup", "consultation", "vaccination", "physical", "flu shot", "vaccine"],
    "a_type": [
        "a checkup",
        "a consultation",
        "a vaccination",
        "a physical",
        "a flu shot",
        "a vaccine",
        "an appointment",
        "a tetanus shot",
        "a booster",
        "an annual checkup",
        "a general checkup",
    ],
    "doctor": ["doctor patel", "doctor nguyen"],
    "first": _FIRST_NAMES,
    "last": _LAST_NAMES,
    "insurer": ["aetna", "blue cross", "cigna", "medicare", "medicaid", "humana", "kaiser"],
    "symptom": [
        "a cough",
        "a fever",
        "a sore throat",
        "a headache",
        "a rash",
        "a cold",
        "the flu",
        "back pain",
        "a stomach ache",
        "an ear infection",
        "a sprained ankle",
        "allergies",
    ],
    "relation": ["son", "daughter", "wife", "husband", "mother", "father", "child", "kids"],
    "digit": [say_number(n) for n in range(10)],
    "choice": ["first", "second", "third", "last", "earliest", "later"],
    "count": [say_number(n) for n in range(2, 8)],
}

TEMPLATES: tuple[str, ...] = (
    # booking
    "(i'd|i would) like to book {a_type}",
    "(i'd|i would) like to book {a_type} {on_day}",
    "(i'd|i would) like to book {a_type} {on_day} at {time}",
    "(i'd|i would) like to book {a_type} with {doctor} {on_day} at {time}",
    "(i'd|i would) like to (make|schedule) an appointment (|{on_day}|with {doctor})",
    "i (want|need) to book {a_type} (|{on_day}|for {time})",
    "i (want|need) to (make|schedule) an appointment (|for {a_type}|{on_day})",
    "(can|could) i (book|get|have) {a_type} (|{on_day}|{on_day} at {time}|with {doctor})",
    "(hi|hello|yes|hi there|good morning) (i'd|i would) like to book {a_type} (|{on_day})",
    "(hi|hello) i'm calling to (book|make) an appointment",
    "i'm calling to book {a_type} (|for my {relation})",
    "book me in for {a_type} {on_day} at {time}",
    "(can|could) i come in {on_day} (|at {time}|in the {part})",
    "(i'd|i would) like to see {doctor} (|{on_day}|{on_day} at {time})",
    "i need to see a doctor (|{on_day})",
    "i need {a_type} (|{on_day}|for my {relation})",
    "(can|could) you book me {a_type} with {doctor}",
    "i'd like an appointment (|with {doctor}|{on_day}|{on_day} at {time})",
    "i want to schedule {a_type} for {day} at {time}",
    "(can|could) i get an appointment {on_day} (|in the {part}|at {time})",
    "is it possible to book {a_type} {on_day}",
    "i need an appointment for my {relation}",
    # availability
    "(anything|is anything) (free|available|open) {on_day}",
    "anything free on {weekday} {part}",
    "what do you have (|available|free|open) {on_day}",
    "what times do you have (|available|free) {on_day}",
    "do you have anything (open|free|available) {on_day} (|in the {part})",
    "(is there|are there) any (appointments|openings|slots) {on_day}",
    "do you have any (openings|appointments|availability) {on_day} (|with {doctor})",
    "when is {doctor} (available|free|in)",
    "is {doctor} (available|free|in) {on_day}",
    "is {time} (available|free|okay) (|{on_day})",
    "what's the earliest (appointment|time|slot) (|you have|with {doctor})",
    "what's (available|open|free) {on_day}",
    "(can|could) you fit me in {on_day}",
    "when can i come in (|for {a_type}|{on_day})",
    "what about {day}",
    "do you have anything (earlier|later)",
    # my appointments
    "when is my (|next) appointment",
    "what appointments do i have",
    "do i have (an|any) (appointment|appointments) (|{on_day}|with {doctor})",
    "(can|could) you check my appointment (|please|{on_day})",
    "i'd like to check my (appointment|appointments)",
    "what do i have (booked|scheduled|coming up)",
    "am i booked (|in) {on_day}",
    # cancel
    "i (need|want|would like) to cancel my appointment (|{on_day}|with {doctor})",
    "(please|) cancel my appointment (|{on_day}|{on_day} at {time})",
    "(i'd|i would) like to cancel my {type} {on_day}",
    "(can|could) you cancel my {type} (|with {doctor})",
    "i (can't|won't be able to) make it {on_day} (|please cancel it)",
    "cancel it (|please)",
    "cancel the (first|second|last) one",
    # reschedule
    "i (need|want|would like) to reschedule (|my appointment|my {type})",
    "(can|could) i move my appointment to {day} (|at {time})",
    "(can|could) i move my {type} (to|from {day} to) {day}",
    "move my appointment from {day} to {day} (|at {time})",
    "(can|could) we (change|move) (it|that) to {day} (|at {time})",
    "(can|could) we change that to {time}",
    "(can|could) i move it to {time}",
    "change my appointment to {day} (|at {time})",
    "i need to change (my appointment|the time|the day)",
    "(i'd|i would) like to change (|the time of) my appointment",
    # opening hours
    "what are your (|opening) hours (|{on_day})",
    "what time do you (close|open) {on_day}",
    "what time do you (close|open)",
    "are you open {on_day}",
    "are you open (on|this) {weekday}",
    "how late are you open {on_day}",
    "(when|what time) do you open in the morning",
    "are you closed on (sunday|sundays|saturday)",
    "(|and) what about {weekday}",
    "is the clinic open {on_day}",
    # address, parking, insurance, prices, doctors
    "(where are you|where is the clinic) located",
    "what's (your|the) address",
    "(where are you|how do i get there|how do i find you)",
    "(is there|do you have) parking",
    "where (do|can) i park",
    "is (the|) parking free",
    "do you (take|accept) (my insurance|{insurer}|insurance)",
    "is {insurer} accepted",
    "(my insurance is|i have) {insurer}",
    "how much (is|does) {a_type} (|cost)",
    "what does {a_type} cost",
    "what are your prices",
    "how much do you charge for {a_type}",
    "(which|what) doctors do you have",
    "who are your doctors",
    "is {doctor} in {on_day}",
    # caller tells why
    "i have {symptom}",
    "(i've had|i have had) {symptom} for {count} days",
    "my {relation} has {symptom}",
    "it's for my {relation}",
    "(i have|my {relation} has) {symptom} and {symptom}",
    "i think i (need|have) {symptom}",
    "it's (just|) a (routine|regular|yearly) (checkup|visit)",
    # transfer
    "(can|could) i (talk|speak) to (someone|somebody|a person|a real person|a human)",
    "(can|could) i (talk|speak) to (the receptionist|the front desk|a doctor|a nurse)",
    "(i'd|i would|i want to) like to (talk|speak) to (someone|a person|a human)",
    "(a person|a human|someone) please",
    "(receptionist|operator|representative|front desk) (|please)",
    "(please|) (transfer me|put me through) (|to the front desk|to someone)",
    "i want to talk to a real person",
    # goodbye, thanks, greetings
    "(goodbye|bye|bye bye|okay bye|thank you bye|thanks bye|thank you goodbye)",
    "(no|no thanks|no thank you|okay) that (will|would) be all",
    "(no|no thanks|no thank you|) that's (all|it|everything) (|thanks|thank you)",
    "that's it for (now|today)",
    "(no|) that's all (|thank you) (|goodbye|bye)",
    "(have a (nice|good|great) day|you too) (|bye)",
    "(no|) nothing else (|thanks|thank you)",
    "i'm all set (|thanks|thank you)",
    "(thank you|thanks) (|very much|so much|a lot)",
    "(okay|great|perfect|alright) (thank you|thanks)",
    "(okay|) (thanks|thank you) (|a lot|very much|so much) (bye|goodbye|bye bye)",
    "(hello|hi|hi there|good morning|good afternoon)",
    "(help|what can you do|what are my options)",
    "(can|could) you (repeat that|say that again) (|please)",
    "(sorry|pardon|what|sorry what|excuse me|come again)",
    "i didn't (catch|hear) that",
    "one more time please",
    "(never mind|forget it|scratch that|don't book it|don't bother)",
    # yes / no
    "(yes|yeah|yep|sure|okay|correct|right|alright|absolutely|of course)",
    "(yes|yeah) (please|that's right|that's correct|that's fine|book it|go ahead)",
    "(that's|that is) (right|correct|fine|perfect|great)",
    "(sounds good|perfect|great|that works|works for me|go ahead|please do)",
    "yes (please|) book it",
    "(no|nope|no thanks|no thank you|not really|no that's wrong|that's not right)",
    "(no|no no) that's not what i said",
    # corrections
    "(no|actually|sorry|wait) {day}",
    "(no|actually|sorry) (|at) {time}",
    "(no|actually) (make it|make that) {time}",
    "(no|actually) (make it|make that) {day} (|at {time})",
    "(no|sorry) i (meant|said) {day}",
    "(no|sorry) i (meant|said) {time}",
    "no {day} at {time}",
    "(can|could) we do {day} instead",
    "(how about|what about) {time} (|instead)",
    "{weekday} no {weekday}",
    "{time} no {time}",
    "(actually|no) (change it to|switch it to) {day}",
    "(actually|no) with {doctor}",
    "(no|actually) i (want|wanted|need) {a_type}",
    # bare answers to the receptionist's questions
    "{day}",
    "{on_day}",
    "{time}",
    "at {time}",
    "{day} at {time}",
    "{on_day} at {time}",
    "(around|about) {time}",
    "in the {part}",
    "{weekday} {part}",
    "(|the) {part} (|please|if possible)",
    "(sometime|some time) in the {part}",
    "{a_type} (|please)",
    "{type} (|please)",
    "(with|) {doctor} (|please)",
    "(any doctor|either one|either is fine|i don't mind|it doesn't matter)",
    "the {choice} one",
    "the {choice} one (sounds good|is fine|works|works for me|please)",
    "the {choice} (|one) please",
    "(number|option) {digit}",
    "(any of them|whatever is earliest|the earliest one|the first available)",
    # names
    "my name is {first} {last} *8",
    "my name is {first} *3",
    "(it's|this is|i'm) {first} {last} *3",
    "(hi|hello) this is {first} (|{last})",
    "{first} {last} *8",
    "(the name is|under the name) {first} {last} *3",
    "(yes|yeah) it's {first} (|{last})",
    "(hi|hello) (my name is|this is|it's) {first} {last} (|and) i'd like to book {a_type}",
    "(hi|hello) this is {first} {last} (|and) i'd like to make an appointment",
    "it's under {first} {last}",
    "my last name is {last}",
    "it's for {first} {last}",
    # keypad, said aloud
    "press {digit}",
    "{digit}",
)
"""Sentence templates: ``(a|b|)`` alternatives (empty = leave out), ``{slot}`` placeholders.

A trailing ``*n`` draws ``n`` times as many slot combinations (names: there
are thousands of first/last pairs, and each should be heard in context).
"""

_PHONE_CARRIERS = (
    ("",) * 6
    + ("it's", "yes it's", "sure it's", "the number is", "that's")
    + ("my number is", "my phone number is", "my cell number is", "my cell is", "my mobile is")
    + ("call me on", "call me at", "you can reach me at", "you can reach me on")
    + ("my callback number is", "the best number is", "you can call me back on")
)
_CARD_CARRIERS = ("",) * 4 + (
    "it's",
    "the card number is",
    "my card number is",
    "the number on the card is",
    "the long number is",
    "card number",
)
_ID_CARRIERS = ("",) * 3 + ("it's", "my id number is", "the id number is", "the number is")
_LAST_FOUR_CARRIERS = ("",) * 2 + (
    "the last four digits are",
    "the last four are",
    "it ends in",
    "ending in",
    "last four",
)

DIGIT_STRINGS: tuple[tuple[tuple[int, ...], tuple[str, ...], int], ...] = (
    # (digits per group as callers read them, what comes before, how many numbers)
    ((3, 3, 4), _PHONE_CARRIERS, 300),  # US phone: 415 555 0134
    ((1, 3, 3, 4), _PHONE_CARRIERS, 30),  # with the leading 1
    ((3, 4), _PHONE_CARRIERS, 30),  # without the area code
    ((5, 5), _PHONE_CARRIERS, 60),  # Indian mobile: 98765 43210
    ((4, 4, 4, 4), _CARD_CARRIERS, 200),  # payment card
    ((4, 4, 4), _ID_CARRIERS, 100),  # Aadhaar
    ((4,), _LAST_FOUR_CARRIERS, 60),  # a card's last four digits
)
"""Numbers callers read out digit by digit, drawn at random (fixed seed) for the corpus.

Each group is spoken digit by digit, zero as "zero" or "oh", a repeated
digit sometimes as "double five" or "triple seven". A caller pausing
between groups can be cut into several utterances by the endpointer, so
for a third of the numbers each group is also a sentence of its own.
"""
_REPEAT = 0.2  # chance a digit repeats the previous one (555, 1000: runs are common)
_SAY_OH = 0.5  # chance a zero is said "oh"
_SAY_DOUBLE = 0.5  # chance a pair is said "double X" (a run of three: "triple X")


def _digit_sentences() -> Iterator[str]:
    """The sentences of :data:`DIGIT_STRINGS`, the same on every start."""
    rng = random.Random(_SEED + 1)  # its own draws: the templates' corpus stays as it was
    for groups, carriers, count in DIGIT_STRINGS:
        for _ in range(count):
            digits = _random_digits(sum(groups), rng)
            spoken, start = [], 0
            for size in groups:
                spoken.append(_spoken_digits(digits[start : start + size], rng))
                start += size
            yield " ".join([rng.choice(carriers), *spoken]).strip()
            if len(groups) > 1 and rng.random() < 1 / 3:
                yield from spoken


def _random_digits(length: int, rng: random.Random) -> list[int]:
    digits = [rng.randrange(10)]
    while len(digits) < length:
        digits.append(digits[-1] if rng.random() < _REPEAT else rng.randrange(10))
    return digits


def _spoken_digits(digits: Sequence[int], rng: random.Random) -> str:
    """One group as a caller says it: ``[5, 5, 0]`` -> "double five oh" or "five five zero"."""
    words: list[str] = []
    i = 0
    while i < len(digits):
        run = 1
        while run < 3 and i + run < len(digits) and digits[i + run] == digits[i]:
            run += 1
        word = "oh" if digits[i] == 0 and rng.random() < _SAY_OH else say_number(digits[i])
        if run > 1 and rng.random() < _SAY_DOUBLE:
            words += ["triple" if run == 3 else "double", word]
        else:
            words.append(word)
            run = 1
        i += run
    return " ".join(words)


_ALTERNATIVE = re.compile(r"\(([^()]*)\)")
_SLOT = re.compile(r"\{(\w+)\}")
_DRAWS = re.compile(r"\s\*(\d+)$")


def _expansions(template: str) -> Iterator[str]:
    """Every way of choosing one option from each ``(a|b)`` group."""
    m = _ALTERNATIVE.search(template)
    if m is None:
        yield " ".join(template.split())
        return
    for option in m.group(1).split("|"):
        yield from _expansions(template[: m.start()] + option + template[m.end() :])


def _fillings(form: str, rng: random.Random, draws: int) -> Iterator[str]:
    """The form with its slots filled, at most ``draws`` ways (all when fewer)."""
    names = _SLOT.findall(form)
    if not names:
        yield form
        return
    pools = [sorted(set(_SLOTS[name])) for name in names]
    combos = 1
    for pool in pools:
        combos *= len(pool)
    if combos <= draws:
        chosen: Sequence[tuple[str, ...]] = list(itertools.product(*pools))
    else:
        lists = [_SLOTS[name] for name in names]  # repeated values are likelier
        chosen = [tuple(rng.choice(values) for values in lists) for _ in range(draws)]
    for combo in chosen:
        yield _SLOT.sub(_filler(combo), form)


def _filler(combo: tuple[str, ...]) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement giving the values of ``combo`` in order."""
    values = iter(combo)
    return lambda _m: next(values)


@functools.cache
def _corpus(digit_strings: bool) -> tuple[str, ...]:
    rng = random.Random(_SEED)
    seen: dict[str, None] = {}  # insertion-ordered set: same order on every start
    for template in TEMPLATES:
        text, draws = template, _PER_FORM
        if m := _DRAWS.search(template):
            text, draws = template[: m.start()], _PER_FORM * int(m.group(1))
        for form in _expansions(text):
            for sentence in _fillings(form, rng, draws):
                seen.setdefault(" ".join(sentence.split()), None)
    if digit_strings:
        for sentence in _digit_sentences():
            seen.setdefault(sentence, None)
    seen.pop("", None)
    return tuple(seen)


def corpus(*, digit_strings: bool = True) -> list[str]:
    """What callers say to this graph: lower-case sentences, numbers as words.

    The same list, in the same order, on every call and every start.

    Args:
        digit_strings: Include the spoken digit strings (phone, card and ID
            numbers, see :data:`DIGIT_STRINGS`); ``False`` gives the corpus
            as it was without them, for measuring what they add.
    """
    return list(_corpus(digit_strings))


def slot_values() -> dict[str, list[str]]:
    """The values each ``{slot}`` of :data:`TEMPLATES` takes (a copy)."""
    return {name: sorted(set(values)) for name, values in _SLOTS.items()}


def words(*, digit_strings: bool = True) -> set[str]:
    """Every word a caller may use with this graph: the corpus's words and every slot value's.

    Includes values the sampled corpus may have missed (every name, every
    date), so a recogniser knows them all. ``digit_strings`` as for :func:`corpus`.
    """
    found = {word for sentence in _corpus(digit_strings) for word in sentence.split()}
    for values in _SLOTS.values():
        for value in values:
            found.update(value.split())
    return found
