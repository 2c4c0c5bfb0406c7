"""Annotated PII corpus for :mod:`memory.redaction` tests.

Each utterance is written twice over the corpus: as a caller would type it
(or a careful transcriber would write it), and as a speech recogniser writes
it (lower case, numbers as words, "double one", "dot com", no punctuation).
``entities`` lists ``(entity_type, exact substring)`` pairs planted in the
text; ``keep`` lists substrings that must survive redaction (the appointment
slot, clinic staff).

All numbers are synthetic: test card numbers (valid Luhn), Aadhaar numbers
generated with a valid Verhoeff check digit, phone numbers in fictional or
documentation ranges, SSNs in no issued range known to us.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CORPUS", "INVALID_AADHAAR", "VALID_AADHAAR", "PiiUtterance", "spoken_digits"]

_WORDS = "zero one two three four five six seven eight nine".split()

VALID_AADHAAR = ("726018159082", "501661318603", "339099603089", "446281948213", "551819093782")
"""12 digits, first digit 2-9, valid Verhoeff check digit."""
INVALID_AADHAAR = ("857975432319", "687574911862", "727601895559", "997114710497", "665075291703")
"""12 digits whose Verhoeff check fails."""


def spoken_digits(number: str, *, group_sep: str = " ") -> str:
    """Spell ``"4111 1111"`` as ``"four one one one<sep>one one one one"``."""
    groups = number.replace("-", " ").split()
    return group_sep.join(" ".join(_WORDS[int(d)] for d in g) for g in groups)


@dataclass(frozen=True, slots=True)
class PiiUtterance:
    """One caller line with the PII planted in it."""

    text: str
    entities: tuple[tuple[str, str], ...] = ()
    """``(entity_type, substring of text)``."""
    keep: tuple[str, ...] = ()
    """Substrings that must not be redacted."""
    style: str = "typed"
    """``typed`` or ``asr``."""
    known_names: tuple[str, ...] = ()
    """The caller's name if the system knows it (caller ID, the store)."""


def _u(text: str, *entities: tuple[str, str], keep: tuple[str, ...] = (), **kw) -> PiiUtterance:
    for _, value in entities:
        assert value in text, (value, text)
    for value in keep:
        assert value in text, (value, text)
    return PiiUtterance(text, tuple(entities), keep, **kw)


def _asr(text: str, *entities: tuple[str, str], **kw) -> PiiUtterance:
    return _u(text, *entities, style="asr", **kw)


_CARD_A = spoken_digits("4111 1111 1111 1111")
_CARD_B = spoken_digits("5500 0000 0000 0004", group_sep=", ")
_AADHAAR_A = spoken_digits("7260 1815 9082", group_sep=", ")
_AADHAAR_B = spoken_digits("4462 8194 8213")
_SSN_A = spoken_digits("536-22-1987", group_sep=", ")

CORPUS: tuple[PiiUtterance, ...] = (
    # --- typed -------------------------------------------------------------
    _u(
        "Hi, this is Maria Gonzalez, my number is (415) 555-2671.",
        ("PERSON", "Maria Gonzalez"),
        ("PHONE_NUMBER", "(415) 555-2671"),
    ),
    _u(
        "My name is Priya Sharma and my email is priya.sharma@example.com",
        ("PERSON", "Priya Sharma"),
        ("EMAIL_ADDRESS", "priya.sharma@example.com"),
    ),
    _u(
        "Card number 4111 1111 1111 1111, expiry next year.", ("CREDIT_CARD", "4111 1111 1111 1111")
    ),
    _u("Please charge 5500-0000-0000-0004 for the visit.", ("CREDIT_CARD", "5500-0000-0000-0004")),
    _u("My Aadhaar is 7260 1815 9082.", ("IN_AADHAAR", "7260 1815 9082")),
    _u("aadhaar number 501661318603 please update", ("IN_AADHAAR", "501661318603")),
    _u("My SSN is 536-22-1987.", ("US_SSN", "536-22-1987")),
    _u("Social security number 401-55-7823, for the insurance.", ("US_SSN", "401-55-7823")),
    _u(
        "I'd like to book a checkup with Dr. Patel on Tuesday at 3:30 pm.",
        keep=("Dr. Patel", "Tuesday", "3:30 pm"),
    ),
    _u(
        "Can I move my appointment with Dr. Nguyen from Friday 14 March to Monday at 10:00?",
        keep=("Dr. Nguyen", "Friday 14 March", "Monday at 10:00"),
    ),
    _u(
        "John Miller here, you can reach me at +1 212 555 0147 or john.miller@mail.org.",
        ("PERSON", "John Miller"),
        ("PHONE_NUMBER", "+1 212 555 0147"),
        ("EMAIL_ADDRESS", "john.miller@mail.org"),
    ),
    _u(
        "Please call my wife Sarah Connor on 617-555-0198 after 5 pm.",
        ("PERSON", "Sarah Connor"),
        ("PHONE_NUMBER", "617-555-0198"),
        keep=("after 5 pm",),
    ),
    _u(
        "The booking is under Ahmed Khan, mobile +91 98765 43210.",
        ("PERSON", "Ahmed Khan"),
        ("PHONE_NUMBER", "+91 98765 43210"),
    ),
    _u("Use my Amex 3782 822463 10005 please.", ("CREDIT_CARD", "3782 822463 10005")),
    _u(
        "Email the receipt to d.okafor+clinic@example.co.uk, thanks.",
        ("EMAIL_ADDRESS", "d.okafor+clinic@example.co.uk"),
    ),
    _u(
        "My UK number is +44 20 7946 0958 and my card is 6011 1111 1111 1117.",
        ("PHONE_NUMBER", "+44 20 7946 0958"),
        ("CREDIT_CARD", "6011 1111 1111 1117"),
    ),
    _u(
        "Is the clinic open on Saturday at 9? It's Emily Watson.",
        ("PERSON", "Emily Watson"),
        keep=("Saturday at 9",),
    ),
    _u(
        "Aadhaar 3390-9960-3089, name Rahul Verma.",
        ("IN_AADHAAR", "3390-9960-3089"),
        ("PERSON", "Rahul Verma"),
    ),
    _u(
        "What time do you close on Saturday? I'm at 42 River Road.",
        keep=("Saturday", "42 River Road"),
    ),
    _u("Thanks, goodbye!"),
    _u(
        "Mr. Robert Chen, SSN 219-09-9999, card 4242 4242 4242 4242.",
        ("PERSON", "Robert Chen"),
        ("US_SSN", "219-09-9999"),
        ("CREDIT_CARD", "4242 4242 4242 4242"),
    ),
    _u(
        "Could you text me on 415 555 2671 to confirm Thursday at 11:15?",
        ("PHONE_NUMBER", "415 555 2671"),
        keep=("Thursday at 11:15",),
    ),
    # --- as a speech recogniser writes ----------------------------------------
    _asr(
        "hi this is maria gonzalez my number is four one five five five five two six seven one",
        ("PERSON", "maria gonzalez"),
        ("PHONE_NUMBER", "four one five five five five two six seven one"),
    ),
    _asr(
        "my name is priya sharma and my email is priya dot sharma at example dot com",
        ("PERSON", "priya sharma"),
        ("EMAIL_ADDRESS", "priya dot sharma at example dot com"),
    ),
    _asr(f"my card number is {_CARD_A}", ("CREDIT_CARD", _CARD_A)),
    _asr(f"the card is {_CARD_B} expiry oh four", ("CREDIT_CARD", _CARD_B)),
    _asr(
        "card number four one one one double one one one triple one one one one one one",
        ("CREDIT_CARD", "four one one one double one one one triple one one one one one one"),
    ),
    _asr(f"my aadhaar is {_AADHAAR_A}", ("IN_AADHAAR", _AADHAAR_A)),
    _asr(f"aadhaar number {_AADHAAR_B} thank you", ("IN_AADHAAR", _AADHAAR_B)),
    _asr(
        "it's five five one eight one nine oh nine three seven eight two my aadhaar",
        ("IN_AADHAAR", "five five one eight one nine oh nine three seven eight two"),
    ),
    _asr(f"my social security number is {_SSN_A}", ("US_SSN", _SSN_A)),
    _asr(
        "i'd like to book a checkup with doctor patel on tuesday at three thirty",
        keep=("doctor patel", "tuesday at three thirty"),
    ),
    _asr(
        "can i see doctor nguyen on friday morning at ten",
        keep=("doctor nguyen", "friday morning at ten"),
    ),
    _asr(
        "you can call me back on plus nine one nine eight seven six five four three two one zero",
        ("PHONE_NUMBER", "plus nine one nine eight seven six five four three two one zero"),
    ),
    _asr(
        "my number is two one two five five five oh one four seven",
        ("PHONE_NUMBER", "two one two five five five oh one four seven"),
    ),
    _asr(
        "the number is six one seven double five five oh one nine eight",
        ("PHONE_NUMBER", "six one seven double five five oh one nine eight"),
    ),
    _asr(
        "email is john dot miller at mail dot org",
        ("EMAIL_ADDRESS", "john dot miller at mail dot org"),
    ),
    _asr(
        "my mail id is rahul underscore verma at the rate gmail dot com",
        ("EMAIL_ADDRESS", "rahul underscore verma at the rate gmail dot com"),
    ),
    _asr(
        "this is ahmed khan calling about my appointment on monday",
        ("PERSON", "ahmed khan"),
        keep=("monday",),
    ),
    _asr("yes it's for emily watson", ("PERSON", "emily watson"), known_names=("Emily Watson",)),
    _asr(
        "i'm calling to cancel my vaccination on thursday at two",
        keep=("thursday at two",),
    ),
    _asr("what time do you close on saturday", keep=("saturday",)),
    _asr(
        "the name is robert chen and the card is four two four two four two four two "
        "four two four two four two four two",
        ("PERSON", "robert chen"),
        ("CREDIT_CARD", "four two four two four two four two four two four two four two four two"),
    ),
    _asr(
        "my name is sarah connor my cell is six one seven five five five zero one nine eight",
        ("PERSON", "sarah connor"),
        ("PHONE_NUMBER", "six one seven five five five zero one nine eight"),
    ),
    _asr(
        "could you email it to d okafor at example dot co dot uk",
        ("EMAIL_ADDRESS", "okafor at example dot co dot uk"),
    ),
    _asr("anything free on friday afternoon", keep=("friday afternoon",)),
    _asr(
        "ssn four zero one, five five, seven eight two three",
        ("US_SSN", "four zero one, five five, seven eight two three"),
    ),
    _asr(
        "my name is wei zhang and my aadhaar is three three nine oh nine nine six oh three oh "
        "eight nine",
        ("PERSON", "wei zhang"),
        ("IN_AADHAAR", "three three nine oh nine nine six oh three oh eight nine"),
    ),
    _asr(
        "yeah hi it's olga petrova i booked for wednesday at four",
        ("PERSON", "olga petrova"),
        keep=("wednesday at four",),
        known_names=("Olga Petrova",),
    ),
    _asr("okay thank you bye"),
    # --- hard cases kept on purpose (known weaknesses show up in the table) ---
    _asr(
        "hello yeah so um it's kavya from bangalore about my son aarav",
        ("PERSON", "kavya"),
        ("PERSON", "aarav"),
    ),
    _asr(
        "card four one one one one one one one one one one one one one one two",
        # misheard: fails Luhn, so only the 9+ digit safety net can take it
        ("CREDIT_CARD", "four one one one one one one one one one one one one one one two"),
    ),
    _asr(
        "mobile nine eight seven six five, four three two one oh",
        ("PHONE_NUMBER", "nine eight seven six five, four three two one oh"),
    ),
    _u(
        "I'm Raj, number's 536 22 1987 on the insurance form.",
        ("PERSON", "Raj"),
        ("US_SSN", "536 22 1987"),
    ),
)
