"""Events on the line, as a dialogue graph sees them.

The telephony layer tells the agent about things that happen on a call but
are nobody's words (a transfer that did not go through) as an input of
source ``"event"``, named by its text (``"transfer_failed"``). The runtime
puts it into the conversation as a note: a ``HumanMessage``, so every chat
model accepts it and the graph routes it like a caller turn, whose text
starts ``[event: <name>]`` and says what happened. It is tagged twice: with
the phone contract's turn (``additional_kwargs["dialgraph"]``, source
``event``, read with :func:`dialgraph.caller_turn`) and with
``{"source": "event", "event": <name>}``, which keeps it out of the caller's
lines in transcripts. Hosted models are told about notes in their prompt; the
offline model reads the tag, or the prefix, so a note typed into LangGraph
Studio works the same way.
"""

from __future__ import annotations

import re

from langchain_core.messages import BaseMessage, HumanMessage

from graphs.runtime.contract import CALL_KEY, CallerTurn, caller_turn

__all__ = ["EVENT_NOTES", "TRANSFER_FAILED", "event_message", "event_name"]

TRANSFER_FAILED = "transfer_failed"  # = telephony's name for it (graphs never import telephony)
EVENT_NOTES: dict[str, str] = {
    TRANSFER_FAILED: (
        "The transfer did not go through: the caller was not put through and is still on the line."
    ),
}
"""What each known event means, in the words of the note."""

_PREFIX = re.compile(r"^\s*\[event:\s*([A-Za-z0-9_.-]+)\s*\]")


def event_message(name: str) -> HumanMessage:
    """The note that tells the dialogue about event ``name`` (tagged as an ``event`` turn)."""
    name = name.strip() or "unknown"
    text = f"[event: {name}] {EVENT_NOTES.get(name, '')}".strip()
    turn = CallerTurn(text=name, source="event")
    return HumanMessage(
        text, additional_kwargs={"source": "event", "event": name, CALL_KEY: dict(turn)}
    )


def event_name(message: BaseMessage) -> str | None:
    """The event a message is a note of, or ``None`` for anything else (caller words)."""
    if not isinstance(message, HumanMessage):
        return None
    tagged = (message.additional_kwargs or {}).get("event")
    if tagged:
        return str(tagged)
    turn = caller_turn(message)
    if turn is not None and turn["source"] == "event" and turn["text"]:
        return turn["text"]
    content = message.content if isinstance(message.content, str) else ""
    match = _PREFIX.match(content)
    return match.group(1) if match else None
