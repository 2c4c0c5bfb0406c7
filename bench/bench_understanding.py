"""How well and how fast the bundled flows' offline understanding reads recognised speech.

The clinic's and the helpdesk's rules, each as the understanding step runs
them (``graphs/clinic/meaning.py``, ``graphs/helpdesk/meaning.py``:
``RULES.read``), on tables of caller turns written the way a phone
recogniser writes them: lower case, numbers as words, key words misheard
("doctor when", "outtage", "rooter", "bye" as "by"), and the failure classes
issue 15 lists (a "human" mentioned, a goodbye in everyday words, a yes that
says more). Each turn carries the intent a receptionist would hear in it;
some also the slots, or the yes or no, it gives.

Printed per flow:

* per intent: how many turns carry it, precision and recall of the rules;
* yes/no answers (asked a yes/no question) and slot values: right / all;
* every miss, with what was expected and what was read (what to fix next);
* time per turn (us, median and p95 over the table, each turn read
  ``REPEAT`` times): the step, the flow's bare function under it, and the
  step with two more readings from the recogniser (each is read too).

Run: ``uv run python bench/bench_understanding.py``. Prints figures, never
pass/fail.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from dialgraph import CallerTurn, Expect, RuleUnderstander, Understanding
from graphs.clinic import meaning as clinic
from graphs.clinic import nlu
from graphs.helpdesk import intents as helpdesk_intents
from graphs.helpdesk import meaning as helpdesk

TODAY = dt.date(2026, 12, 3)  # a Thursday
REPEAT = 20  # readings of each turn for its time; the median of them is its cost


@dataclass(frozen=True)
class Case:
    """One caller turn and what a receptionist hears in it."""

    text: str
    intent: str | None
    expecting: Mapping[str, Any] | None = None
    answer: str | None = None  # checked when the step asked a yes/no question
    slots: Mapping[str, object] = field(default_factory=dict)


YES_NO = Expect.yes_no()

CLINIC = [
    # book
    Case("id like to book an appointment", "book"),
    Case("i want to book a checkup for next tuesday", "book", slots={"day": "2026-12-08"}),
    Case("can i make an appointment with doctor patel", "book", slots={"doctor": "Dr. Patel"}),
    Case("book me in with doctor pattel on friday", "book", slots={"doctor": "Dr. Patel"}),
    Case(
        "i need to book with doctor new yen on friday at ten",
        "book",
        slots={"doctor": "Dr. Nguyen", "day": "2026-12-04", "time": "10:00"},
    ),
    Case("can i book with doctor win tomorrow", "book", slots={"doctor": "Dr. Nguyen"}),
    Case("book me in for a flu shot", "book", slots={"appointment_type": "vaccination"}),
    Case("could i schedule a consultation for monday morning", "book"),
    Case("hi im calling to book a vaccination", "book"),
    Case("i need an appointment", "book"),
    Case("id like to see a doctor this week", "book"),
    Case("could i get a flu jab on friday", "book"),
    Case("i wanna come in on the fifth at two thirty", "book", slots={"time": "14:30"}),
    # availability
    Case("do you have anything free on friday", "availability"),
    Case("what times do you have on monday", "availability"),
    Case("anything open tomorrow afternoon", "availability"),
    Case("when can i come in", "availability"),
    Case("whats the earliest you have", "availability"),
    Case("are there any slots next week", "availability"),
    Case("is doctor nguyen available on wednesday", "availability"),
    # my appointments
    Case("when is my appointment", "my_appointments"),
    Case("do i have anything booked", "my_appointments"),
    Case("what appointments do i have", "my_appointments"),
    Case("can you check my upcoming appointments", "my_appointments"),
    # cancel
    Case("i need to cancel my appointment", "cancel"),
    Case("cancel my checkup on tuesday", "cancel", slots={"day": "2026-12-08"}),
    Case("id like to cancel please", "cancel"),
    Case("can i call off my appointment for friday", "cancel"),
    # reschedule
    Case("can i move my appointment to thursday", "reschedule"),
    Case("i need to reschedule", "reschedule"),
    Case(
        "change my tuesday appointment to wednesday at four",
        "reschedule",
        slots={"from_day": "2026-12-08", "day": "2026-12-09", "time": "16:00"},
    ),
    Case("push my appointment back to next week", "reschedule"),
    # the clinic's facts
    Case("what time do you open", "hours"),
    Case("are you open on saturday", "hours"),
    Case("what are your hours", "hours"),
    Case("where are you located", "address"),
    Case("whats your address", "address"),
    Case("is there parking", "parking"),
    Case("where can i park", "parking"),
    Case("do you take medicare", "insurance"),
    Case("do you accept my insurance", "insurance"),
    Case("how much is a checkup", "prices"),
    Case("what does a consultation cost", "prices"),
    Case("which doctors do you have", "doctors"),
    Case("who are the doctors", "doctors"),
    # a person: asked for, not merely mentioned
    Case("can i talk to a real person", "transfer"),
    Case("put me through to reception", "transfer"),
    Case("i want to speak to someone", "transfer"),
    Case("operator", "transfer"),
    Case("can i speak with the receptionist please", "transfer"),
    Case("there was a human error on my bill", "prices"),
    Case("the person i spoke to last week said to call back", None),
    # goodbyes in their everyday forms
    Case("thats all thank you bye", "goodbye"),
    Case("great thanks so much bye", "goodbye"),
    Case("thank you by by", "goodbye"),
    Case("no thats everything goodbye", "goodbye"),
    Case("have a nice day", "goodbye"),
    Case("okay thanks bye", "goodbye"),
    Case("perfect thats all i needed", "goodbye"),
    Case("thank you", "thanks"),
    Case("thanks a lot", "thanks"),
    Case("hello", "greeting"),
    Case("good morning", "greeting"),
    Case("what can you do", "help"),
    Case("sorry can you say that again", "repeat"),
    Case("pardon", "repeat"),
    Case("never mind", "abort"),
    Case("forget it", "abort"),
    # answers and bare values: no intent
    Case("yes", None, YES_NO, answer="yes"),
    Case("yeah thats right", None, YES_NO, answer="yes"),
    Case("yes please", None, YES_NO, answer="yes"),
    Case("sure go ahead", None, YES_NO, answer="yes"),
    Case("yes cancel it please", "cancel", YES_NO, answer="yes"),
    Case("yeah book it", "book", YES_NO, answer="yes"),
    Case("that works for me", None, YES_NO, answer="yes"),
    Case("no", None, YES_NO, answer="no"),
    Case("no thanks", None, YES_NO, answer="no"),
    Case("nope", None, YES_NO, answer="no"),
    Case("not really", None, YES_NO, answer="no"),
    Case("no wednesday", None, YES_NO, answer="no", slots={"day": "2026-12-09"}),
    Case("three", None, Expect.time(), slots={"time": "15:00"}),
    Case("ten thirty", None, Expect.time(), slots={"time": "10:30"}),
    Case("maria lopez", None, Expect.name(), slots={"name": "Maria Lopez"}),
    Case("its john miller", None, Expect.name(), slots={"name": "John Miller"}),
    Case("the second one", None, Expect.choice(["a", "b", "c"]), slots={"selection": 2}),
    Case("doctor patil", None, Expect.choice(nlu.DOCTORS), slots={"doctor": "Dr. Patel"}),
    Case("doctor when please", None, Expect.choice(nlu.DOCTORS), slots={"doctor": "Dr. Nguyen"}),
    Case("um", None),
]

HELPDESK = [
    # outage
    Case("is there an outage in my area", "outage"),
    Case("my internet is down", "outage"),
    Case("no internet since this morning", "outage"),
    Case("is the internet out on my street", "outage"),
    Case("is there an outtage at five five one oh three", "outage", slots={"zip_code": "55103"}),
    Case("is broadband down in my neighbourhood", "outage"),
    Case("are there any outages", "outage"),
    Case("everything is down", "outage"),
    Case("five five one oh three", "outage", slots={"zip_code": "55103"}),
    Case("a guy from the power company said the line was cut", "outage"),
    # ticket status
    Case("whats the status of my ticket", "ticket_status"),
    Case(
        "any update on ticket four eight two nine one three",
        "ticket_status",
        slots={"ticket_number": "482913"},
    ),
    Case("im calling about my existing ticket", "ticket_status"),
    Case("checking on my repair", "ticket_status"),
    Case("four eight two nine one three", "ticket_status", slots={"ticket_number": "482913"}),
    Case("id like to follow up on my case", "ticket_status"),
    Case("has the technician been booked yet", "ticket_status"),
    # new ticket
    Case("i want to open a ticket", "new_ticket"),
    Case("my router keeps restarting", "new_ticket"),
    Case("the connection keeps dropping", "new_ticket"),
    Case("can you send a technician", "new_ticket"),
    Case("my wifi is really slow", "new_ticket"),
    Case("i need to report a fault", "new_ticket"),
    Case("the modem has a red light", "new_ticket"),
    Case("my rooter keeps disconnecting", "new_ticket"),
    Case("the tv box wont turn on", "new_ticket"),
    # a person: asked for, not merely mentioned
    Case("can i talk to a person", "person"),
    Case("transfer me please", "person"),
    Case("i need to speak with someone", "person"),
    Case("agent", "person"),
    Case("get me a human", "person"),
    Case("customer service please", "person"),
    Case("a person at my door said the line was cut", "outage"),
    Case("your agent was very helpful last time", None),
    # goodbyes
    Case("thats all goodbye", "goodbye"),
    Case("great thanks so much bye", "goodbye"),
    Case("im all set thanks", "goodbye"),
    Case("have a good day", "goodbye"),
    Case("okay thank you by", "goodbye"),
    # answers: no intent
    Case("yes", None, YES_NO, answer="yes"),
    Case("yeah go ahead", None, YES_NO, answer="yes"),
    Case("sure thats fine", None, YES_NO, answer="yes"),
    Case("yes please open it", "new_ticket", YES_NO, answer="yes"),
    Case("no thanks", None, YES_NO, answer="no"),
    Case("nope", None, YES_NO, answer="no"),
    Case("no internet at all", "outage", YES_NO, answer=None),
    Case("five five one oh four", None, Expect.digits(5), slots={"zip_code": "55104"}),
    Case("hello", None),
]


@dataclass
class Tally:
    """Counts for one flow's table."""

    right: dict[str | None, int] = field(default_factory=dict)
    said: dict[str | None, int] = field(default_factory=dict)  # turns labelled with it
    read: dict[str | None, int] = field(default_factory=dict)  # turns the rules gave it
    answers: list[bool] = field(default_factory=list)
    slots: list[bool] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    def add(self, case: Case, heard: Understanding) -> None:
        self.said[case.intent] = self.said.get(case.intent, 0) + 1
        self.read[heard.intent] = self.read.get(heard.intent, 0) + 1
        if heard.intent == case.intent:
            self.right[case.intent] = self.right.get(case.intent, 0) + 1
        else:
            self.misses.append(f"{case.text!r}: intent {case.intent}, read {heard.intent}")
        if case.expecting == YES_NO:
            self.answers.append(heard.answer == case.answer)
            if heard.answer != case.answer:
                self.misses.append(f"{case.text!r}: answer {case.answer}, read {heard.answer}")
        for name, value in case.slots.items():
            self.slots.append(heard.value(name) == value)
            if heard.value(name) != value:
                self.misses.append(f"{case.text!r}: {name} {value!r}, read {heard.value(name)!r}")


def _ratio(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _cost_us(read: Callable[[], object]) -> float:
    runs = []
    for _ in range(REPEAT):
        started = time.perf_counter_ns()
        read()
        runs.append((time.perf_counter_ns() - started) / 1000)
    return statistics.median(runs)


def _times(costs: list[float]) -> str:
    p95 = statistics.quantiles(costs, n=20)[-1]
    return (
        f"median {statistics.median(costs):7.0f} us   p95 {p95:7.0f} us   max {max(costs):7.0f} us"
    )


def report(
    name: str,
    cases: list[Case],
    rules: RuleUnderstander,
    bare: Callable[[Case], object],
) -> None:
    tally = Tally()
    step, alone, with_others = [], [], []
    for case in cases:
        turn = CallerTurn(text=case.text, source="speech")
        noisy = CallerTurn(
            text=case.text, source="speech", alternatives=[case.text + " uh", "uh " + case.text]
        )
        read = partial(rules.read, expecting=case.expecting, today=TODAY)
        tally.add(case, read(turn))
        step.append(_cost_us(partial(read, turn)))
        alone.append(_cost_us(partial(bare, case)))
        with_others.append(_cost_us(partial(read, noisy)))
    labels: list[str | None] = [*sorted(k for k in {*tally.said, *tally.read} if k), None]
    right = sum(tally.right.values())
    print(f"\n{name}: {len(cases)} turns, intent right on {right} ({_ratio(right, len(cases))})")
    print(f"  {'intent':<16} {'turns':>5}  {'precision':>9}  {'recall':>7}")
    for label in labels:
        hits, said, read_as = (
            tally.right.get(label, 0),
            tally.said.get(label, 0),
            tally.read.get(label, 0),
        )
        print(
            f"  {label or '(none)':<16} {said:>5}  {_ratio(hits, read_as):>9}  "
            f"{_ratio(hits, said):>7}"
        )
    print(f"  yes/no answers right: {sum(tally.answers)}/{len(tally.answers)}")
    print(f"  slot values right:    {sum(tally.slots)}/{len(tally.slots)}")
    print(f"  misses ({len(tally.misses)}):")
    for miss in tally.misses:
        print(f"    {miss}")
    print("  time per turn:")
    print(f"    the step (RULES.read)        {_times(step)}")
    print(f"    the flow's function alone    {_times(alone)}")
    print(f"    the step, two more readings  {_times(with_others)}")


def _clinic_alone(case: Case) -> object:
    return nlu.parse(case.text, TODAY, expect=clinic.asked(case.expecting))


def _helpdesk_alone(case: Case) -> object:
    return helpdesk_intents.understand(CallerTurn(text=case.text, source="speech"))


def main() -> None:
    print("Offline understanding of recognised speech (the understanding step's rules)")
    report("clinic (graphs/clinic/meaning.py)", CLINIC, clinic.RULES, _clinic_alone)
    report("helpdesk (graphs/helpdesk/meaning.py)", HELPDESK, helpdesk.RULES, _helpdesk_alone)


if __name__ == "__main__":
    main()
