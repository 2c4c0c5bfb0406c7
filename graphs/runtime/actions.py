"""Call actions as ordinary LangChain tools: transfer, hang up, collect keys, play.

How it works. A model (``create_agent``) calls these like any tool; a
hand-built graph puts them in its ``ToolNode`` (or calls
:func:`action_message` from a node). Each answers with a ``ToolMessage``
whose artifact carries the request under ``"dialgraph_action"``, so the
request lives in the checkpoint: it survives a crash, shows in Studio and
works over LangGraph Server. The runtime reads the requests of the turn
(:func:`requested_actions`) and carries them out once the caller heard the
reply: a transfer moves the call, a hang-up ends it, a keypad request
collects keys into the next turn, a message is read out verbatim.

``transfer_call`` names a destination from the flow's phone settings
(``PhoneSettings.transfer_targets``); the model never sees or invents a
phone number.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, InjectedToolCallId, tool

from graphs.runtime.contract import Expect

__all__ = [
    "ACTION_KEY",
    "CALL_TOOLS",
    "ActionKind",
    "action_message",
    "action_of",
    "call_action",
    "collect_digits",
    "hang_up",
    "play_message",
    "requested_actions",
    "transfer_call",
]

ACTION_KEY = "dialgraph_action"  # artifact key of a call-action request
ActionKind = Literal["transfer", "hangup", "collect", "play"]


def action_message(
    kind: ActionKind, tool_call_id: str, *, name: str, content: str, **fields: Any
) -> ToolMessage:
    """The ``ToolMessage`` that asks the runtime for a call action."""
    request = {"kind": kind, **fields}
    return ToolMessage(
        content, tool_call_id=tool_call_id, name=name, artifact={ACTION_KEY: request}
    )


@tool(parse_docstring=True)
def transfer_call(
    reason: str,
    tool_call_id: Annotated[str, InjectedToolCallId],
    destination: str = "",
) -> ToolMessage:
    """Hand the call to a person (a number or queue of the business).

    Use when the caller asks for a person, or for anything you cannot do.
    Tell the caller you are transferring them in the same reply.

    Args:
        reason: Why, in a few words (e.g. "caller asked for a person").
        destination: Which team, if the business has several (empty: the default one).
    """
    return action_message(
        "transfer",
        tool_call_id,
        name="transfer_call",
        content="The call will be transferred after your reply.",
        destination=destination.strip(),
        reason=reason.strip() or "caller asked for a person",
    )


@tool(parse_docstring=True)
def hang_up(tool_call_id: Annotated[str, InjectedToolCallId], reason: str = "") -> ToolMessage:
    """End the call after your reply, once the caller is done or says goodbye.

    Say a short goodbye in the same reply.

    Args:
        reason: Why the call ends, in a few words.
    """
    return action_message(
        "hangup",
        tool_call_id,
        name="hang_up",
        content="The call will end after your reply.",
        reason=reason.strip() or "conversation ended",
    )


@tool(parse_docstring=True)
def collect_digits(
    tool_call_id: Annotated[str, InjectedToolCallId],
    prompt: str = "",
    max_digits: int = 0,
    finish_on_key: str = "#",
    timeout_s: float = 5.0,
) -> ToolMessage:
    """Let the caller type a number on the keypad (an account or ticket number).

    The keys arrive together as the caller's next turn. The caller may also
    say the number instead.

    Args:
        prompt: What to say before the keys, e.g. "Please key your account number, then hash."
        max_digits: How many keys at most (0: until the finish key or a pause).
        finish_on_key: The key that ends the entry ("#" by default).
        timeout_s: Seconds of pause that end the entry.
    """
    spec = Expect.digits(max_digits, finish_on_key=finish_on_key, timeout_s=timeout_s)
    return action_message(
        "collect",
        tool_call_id,
        name="collect_digits",
        content="Listening for keys; they arrive as the caller's next turn.",
        prompt=prompt.strip(),
        expect=spec,
    )


@tool(parse_docstring=True)
def play_message(text: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> ToolMessage:
    """Read a fixed message to the caller word for word (terms, a disclaimer).

    Args:
        text: The exact words to read out.
    """
    return action_message(
        "play", tool_call_id, name="play_message", content="Read out to the caller.", text=text
    )


CALL_TOOLS: list[BaseTool] = [transfer_call, hang_up, collect_digits, play_message]
"""Every call-action tool, for ``create_agent(tools=[*CALL_TOOLS, ...])``."""


_TOOL_OF: dict[str, str] = {
    "transfer": "transfer_call",
    "hangup": "hang_up",
    "collect": "collect_digits",
    "play": "play_message",
}


def call_action(kind: ActionKind, *, say: str = "", **fields: Any) -> list[BaseMessage]:
    """A call action requested by a node without a model, as a tool call and its answer.

    Returns ``[AIMessage(say, tool_calls=[...]), ToolMessage(...)]``: the
    checkpoint reads as if a model had called the tool, so a chat model
    later in the call sees a valid history. ``say`` is spoken first::

        return {"messages": call_action("hangup", say="Goodbye!", reason="caller said bye")}

    Args:
        kind: ``transfer`` (``destination``, ``reason``), ``hangup`` (``reason``),
            ``collect`` (``expect``: an ``Expect.digits`` mapping, ``prompt``)
            or ``play`` (``text``).
        say: What the agent says with it (may be empty).
    """
    name = _TOOL_OF[kind]
    call_id = f"call_{uuid.uuid4().hex[:16]}"
    args = {k: v for k, v in fields.items() if k != "expect"}
    ask_tool = AIMessage(say, tool_calls=[{"name": name, "args": args, "id": call_id}])
    done = action_message(kind, call_id, name=name, content="Requested.", **fields)
    return [ask_tool, done]


def action_of(message: BaseMessage) -> dict[str, Any] | None:
    """The call-action request a message carries, or ``None``."""
    if not isinstance(message, ToolMessage) or not isinstance(message.artifact, Mapping):
        return None
    request = message.artifact.get(ACTION_KEY)
    return dict(request) if isinstance(request, Mapping) and request.get("kind") else None


def requested_actions(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """The call-action requests made since the last caller turn, in order."""
    found: list[dict[str, Any]] = []
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if (request := action_of(message)) is not None:
            found.append(request)
    found.reverse()
    return found


def names(tools: Iterable[BaseTool]) -> frozenset[str]:
    """The names of ``tools``."""
    return frozenset(t.name for t in tools)
