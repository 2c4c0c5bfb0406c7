"""Run a compiled LangGraph graph as a call's ``Agent``.

How it works. Each caller turn is one graph run on the call's thread (a UUID
derived from the CallSid, so Studio accepts it). The run executes in its own
task and feeds a queue; ``respond`` yields the spoken text from it. Runs are
serialised per call by a lock, because a second run started before the first
is finished splits the history.

Cancelling (barge-in) is where LangGraph needs help, measured here:

- a cancelled run keeps the caller's message and drops the partial reply:
  fine, ``record_heard`` then stores what the caller actually heard;
- a cancel inside the tool node leaves an AI tool call without an answer,
  which OpenAI rejects on the next turn: the repair step answers every open
  tool call -- with the real result if a side-effect tool committed (its
  ledger says so), else with a "cancelled" message;
- a tool with side effects (book, cancel, reschedule) is never cut halfway:
  while one runs, ``cancel`` waits for the tool node to finish and its
  checkpoint to be written (bounded by ``side_effect_grace``), and the tools
  themselves are idempotent by thread + tool call id.

An input of source ``event`` (``"transfer_failed"``: the call could not be
moved, the caller is still there) is not the caller's words: it enters the
conversation as a note (:mod:`graphs.events`) and the graph answers it like
a turn, so the dialogue apologises itself and its state records what happened.

The adapter imports nothing from ``telephony``: it matches the session's
``Agent`` protocol structurally and returns call actions as plain mappings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langgraph.graph.state import CompiledStateGraph

from graphs.events import event_message

__all__ = ["SPOKEN_NODES", "GraphAgent", "thread_id_for_call"]

logger = logging.getLogger("dialgraph.graph")

SPOKEN_NODES = frozenset({"agent", "greet"})  # nodes whose AI text the caller hears
_THREAD_NAMESPACE = uuid.UUID("5b0f3c5e-3d0e-4c53-9f57-2f1c4f6f0d1a")
_DONE = object()

EffectLedger = Callable[[str], Awaitable[Mapping[str, Any] | None]]
"""Looks up the artifact a side-effect tool call committed, by idempotency key."""


def thread_id_for_call(call_sid: str) -> str:
    """The LangGraph thread id of a call: a stable UUID derived from its CallSid."""
    return str(uuid.uuid5(_THREAD_NAMESPACE, call_sid))


def _field(value: Any, name: str) -> Any:
    """A state field from a dict (stream values) or a state object (task input)."""
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def _caller_message(text: str, source: str) -> HumanMessage:
    """A turn's input as a message: the caller's words, keys or silence, or an event note."""
    if source == "event":
        return event_message(text)
    if source == "dtmf":
        return HumanMessage(f"pressed {text}")
    if source == "silence":
        return HumanMessage("(silence)")
    return HumanMessage(text)


class GraphAgent:
    """One call's dialogue, run as LangGraph turns on a checkpointed thread.

    Args:
        graph: A compiled graph with a ``messages`` channel (and a checkpointer).
        thread_id: The call's thread (see :func:`thread_id_for_call`).
        context: The run context (the graph's ``context_schema`` instance).
        side_effect_tools: Names of tools that must not be cut halfway.
        ledger: Finds what a side-effect tool call committed (key
            ``f"{thread_id}:{tool_call_id}"``), for the repair step.
        side_effect_grace: Seconds ``cancel`` waits for a running side-effect
            tool to finish before cancelling anyway.
        metadata: Extra run metadata (shown in Studio / LangSmith).
        on_turn_end: Awaited with the thread's state values after every turn
            (completed, or cut and repaired): transcripts, checkpoint pruning.
        on_close: Awaited once when the call ends.
    """

    def __init__(
        self,
        graph: CompiledStateGraph,
        *,
        thread_id: str,
        context: Any = None,
        side_effect_tools: frozenset[str] = frozenset(),
        ledger: EffectLedger | None = None,
        side_effect_grace: float = 10.0,
        metadata: Mapping[str, Any] | None = None,
        on_turn_end: Callable[[Mapping[str, Any]], Awaitable[None]] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._on_turn_end = on_turn_end
        self._on_close = on_close
        self._graph = graph
        self._context = context
        self._side_effects = side_effect_tools
        self._ledger = ledger
        self._grace = side_effect_grace
        self.thread_id = thread_id
        self._config: dict[str, Any] = {
            "configurable": {"thread_id": thread_id},
            "metadata": dict(metadata or {}),
        }
        self._lock = asyncio.Lock()
        self._run: asyncio.Task[None] | None = None
        self._effect_running = False
        self._effect_done = asyncio.Event()
        self._action: dict[str, str] | None = None
        self._values: dict[str, Any] = {}
        self._usage: tuple[int, int] | None = None
        self._after_turn: asyncio.Task[None] | None = None

    @property
    def config(self) -> dict[str, Any]:
        """The run config (thread id and metadata)."""
        return self._config

    @property
    def turn_usage(self) -> tuple[int, int] | None:
        """LLM ``(input, output)`` tokens of the last turn, summed over its model
        calls, as the model reported them; ``None`` if it reported none (the
        offline model, or a server that does not send usage)."""
        return self._usage

    def _count_usage(self, usage: Mapping[str, Any]) -> None:
        used_in, used_out = self._usage or (0, 0)
        self._usage = (
            used_in + int(usage.get("input_tokens") or 0),
            used_out + int(usage.get("output_tokens") or 0),
        )

    # -- one turn ----------------------------------------------------------------
    async def respond(self, text: str, *, source: str = "speech") -> AsyncIterator[str]:
        """Run one turn; yield the reply's text as the model produces it."""
        async with self._lock:
            await self._settled()  # the last turn's transcript and pruning come first
            self._action = None
            self._usage = None
            inputs: dict[str, Any] = {"messages": []}
            if source != "start":
                inputs["messages"] = [_caller_message(text, source)]
            queue: asyncio.Queue[Any] = asyncio.Queue()
            self._run = asyncio.create_task(self._drive(inputs, queue))
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
            self._action = self._action_from(self._values)
            # After the reply's last word: the caller must not wait for the
            # transcript and pruning to hear the end of it.
            self._after_turn = asyncio.create_task(self._turn_ended(self._values))

    async def _settled(self) -> None:
        """Wait for the previous turn's after-turn hook (it never raises)."""
        if self._after_turn is not None:
            await asyncio.shield(self._after_turn)
            self._after_turn = None

    async def _turn_ended(self, values: Mapping[str, Any] | None = None) -> None:
        if self._on_turn_end is None:
            return
        if values is None:
            values = (await self._graph.aget_state(self._config)).values
        try:
            await self._on_turn_end(values)
        except Exception:
            logger.exception("after-turn hook failed (transcript or pruning)")

    async def _drive(self, inputs: dict[str, Any], queue: asyncio.Queue[Any]) -> None:
        try:
            async for mode, data in self._graph.astream(
                inputs,
                self._config,
                context=self._context,
                stream_mode=["messages", "tasks", "values"],
                durability="sync",
            ):
                if mode == "messages":
                    chunk, meta = data
                    if usage := getattr(chunk, "usage_metadata", None):
                        self._count_usage(usage)
                    if (
                        isinstance(chunk, AIMessageChunk | AIMessage)
                        and meta.get("langgraph_node") in SPOKEN_NODES
                        and isinstance(chunk.content, str)
                        and chunk.content
                    ):
                        queue.put_nowait(chunk.content)
                elif mode == "tasks":
                    self._track_effects(data)
                else:
                    self._values = data
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            queue.put_nowait(exc)
        finally:
            self._effect_running = False
            self._effect_done.set()
            queue.put_nowait(_DONE)

    def _track_effects(self, event: Mapping[str, Any]) -> None:
        """Note when the tool node starts or ends a side-effect tool call."""
        if event.get("name") != "tools":
            return
        if "result" in event or "error" in event:
            self._effect_running = False
            self._effect_done.set()
            return
        messages = _field(event.get("input"), "messages") or []
        last = messages[-1] if messages else None
        calls = getattr(last, "tool_calls", None) or []
        if any(call["name"] in self._side_effects for call in calls):
            self._effect_running = True
            self._effect_done.clear()

    @staticmethod
    def _action_from(values: Any) -> dict[str, str] | None:
        transfer = _field(values, "transfer")
        if transfer:
            return {
                "kind": "transfer",
                "target": str(transfer.get("target", "")),
                "reason": str(transfer.get("reason", "")),
            }
        if _field(values, "end_call"):
            return {"kind": "hangup", "reason": "conversation ended"}
        return None

    def pending_action(self) -> Mapping[str, str] | None:
        """The transfer or hang-up the last completed turn asked for, once."""
        action, self._action = self._action, None
        return action

    # -- barge-in ----------------------------------------------------------------
    async def cancel(self) -> None:
        """Stop the running turn (if any) and leave the thread consistent."""
        run = self._run
        if run is not None and not run.done():
            if self._effect_running:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._effect_done.wait(), self._grace)
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
        await self._repair()

    async def _repair(self) -> None:
        """Answer tool calls a cancelled run left open."""
        snapshot = await self._graph.aget_state(self._config)
        messages = list(snapshot.values.get("messages", []))
        answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
        last_ai = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
        if last_ai is None or not last_ai.tool_calls:
            return
        repairs = []
        for call in last_ai.tool_calls:
            if call["id"] in answered:
                continue
            committed = None
            if call["name"] in self._side_effects and self._ledger is not None:
                committed = await self._ledger(f"{self.thread_id}:{call['id']}")
            if committed is not None:
                content = "Done before the caller interrupted."
                repairs.append(
                    ToolMessage(
                        content,
                        tool_call_id=call["id"],
                        name=call["name"],
                        artifact=dict(committed),
                    )
                )
            else:
                repairs.append(
                    ToolMessage(
                        "Cancelled: the caller interrupted before this ran.",
                        tool_call_id=call["id"],
                        name=call["name"],
                        status="error",
                    )
                )
        if repairs:
            await self._graph.aupdate_state(self._config, {"messages": repairs}, as_node="tools")
            logger.info("repaired %d open tool call(s) after a cancelled turn", len(repairs))

    async def record_heard(self, text: str) -> None:
        """Store the reply as the caller heard it (cut at the barge-in)."""
        await self._settled()
        snapshot = await self._graph.aget_state(self._config)
        messages = list(snapshot.values.get("messages", []))
        last = messages[-1] if messages else None
        marker = {"interrupted": True}
        if isinstance(last, AIMessage) and not last.tool_calls:
            if last.content == text:
                return
            heard = AIMessage(
                text, id=last.id, response_metadata={**last.response_metadata, **marker}
            )
        elif text:
            heard = AIMessage(text, response_metadata=marker)
        else:
            return
        await self._graph.aupdate_state(self._config, {"messages": [heard]}, as_node="agent")
        await self._turn_ended()

    async def aclose(self) -> None:
        """End of call: stop a running turn the same safe way as ``cancel``."""
        await self._settled()
        if self._run is not None and not self._run.done():
            await self.cancel()
            await self._turn_ended()
        if self._on_close is not None:
            try:
                await self._on_close()
            except Exception:
                logger.exception("end-of-call hook failed")
