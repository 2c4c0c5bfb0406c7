"""The agent's own record of what it said, checked against what the caller's ear heard.

In audio mode the caller hears the agent through pocketsphinx's generic
model, which mishears a few words of nearly every reply ("what day" as
"what they", "noon" as "none") where a person on the phone would not. The
agent's checkpointed state records each reply's words as the caller heard
them (cut short at a barge-in). When most of a recorded reply's words were
heard, in order, by the ear (:data:`VOUCHED`), the reply reached the line,
and its recorded words are what a listener would have understood. A reply
that never reached the caller (a synthesis that failed, audio that was lost)
is not heard, so the record vouches for nothing the caller did not hear.

Used by the caller to understand a reply (:func:`understood`); the judges
then read what it understood for a ``said`` phrase the ear missed. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from difflib import SequenceMatcher
from typing import Any

from spoken.words import fold

__all__ = ["VOUCHED", "heard_share", "message_text", "spoken_replies", "understood"]

VOUCHED = 0.5
"""How much of a reply (its words, in order) the ear must have heard to vouch for it."""
_COVERS = 0.5  # ...and how much of what the ear heard the reply must account for
_RECENT = 3  # replies (and runs of them) compared with one stretch of heard audio


def message_text(message: Any) -> str:
    """A message's text (its content may be a string or a list of content blocks)."""
    content = getattr(message, "content", "")
    if isinstance(content, str):
        return content
    return " ".join(
        str(block.get("text", "")) if isinstance(block, Mapping) else str(block)
        for block in content
    )


def spoken_replies(state: Mapping[str, Any]) -> list[str]:
    """The agent's record of its spoken replies, in order (what the caller heard of each)."""
    messages: Sequence[Any] = state.get("messages") or ()
    return [
        text
        for m in messages
        if getattr(m, "type", "") == "ai"
        and not getattr(m, "tool_calls", None)
        and (text := message_text(m).strip())
    ]


def heard_share(heard: str, reply: str) -> tuple[float, float]:
    """How much of ``reply``'s words the ear heard in order, and how much of ``heard`` they are."""
    said, got = fold(reply).split(), fold(heard).split()
    if not said or not got:
        return 0.0, 0.0
    matcher = SequenceMatcher(None, got, said, autojunk=False)
    common = sum(block.size for block in matcher.get_matching_blocks())
    return common / len(said), common / len(got)


def understood(heard: str, record: Sequence[str]) -> str | None:
    """The recorded words of the reply (or run of latest replies) the ear heard, if it did.

    A stretch of audio may hold more than one recorded reply (an
    acknowledgement, then the answer), so runs of the latest replies are
    tried too; the best covered wins. ``None``: the ear heard none of them
    well enough, and only the ear's own words stand.
    """
    latest = list(record[-_RECENT:])
    best: tuple[float, str] | None = None
    for start in range(len(latest)):
        candidate = " ".join(latest[start:])
        of_reply, of_heard = heard_share(heard, candidate)
        if of_reply >= VOUCHED and of_heard >= _COVERS and (best is None or of_reply > best[0]):
            best = (of_reply, candidate)
    return None if best is None else best[1]
