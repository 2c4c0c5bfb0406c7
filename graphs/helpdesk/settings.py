"""The helpdesk's phone settings: its words, its numbers, its data at start-up.

``phone`` is exported beside each of the helpdesk's graphs (``graph.py`` and
``agent.py``), where the Dialgraph loader looks for it.
"""

from __future__ import annotations

from dialgraph import PhoneSettings, Redaction, SpeechHints, StartupInfo
from graphs.helpdesk.context import helpdesk_context
from graphs.helpdesk.replies import GREETING
from graphs.helpdesk.vocabulary import KEYTERMS, PHRASES, PRONUNCIATIONS, WORDS
from spoken.numbers import DIGIT_WORDS
from tools.helpdesk import prepare_helpdesk

__all__ = ["SUPPORT_NUMBER", "TICKET_NUMBER_PATTERN", "phone", "prepare"]

SUPPORT_NUMBER = "+15550100300"  # a fictional number (555-01xx is reserved for fiction)

# A digit, or a word for one ("oh", "nought"): the words redaction reads as digits too.
_DIGIT = rf"(?:\d|{'|'.join(sorted(DIGIT_WORDS, key=len, reverse=True))})"
TICKET_NUMBER_PATTERN = (
    rf"(?i)\bticket(?:\s+number)?(?:\s+is)?\s+{_DIGIT}(?:[\s,-]*{_DIGIT}){{5}}\b"
)
"""A ticket number named as one ("ticket 4 8 2 9 1 3", "ticket number is four eight
two nine one three"): six digits, which the redactor would otherwise take for part
of a phone or card number. A bare six-digit run stays redacted: without the word
"ticket" nothing says it is not personal."""


async def prepare(startup: StartupInfo) -> None:
    """Start-up hook: the helpdesk's tables and demo rows in the service's database."""
    await prepare_helpdesk(startup.database_url)


phone = PhoneSettings(
    name="Northwind Broadband",
    greeting=GREETING,
    timezone="America/Chicago",  # the demo ZIP codes (551xx) are in Saint Paul, Minnesota
    transfer_targets={"support": SUPPORT_NUMBER},
    speech=SpeechHints(
        phrases=PHRASES, words=WORDS, pronunciations=PRONUNCIATIONS, keyterms=KEYTERMS
    ),
    redaction=Redaction(allow_list=("Northwind",), keep_patterns=(TICKET_NUMBER_PATTERN,)),
    context=helpdesk_context,
    on_startup=prepare,
)
