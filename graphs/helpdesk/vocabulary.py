"""What callers say to the helpdesk: hints for the speech recognisers.

``PHRASES`` are typical caller sentences, written as the offline
recogniser's dictionary spells them (lower case, numbers as words, "okay"
not "ok", one spelling per word sequence): its language model is built from
them, so "is there an outage in my area" and "five five one oh three" are
heard as such. ``KEYTERMS`` is the short list a cloud recogniser is told to
favour (vendors warn against long lists). Plain data: nothing here knows
about speech engines.
"""

from __future__ import annotations

__all__ = ["KEYTERMS", "PHRASES", "PRONUNCIATIONS", "WORDS"]

PHRASES: tuple[str, ...] = (
    # outages
    "my internet is down",
    "my internet is not working",
    "the internet is down again",
    "is there an outage in my area",
    "is there an outage",
    "are there any outages near me",
    "is the internet down in my area",
    "i have no internet",
    "we have no internet at home",
    "my broadband is not working",
    "my connection is down",
    "the whole street has no internet",
    "is the service down",
    "nothing is working",
    "my zip code is five five one oh three",
    "my zip code is five five one zero four",
    "five five one oh three",
    "five five one zero three",
    "five five one zero four",
    "five five one oh four",
    "five five one one six",
    "five five one oh five",
    "five five one oh two",
    "five five one oh eight",
    "it's five five one oh three",
    "the zip code is five five one one six",
    "fifty five one oh three",
    "double five one oh three",
    # tickets
    "what's the status of my ticket",
    "what's the status of my ticket please",
    "what's the status of my repair",
    "what's the status",
    "i want to check on my ticket",
    "i'm calling about my ticket",
    "is there an update on my ticket",
    "i have a ticket number",
    "my ticket number is four eight two nine one three",
    "four eight two nine one three",
    "five one seven two four oh",
    "five one seven two four zero",
    "six three oh oh five five",
    "six three zero zero five five",
    "seven oh oh oh oh four",
    "the ticket number is six three oh oh five five",
    "when is the technician coming",
    "has my repair been done",
    "i'm following up on a repair",
    # new tickets and faults
    "i want to report a problem",
    "i'd like to open a ticket",
    "i want to open a new ticket",
    "i need a technician",
    "can you send a technician",
    "my router is broken",
    "my router keeps restarting",
    "the router has a red light",
    "the light on my modem is blinking",
    "my internet is really slow",
    "the internet keeps dropping",
    "my wireless keeps disconnecting",
    "the connection keeps cutting out",
    "i can't connect to the internet",
    "a person at my house said the router is broken",
    "my son says the internet is slow",
    "the modem has no lights",
    "my speed is very slow in the evening",
    # a person
    "i want to talk to a person",
    "can i talk to a person",
    "can i speak to someone",
    "i'd like to speak to a human",
    "let me talk to an agent",
    "i need to speak with a representative",
    "put me through to support",
    "transfer me please",
    "operator",
    "representative",
    "a real person please",
    # answers
    "yes",
    "yes please",
    "yeah go ahead",
    "sure",
    "okay",
    "that's right",
    "correct",
    "no",
    "no thanks",
    "no thank you",
    "not now",
    "nope",
    # goodbye
    "that's all thank you",
    "that's all thank you goodbye",
    "that's all",
    "no that's all",
    "no that's all goodbye",
    "nothing else",
    "goodbye",
    "bye",
    "thank you goodbye",
    "no thanks goodbye",
    "thanks bye",
    "have a nice day",
)

WORDS: tuple[str, ...] = ("northwind",)
PRONUNCIATIONS: dict[str, str] = {"northwind": "N AO R TH W IH N D"}
KEYTERMS: tuple[str, ...] = (
    "Northwind Broadband",
    "outage",
    "ticket number",
    "ZIP code",
    "router",
    "modem",
    "technician",
)
