"""A scripted chat model for graph and runner tests (a test double).

Each call to the model takes the next scripted step: a text reply (streamed
word by word) or tool calls. A step may wait on an ``asyncio.Event`` first,
which lets a test hold the run at an exact point and cancel it there.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

_ids = itertools.count(1)


@dataclass
class Step:
    """One model answer: ``text``, or ``tool_calls`` as (name, args) pairs."""

    text: str = ""
    tool_calls: Sequence[tuple[str, dict[str, Any]]] = ()
    gate: asyncio.Event | None = None  # wait for this before answering
    started: asyncio.Event = field(default_factory=asyncio.Event)  # set when the step begins
    word_gate: tuple[int, asyncio.Event] | None = None  # pause after N words until the event


class ScriptedChatModel(BaseChatModel):
    """Answers with the next :class:`Step`; records the messages it was shown."""

    steps: list[Step]
    seen: list[list[BaseMessage]] = []

    @property
    def _llm_type(self) -> str:
        return "scripted-test-double"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self

    def _next(self, messages: list[BaseMessage]) -> Step:
        self.seen.append(list(messages))
        if not self.steps:
            raise AssertionError("the scripted model ran out of steps")
        return self.steps.pop(0)

    @staticmethod
    def _message(step: Step) -> AIMessage:
        calls = [
            {"name": name, "args": args, "id": f"call_{next(_ids)}", "type": "tool_call"}
            for name, args in step.tool_calls
        ]
        return AIMessage(step.text, tool_calls=calls)

    def _generate(
        self, messages: list[BaseMessage], stop=None, run_manager=None, **kw: Any
    ) -> ChatResult:
        raise NotImplementedError("async only")

    async def _agenerate(self, messages, stop=None, run_manager=None, **kw: Any) -> ChatResult:
        chunks = [c async for c in self._astream(messages, stop, run_manager, **kw)]
        message = chunks[0].message
        for chunk in chunks[1:]:
            message = message + chunk.message
        return ChatResult(
            generations=[
                ChatGeneration(
                    message=AIMessage(message.content, tool_calls=message.tool_calls, id=message.id)
                )
            ]
        )

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kw: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        step = self._next(messages)
        step.started.set()
        if step.gate is not None:
            await step.gate.wait()
        full = self._message(step)
        if full.tool_calls:
            chunk = AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {
                        "name": c["name"],
                        "args": __import__("json").dumps(c["args"]),
                        "id": c["id"],
                        "index": i,
                        "type": "tool_call_chunk",
                    }
                    for i, c in enumerate(full.tool_calls)
                ],
            )
            yield ChatGenerationChunk(message=chunk)
            return
        for i, word in enumerate(_words(step.text)):
            if step.word_gate is not None and i == step.word_gate[0]:
                await step.word_gate[1].wait()
            chunk = AIMessageChunk(content=word)
            if run_manager is not None:
                await run_manager.on_llm_new_token(word, chunk=ChatGenerationChunk(message=chunk))
            yield ChatGenerationChunk(message=chunk)
            await asyncio.sleep(0)


def _words(text: str) -> Iterator[str]:
    parts = text.split(" ")
    for i, part in enumerate(parts):
        yield part if i == len(parts) - 1 else part + " "


def assert_valid_history(history: list) -> None:
    """Every tool call answered exactly once, in order: what OpenAI accepts."""
    open_calls: set[str] = set()
    for message in history:
        if isinstance(message, AIMessage):
            assert not open_calls, f"tool calls left unanswered: {open_calls}"
            open_calls = {call["id"] for call in message.tool_calls}
        elif isinstance(message, ToolMessage):
            assert message.tool_call_id in open_calls, "a tool answer without its call"
            open_calls.discard(message.tool_call_id)
        else:
            assert not open_calls, f"tool calls left unanswered: {open_calls}"
    assert not open_calls
