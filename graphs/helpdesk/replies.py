"""What the helpdesk says, in one place (the graph decides when; the tools say results).

Short sentences that read well aloud. Questions that take a yes or a no end
with one, so the caller knows what to say next. Written for the ear: "zip
code" in lower case, because Piper spells a capitalised "ZIP" out as letters
("zee eye pee code").
"""

from __future__ import annotations

from tools.helpdesk import spoken_digits

__all__ = [
    "ANYTHING_ELSE",
    "ASK_PROBLEM",
    "ASK_PROBLEM_AGAIN",
    "ASK_TICKET",
    "ASK_TICKET_AGAIN",
    "ASK_TICKET_REHEARD",
    "ASK_ZIP",
    "ASK_ZIP_AGAIN",
    "ASK_ZIP_REHEARD",
    "DECLINED",
    "GONE",
    "GOODBYE",
    "GREETING",
    "NOT_OPENED",
    "OFFER_PERSON",
    "OFFER_TICKET",
    "PENDING_QUESTIONS",
    "REPROMPT",
    "REPROMPT_SILENCE",
    "TRANSFER",
    "TRANSFER_FAILED",
    "confirm_value",
    "confirm_value_again",
    "read_back",
]

GREETING = (
    "Thanks for calling Northwind Broadband. I can check for an outage in your area, "
    "give you an update on a repair ticket, or open a new one. How can I help?"
)
ASK_ZIP = "Sure. What's your five-digit zip code? You can say it or key it in."
ASK_ZIP_AGAIN = "Sorry, I didn't get that. Please say or key your five-digit zip code."
ASK_TICKET = "Of course. What's your six-digit ticket number? You can say it or key it in."
ASK_TICKET_AGAIN = (
    "Sorry, I didn't get that. Please say or key the six digits of your ticket number."
)
ASK_ZIP_REHEARD = "Sorry about that. Please say or key your five-digit zip code."
ASK_TICKET_REHEARD = "Sorry about that. Please say or key the six digits of your ticket number."
ASK_PROBLEM = "I can open a repair ticket for you. In a sentence, what's wrong?"
ASK_PROBLEM_AGAIN = (
    "Sorry, I didn't catch that. Please tell me briefly what's wrong with your service."
)
ANYTHING_ELSE = "Is there anything else I can help with?"
OFFER_TICKET = "Would you like me to open a repair ticket?"
NOT_OPENED = "Okay, I haven't opened a ticket. Is there anything else I can help with?"
DECLINED = "Okay. Is there anything else I can help with?"
TRANSFER = "Of course. I'm putting you through to our support team now."
TRANSFER_FAILED = (
    "I'm sorry, I couldn't put you through just now. "
    "I can open a repair ticket so a technician calls you back. Would you like that?"
)
GOODBYE = "Thanks for calling Northwind Broadband. Goodbye!"
GONE = "I can't hear you, so I'll end the call now. Please call us back any time. Goodbye."
REPROMPT = (
    "Sorry, I didn't catch that. You can ask about an outage, a repair ticket, or ask for a person."
)
REPROMPT_SILENCE = (
    "Are you still there? You can ask about an outage, a repair ticket, or ask for a person."
)
OFFER_PERSON = (
    "I'm sorry, I'm having trouble understanding. Would you like me to put you through to a person?"
)
PENDING_QUESTIONS = {
    "open_ticket": "Shall I open the ticket? Please say yes or no.",
    "offer_ticket": "Would you like me to open a repair ticket? Please say yes or no.",
    "transfer": "Would you like me to put you through to a person? Please say yes or no.",
}
"""A pending yes/no question asked again after a turn that did not answer it."""


def read_back(description: str) -> str:
    """The ticket about to be opened, read back for a yes or a no."""
    return f"I'll open a repair ticket saying: {description}. Shall I go ahead?"


_VALUE_NAMES = {"zip_code": "zip code", "ticket_number": "ticket number"}


def confirm_value(slot: str, value: str) -> str:
    """A ZIP code or ticket number heard unsure, read back digit by digit for a yes or a no."""
    return f"Was that {_VALUE_NAMES[slot]} {spoken_digits(value)}?"


def confirm_value_again(slot: str, value: str) -> str:
    """The read-back asked again after a turn that did not answer it."""
    return f"Sorry, I didn't catch that. {confirm_value(slot, value)} Please say yes or no."
