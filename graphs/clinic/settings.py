"""The clinic's phone settings: its words, its numbers, its hooks around a call.

``phone`` is exported beside each of the clinic's graphs (``graph.py`` and
``agent.py``), where the Dialgraph loader looks for it. Its ``spoken_nodes``
are the explicit graph's; ``agent.py`` swaps in its own.
"""

from __future__ import annotations

from dialgraph import PhoneSettings, Redaction, SpeechHints
from graphs.clinic import vocabulary
from graphs.clinic.lifecycle import call_context, open_clinic, remember_visit
from tools._runtime import DEFAULT_TIMEZONE
from tools.clinic import CLINIC_NAME, FRONT_DESK
from tools.transfer import FRONT_DESK_DESTINATION

__all__ = ["SPOKEN_NODES", "phone"]

SPOKEN_NODES = frozenset(
    {
        "greet",
        "collect",
        "change",
        "ask_detail",
        "read_back",
        "identify",
        "transfer",
        "goodbye",
        "converse",
        "reprompt",
        "offer_person",
        "report",
    }
)
"""The explicit graph's nodes whose words the caller hears."""

phone = PhoneSettings(
    name=CLINIC_NAME,
    # The greet node greets; this is said only if the graph says nothing at call start.
    greeting=f"Thank you for calling {CLINIC_NAME}. How can I help you today?",
    voicemail_message=f"Hello, this is {CLINIC_NAME}. Please call us back. Goodbye.",
    timezone=DEFAULT_TIMEZONE,
    spoken_nodes=SPOKEN_NODES,
    transfer_targets={FRONT_DESK_DESTINATION: FRONT_DESK},
    speech=SpeechHints(
        phrases=tuple(vocabulary.corpus()),
        words=tuple(sorted(vocabulary.words())),
        # Rare words the cloud recogniser should favour (vendors warn against long lists).
        keyterms=(
            CLINIC_NAME,
            "checkup",
            "consultation",
            "vaccination",
            "Dr. Patel",
            "Dr. Nguyen",
            "reschedule",
        ),
    ),
    redaction=Redaction(allow_list=("Patel", "Nguyen", "Riverside", CLINIC_NAME)),
    context=call_context,
    on_startup=open_clinic,
    on_call_end=remember_visit,
)
"""The clinic's phone settings, found by the loader next to ``graph``."""
