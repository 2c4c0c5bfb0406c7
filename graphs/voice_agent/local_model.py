"""``local``: the offline, deterministic dialogue model for the clinic demo.

How it works: ``LocalDialogueModel`` is a LangChain chat model with tool
calling and token streaming, so the clinic graph runs on it exactly as on a
hosted model. It holds no conversation state. On every call it replays the
whole message history through the receptionist's policy (``_dialogue``).
Caller turns are read by their phone-contract tag (:func:`dialgraph.caller_turn`):
words by the rule-based NLU (``nlu``), keys pressed as keys, silence as a
re-ask, notes from the phone system (``[event: transfer_failed]``, see
``graphs.runtime.events``) by the policy directly; the call-start turn is not the
caller's words and is skipped (the graph's ``greet`` node answers it). Tool
results are read through their artifacts, and the action after the last
message is the reply. So a checkpoint restore, a cancelled run or a different
process gives the same answer for the same history.

The system message tells it the date ("Today is 2026-11-24") and, when known,
the caller ("Caller name: Maria Lopez"); a ``today`` given to the constructor
wins over the former. Tool calls are limited to the tools bound with
``bind_tools``; their ids are derived from the history, so a repeated run
repeats the same id (the booking tools use it as their idempotency key).

Replies stream word by word as ``AIMessageChunk`` content; a tool call
streams as ``tool_call_chunks`` (name and id first, then the JSON arguments),
which ``add_messages`` and LangGraph's ``stream_mode="messages"`` assemble.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from dialgraph import caller_turn
from graphs.runtime.events import event_name

from ._dialogue import ClinicDialogue, Say, ToolCall

__all__ = ["LocalDialogueModel"]

MODEL_NAME = "local"
_TODAY_LINE = re.compile(r"\bToday is (\d{4}-\d{2}-\d{2})\b")
_CALLER_LINE = re.compile(r"^\s*Caller name:\s*(.*?)\s*$", re.MULTILINE | re.IGNORECASE)
_UNKNOWN_NAMES = frozenset({"", "unknown", "none", "n/a", "not known", "-", "null"})
_WORD = re.compile(r"\s*\S+")
_SILENCE = re.compile(r"[(\[]?\s*silence\s*[)\]]?", re.IGNORECASE)  # "(silence)" typed in Studio
_ARGS_PIECE_CHARS = 24  # stream the JSON arguments in a few pieces, like a hosted model
_FALLBACK_OPENING = "How can I help you today?"


class LocalDialogueModel(BaseChatModel):
    """Offline chat model that runs the Riverside Family Clinic dialogue.

    Example:
        >>> model = LocalDialogueModel(today="2026-11-24").bind_tools(CLINIC_TOOLS)
        >>> model.invoke([HumanMessage("anything free on friday morning")]).tool_calls[0]["name"]
        'check_availability'

    Attributes:
        today: The date "tomorrow" is counted from; None = the system message's
            "Today is YYYY-MM-DD" line, else the real date.
    """

    today: dt.date | None = None

    @property
    def _llm_type(self) -> str:
        return "dialgraph-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": MODEL_NAME, "today": self.today.isoformat() if self.today else None}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; only these may be called. ``tool_choice`` is accepted and ignored."""
        del tool_choice  # the policy decides when a tool is due
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    # --- generation -------------------------------------------------------------------

    def _reply(self, messages: list[BaseMessage], tools: Any) -> AIMessage:
        action = _decide(messages, today=self.today, tools=_tool_names(tools))
        metadata = {"model_name": MODEL_NAME}
        if isinstance(action, ToolCall):
            call = {
                "name": action.name,
                "args": action.args,
                "id": _call_id(messages, action),
                "type": "tool_call",
            }
            return AIMessage(
                content="",
                tool_calls=[call],
                response_metadata={**metadata, "finish_reason": "tool_calls"},
            )
        return AIMessage(
            content=action.text, response_metadata={**metadata, "finish_reason": "stop"}
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._reply(messages, kwargs.get("tools"))
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Overridden only so the pure computation does not hop to a thread pool.
        return self._generate(messages, stop, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in _chunks(self._reply(messages, kwargs.get("tools"))):
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in _chunks(self._reply(messages, kwargs.get("tools"))):
            yield ChatGenerationChunk(message=chunk)


def _tool_names(tools: Any) -> frozenset[str]:
    """Names of the tools bound as OpenAI-format dicts (or anything with a name)."""
    names: set[str] = set()
    for tool in tools or ():
        if isinstance(tool, dict):
            name = (tool.get("function") or {}).get("name") or tool.get("name")
        else:
            name = getattr(tool, "name", None)
        if name:
            names.add(str(name))
    return frozenset(names)


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return " ".join(parts)


def _hear(dialogue: ClinicDialogue, message: HumanMessage) -> Say | ToolCall | None:
    """Feed one caller turn to the policy by its tag; ``None`` for the call-start turn."""
    if event := event_name(message):
        return dialogue.on_event(event)
    turn = caller_turn(message)
    source = turn["source"] if turn is not None else "speech"
    if source == "start":
        return None  # answered by the greeting, never heard as the caller's words
    if source == "dtmf" and turn is not None:
        return dialogue.hear_keys(turn.get("digits") or turn["text"])
    if source == "silence":
        return dialogue.hear("")
    text = _text(message).strip()
    return dialogue.hear("" if _SILENCE.fullmatch(text) else text)


def _decide(
    messages: Sequence[BaseMessage], *, today: dt.date | None, tools: frozenset[str]
) -> Say | ToolCall:
    """Replay the history through the policy; the action after the last message."""
    system = "\n".join(_text(m) for m in messages if isinstance(m, SystemMessage))
    found_today = _TODAY_LINE.findall(system)
    if today is None:
        today = dt.date.fromisoformat(found_today[-1]) if found_today else dt.date.today()
    names = [n for n in _CALLER_LINE.findall(system) if n.lower() not in _UNKNOWN_NAMES]
    dialogue = ClinicDialogue(today=today, caller_name=names[-1] if names else None, tools=tools)

    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    action: Say | ToolCall | None = None
    for message in messages:
        if isinstance(message, HumanMessage):
            action = _hear(dialogue, message)
        elif isinstance(message, AIMessage):
            for call in message.tool_calls:
                calls[call.get("id") or ""] = (call["name"], dict(call.get("args") or {}))
            if not message.tool_calls:
                action = None  # already said; a further call re-asks, below
        elif isinstance(message, ToolMessage):
            name, args = calls.get(message.tool_call_id, (message.name or "", {}))
            failed = message.status == "error"
            action = dialogue.tool_result(
                name, args, message.artifact, _text(message), failed=failed
            )
    if action is None:
        return Say(dialogue.question or _FALLBACK_OPENING)
    return action


def _call_id(messages: Sequence[BaseMessage], action: ToolCall) -> str:
    """A tool-call id fixed by the history: a re-run repeats it (idempotent side effects)."""
    digest = hashlib.sha256()
    for message in messages:
        digest.update(f"{message.type}\x00{_text(message)}\x00".encode())
        for call in getattr(message, "tool_calls", None) or ():
            digest.update(f"{call.get('id')}\x00".encode())
        if isinstance(message, ToolMessage):
            digest.update(f"{message.tool_call_id}\x00".encode())
    digest.update(json.dumps([action.name, action.args], sort_keys=True, default=str).encode())
    return "call_" + digest.hexdigest()[:24]


def _chunks(message: AIMessage) -> Iterator[AIMessageChunk]:
    """The message as a stream: words, or a tool call in pieces; the last chunk is marked."""
    pieces: list[AIMessageChunk] = []
    for call in message.tool_calls:
        args = json.dumps(call["args"])
        pieces.append(
            AIMessageChunk(
                content="",
                tool_call_chunks=[
                    tool_call_chunk(name=call["name"], args="", id=call["id"], index=0)
                ],
            )
        )
        pieces.extend(
            AIMessageChunk(
                content="",
                tool_call_chunks=[
                    tool_call_chunk(
                        name=None, args=args[i : i + _ARGS_PIECE_CHARS], id=None, index=0
                    )
                ],
            )
            for i in range(0, len(args), _ARGS_PIECE_CHARS)
        )
    if not message.tool_calls:
        pieces.extend(AIMessageChunk(content=w) for w in _WORD.findall(_text(message)))
    if not pieces:
        pieces.append(AIMessageChunk(content=""))
    last = pieces[-1]
    pieces[-1] = AIMessageChunk(
        content=last.content,
        tool_call_chunks=last.tool_call_chunks,
        chunk_position="last",
        response_metadata=dict(message.response_metadata),
    )
    yield from pieces
