"""A bounded message window for the graph's ``messages`` channel.

Why: the SQLite checkpointer stores every channel value inline in every
checkpoint, and even Postgres stores a new copy of a channel's value each
time it changes. With ``add_messages`` the list grows by about two messages
per caller turn, so each checkpoint gets bigger, each turn gets slower, and
the database grows quadratically with the length of the call
(``bench/bench_graph_turns.py`` has the figures). Keeping only the last
``max_messages`` in state makes every checkpoint, and so every turn, cost the
same at turn 200 as at turn 2.

Nothing the call said is lost: the turn runner appends each turn's messages to
the call's transcript (:mod:`memory.transcripts`, idempotent by message id)
before they can leave the window. Archiving is not done inside the reducer on
purpose: reducers also run for Studio forks, ``update_state`` and replays, and
know nothing of the call, so writing from there would record things the
caller never said.

Usage in the graph's state::

    from memory.window import windowed_messages

    class State(TypedDict):
        messages: Annotated[list[AnyMessage], windowed_messages(40)]

The window is cut only at a safe place: it starts at a caller
(``HumanMessage``) turn when one lies inside the budget, and it never starts
with a ``ToolMessage``, so an ``AIMessage`` that made tool calls always keeps
its ``ToolMessage`` answers (OpenAI rejects a history where they are split).
Leading ``SystemMessage``s are pinned and count towards the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from langchain_core.messages import (
    AnyMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.graph.message import REMOVE_ALL_MESSAGES, Messages, add_messages

__all__ = ["DEFAULT_MAX_MESSAGES", "trim_window", "windowed_messages"]

# About a dozen caller turns with a tool round each: enough context for a
# receptionist dialogue, small enough that a checkpoint stays a few kilobytes.
DEFAULT_MAX_MESSAGES = 40


def trim_window(messages: Sequence[AnyMessage], max_messages: int) -> list[AnyMessage]:
    """Return at most ``max_messages`` of the newest messages, cut at a safe place.

    Pure function (no I/O); see the module docstring for where it cuts.

    Args:
        messages: The full history, oldest first.
        max_messages: The budget, including pinned leading system messages.

    Returns:
        The kept suffix (plus pinned system messages), oldest first. When no
        safe cut fits in the budget (one tool round longer than the budget),
        the window keeps the tool round whole and goes over the budget rather
        than orphan a ``ToolMessage``.

    Raises:
        ValueError: ``max_messages`` is smaller than 1.
    """
    if max_messages < 1:
        raise ValueError(f"max_messages must be at least 1, got {max_messages}")
    messages = list(messages)
    if len(messages) <= max_messages:
        return messages
    pinned = 0
    while pinned < len(messages) and isinstance(messages[pinned], SystemMessage):
        pinned += 1
    budget = max(max_messages - pinned, 1)
    body = messages[pinned:]
    if len(body) <= budget:
        return messages
    earliest = len(body) - budget
    start = _first_index(body, earliest, lambda m: isinstance(m, HumanMessage))
    if start is None:
        # One turn longer than the budget: start at its first AI message inside
        # the budget; its tool answers all follow it.
        start = _first_index(body, earliest, lambda m: not isinstance(m, ToolMessage))
    if start is None:
        # Only tool answers fit: go back to the AI message that asked for them.
        start = earliest
        while start > 0 and isinstance(body[start], ToolMessage):
            start -= 1
    return messages[:pinned] + body[start:]


def windowed_messages(
    max_messages: int = DEFAULT_MAX_MESSAGES,
) -> Callable[[Messages, Messages], list[AnyMessage]]:
    """Build a reducer: ``add_messages`` followed by :func:`trim_window`.

    It accepts everything ``add_messages`` accepts (message updates by id,
    ``RemoveMessage``, ``REMOVE_ALL_MESSAGES``, dicts and tuples). A
    ``RemoveMessage`` for a message that already left the window is ignored
    instead of raising, since the caller cannot know what was trimmed.

    Args:
        max_messages: The most messages kept in state (at least 1).

    Returns:
        A reducer for ``Annotated[list[AnyMessage], windowed_messages(n)]``.
    """
    if max_messages < 1:
        raise ValueError(f"max_messages must be at least 1, got {max_messages}")

    def reduce_windowed(left: Messages, right: Messages) -> list[AnyMessage]:
        merged = add_messages(left, _drop_stale_removals(left, right))
        # add_messages is typed as returning any ``Messages``; it returns a list of messages.
        return trim_window(cast("list[AnyMessage]", merged), max_messages)

    reduce_windowed.__name__ = f"windowed_messages_{max_messages}"
    reduce_windowed.__qualname__ = reduce_windowed.__name__
    return reduce_windowed


def _first_index(
    items: Sequence[AnyMessage], start: int, predicate: Callable[[AnyMessage], bool]
) -> int | None:
    for index in range(start, len(items)):
        if predicate(items[index]):
            return index
    return None


def _drop_stale_removals(left: Messages, right: Messages) -> Messages:
    """Drop ``RemoveMessage``s whose target is in neither side any more."""
    updates: list[Any] = right if isinstance(right, list) else [right]
    if not any(isinstance(m, RemoveMessage) for m in updates):
        return right
    olds: list[Any] = left if isinstance(left, list) else [left]
    known = {m.id for m in olds if isinstance(m, BaseMessage) and m.id}
    kept: list[Any] = []
    for message in updates:
        if isinstance(message, RemoveMessage) and message.id != REMOVE_ALL_MESSAGES:
            if message.id not in known:
                continue
        elif isinstance(message, BaseMessage) and message.id:
            known.add(message.id)
        kept.append(message)
    return kept
