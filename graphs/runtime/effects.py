"""Side-effecting tools that barge-in can never cut halfway or repeat.

How it works. A team marks a tool that changes the world (books, opens a
ticket, charges a card) with :func:`side_effect`. The marked tool, called
from any ``ToolNode`` or agent:

1. computes its idempotency key, ``"{thread_id}:{tool_call_id}"``: the same
   tool call of the same call (a run resumed after a crash, a turn repeated)
   has the same key;
2. looks the key up in the process's :class:`EffectLedger`: if the effect
   already happened, the stored result is returned and nothing runs again;
3. otherwise runs the tool shielded from cancellation (a barge-in cancels
   the graph run, never the booking under way), and records its result;
4. tells the :data:`tracker` while it runs, so the runner's ``cancel`` waits
   for it (bounded) before cancelling the run, and the repair step can answer
   the tool call with the committed result.

The ledger is chosen by the service at start (:func:`use_ledger`: the call
database, SQLite or Postgres, see :mod:`memory.effects`); in tests and
Studio without a service it is in memory. Only ``ToolMessage`` results are
recorded; a side-effecting tool should return text (or content and
artifact), not a ``Command``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool

from memory.effects import EffectLedger, EffectRecord, InMemoryEffectLedger

__all__ = [
    "EffectLedger",
    "EffectRecord",
    "EffectTracker",
    "InMemoryEffectLedger",
    "SideEffectTool",
    "current_ledger",
    "effect_key",
    "is_side_effect",
    "side_effect",
    "tracker",
    "use_ledger",
]

logger = logging.getLogger("dialgraph.effects")

SIDE_EFFECT_FLAG = "dialgraph_side_effect"  # tool metadata key that marks a side effect


_ledger: EffectLedger = InMemoryEffectLedger()


def use_ledger(ledger: EffectLedger) -> EffectLedger:
    """Make ``ledger`` the process's ledger; returns the previous one."""
    global _ledger
    previous, _ledger = _ledger, ledger
    return previous


def current_ledger() -> EffectLedger:
    """The process's ledger."""
    return _ledger


class EffectTracker:
    """Which threads have a side effect running now (in this process)."""

    def __init__(self) -> None:
        self._running: dict[str, int] = {}
        self._idle: dict[str, asyncio.Event] = {}

    def running(self, thread_id: str) -> bool:
        """Whether a side-effecting tool of ``thread_id`` is running."""
        return self._running.get(thread_id, 0) > 0

    async def settled(self, thread_id: str, within_s: float) -> bool:
        """Wait up to ``within_s`` seconds until no side effect of the thread runs."""
        if not self.running(thread_id):
            return True
        event = self._idle.setdefault(thread_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), within_s)
        return not self.running(thread_id)

    def begin(self, thread_id: str) -> None:
        """One side effect of ``thread_id`` starts (pair with :meth:`end`)."""
        self._running[thread_id] = self._running.get(thread_id, 0) + 1
        self._idle.setdefault(thread_id, asyncio.Event()).clear()

    def end(self, thread_id: str) -> None:
        """One side effect of ``thread_id`` is over, committed or failed."""
        left = self._running.get(thread_id, 1) - 1
        if left <= 0:
            self._running.pop(thread_id, None)
            self._idle.pop(thread_id, asyncio.Event()).set()
        else:
            self._running[thread_id] = left


tracker = EffectTracker()


def effect_key(thread_id: str, tool_call_id: str) -> str:
    """The idempotency key of one tool call on one thread."""
    return f"{thread_id}:{tool_call_id}"


def _thread_id(config: RunnableConfig | None) -> str:
    return str(((config or {}).get("configurable") or {}).get("thread_id") or "")


class SideEffectTool(BaseTool):
    """A tool wrapped by :func:`side_effect` (same name, schema and description)."""

    inner: BaseTool

    def __init__(self, inner: BaseTool) -> None:
        super().__init__(
            inner=inner,
            name=inner.name,
            description=inner.description,
            args_schema=inner.args_schema,
            return_direct=inner.return_direct,
            response_format=inner.response_format,
            metadata={**(inner.metadata or {}), SIDE_EFFECT_FLAG: True},
            tags=inner.tags,
            handle_tool_error=inner.handle_tool_error,
            handle_validation_error=inner.handle_validation_error,
        )

    # ToolNode reads injected arguments (runtime, state, store) from these.
    @property
    def func(self) -> Any:
        return getattr(self.inner, "func", None)

    @property
    def coroutine(self) -> Any:
        return getattr(self.inner, "coroutine", None)

    def get_input_schema(self, config: RunnableConfig | None = None) -> Any:
        return self.inner.get_input_schema(config)

    @property
    def tool_call_schema(self) -> Any:
        return self.inner.tool_call_schema

    def _run(self, *args: Any, **kwargs: Any) -> Any:  # never reached: invoke is delegated
        raise NotImplementedError

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Synchronous calls run unguarded (a phone call always runs the async path)."""
        return self.inner.invoke(input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        call_id = input.get("id") if isinstance(input, Mapping) else None
        thread_id = _thread_id(config)
        if not call_id or not thread_id:  # a direct call, outside a graph: nothing to key on
            return await self.inner.ainvoke(input, config, **kwargs)
        key = effect_key(thread_id, str(call_id))
        # Marked running before the task starts, unmarked when it ends: a barge-in
        # cancels this await, never the effect, and waits while it is under way.
        tracker.begin(thread_id)
        run = asyncio.ensure_future(
            self._once(current_ledger(), key, thread_id, input, config=config, kwargs=kwargs)
        )
        return await asyncio.shield(run)

    async def _once(
        self,
        ledger: EffectLedger,
        key: str,
        thread_id: str,
        input: Any,
        *,
        config: RunnableConfig | None,
        kwargs: Mapping[str, Any],
    ) -> Any:
        """Run the tool unless the ledger has it; record what it did."""
        try:
            done = await ledger.get(key)
            if done is not None:
                logger.info("side effect %s already done; not repeated", self.name)
                return done.message(key.rpartition(":")[2])
            result = await self.inner.ainvoke(input, config, **kwargs)
            if isinstance(result, ToolMessage):
                content = result.content if isinstance(result.content, str) else str(result.content)
                await ledger.put(
                    key, EffectRecord(self.name, content, result.artifact, result.status)
                )
            return result
        finally:
            tracker.end(thread_id)


def side_effect(tool: BaseTool) -> SideEffectTool:
    """Mark ``tool`` as side-effecting: never cut halfway, never done twice.

    Use on a LangChain tool (apply after ``@tool``)::

        @side_effect
        @tool
        async def open_ticket(summary: str) -> str:
            ...
    """
    if isinstance(tool, SideEffectTool):
        return tool
    if not isinstance(tool, BaseTool):
        raise TypeError("side_effect() wraps a LangChain tool: put it above @tool")
    return SideEffectTool(tool)


def is_side_effect(tool: BaseTool) -> bool:
    """Whether ``tool`` was marked with :func:`side_effect`."""
    return bool((tool.metadata or {}).get(SIDE_EFFECT_FLAG))
