"""Dialgraph: put a LangGraph graph on the telephone.

Everything a team's own repository needs, under one name::

    from dialgraph import PhoneSettings, ask, call_facts, side_effect, transfer_call

Graph-side names (the phone contract) import nothing of the telephony
layer; :func:`create_app` (the Litestar app) is imported on first use.
See ``docs/graph-contract.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphs.runtime.actions import (
    CALL_TOOLS,
    action_message,
    call_action,
    collect_digits,
    hang_up,
    play_message,
    requested_actions,
    transfer_call,
)
from graphs.runtime.contract import (
    CallerTurn,
    CallFacts,
    Expect,
    ask,
    call_facts,
    caller_turn,
    digits_of,
    expect,
    is_call_start,
    last_caller_turn,
    say,
    turn_message,
)
from graphs.runtime.effects import is_side_effect, side_effect
from graphs.runtime.loader import Flow, GraphLoadError, load_flow
from graphs.runtime.phone import PhoneSettings, Redaction, SpeechHints, StartupInfo
from graphs.runtime.understanding import (
    EXACT,
    FUZZY,
    INFERRED,
    ChatModelUnderstander,
    IntentSpec,
    Meaning,
    Mixed,
    RuleFunction,
    RuleUnderstander,
    Slot,
    SlotSpec,
    Understander,
    Understanding,
    match_choice,
    yes_no,
)

if TYPE_CHECKING:
    from telephony.web.app import create_app

__all__ = [
    "CALL_TOOLS",
    "EXACT",
    "FUZZY",
    "INFERRED",
    "CallFacts",
    "CallerTurn",
    "ChatModelUnderstander",
    "Expect",
    "Flow",
    "GraphLoadError",
    "IntentSpec",
    "Meaning",
    "Mixed",
    "PhoneSettings",
    "Redaction",
    "RuleFunction",
    "RuleUnderstander",
    "Slot",
    "SlotSpec",
    "SpeechHints",
    "StartupInfo",
    "Understander",
    "Understanding",
    "action_message",
    "ask",
    "call_action",
    "call_facts",
    "caller_turn",
    "collect_digits",
    "create_app",
    "digits_of",
    "expect",
    "hang_up",
    "is_call_start",
    "is_side_effect",
    "last_caller_turn",
    "load_flow",
    "match_choice",
    "play_message",
    "requested_actions",
    "say",
    "side_effect",
    "transfer_call",
    "turn_message",
    "yes_no",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from telephony.web.app import create_app

        return create_app
    raise AttributeError(f"module 'dialgraph' has no attribute {name!r}")
