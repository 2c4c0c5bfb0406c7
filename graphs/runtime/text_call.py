"""A call to a flow played as text turns, as the phone would drive it, without audio.

:class:`TextCall` opens the flow the way ``dialgraph serve`` does (its
start-up hook, a checkpointer, store, transcripts and side-effect ledger in
a database of its own) and plays one call as text: the call-start turn,
caller words, keys and silence, each answered with what the caller would
hear. It checks the flow, not the ear. Public as ``dialgraph.testing.TextCall``;
``dialgraph eval`` plays its text mode with it.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from graphs.runtime.contract import TurnSource
from graphs.runtime.loader import Flow, load_flow
from graphs.runtime.runner import GraphAgent
from graphs.runtime.service import open_flow_agents

__all__ = ["TextCall"]

_sids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class _Call:
    call_sid: str
    caller: str
    called: str
    direction: str


class TextCall:
    """One call to a flow, played as text turns.

    Args:
        graph: A graph spec (as ``DIALGRAPH_GRAPH``) or a loaded :class:`Flow`.
        caller: The caller ID (``""``: withheld).
        called: The number called.
        var_dir: Where the call's database and transcripts go.
        database_url: Use this database instead (e.g. Postgres).
        today: Pin the flow's date (``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM``).
        root: Where ``langgraph.json`` and relative paths are looked up.
        encryption_key: As ``DIALGRAPH_CHECKPOINT_KEY`` (``None``: that variable,
            else the key file in ``var_dir``).
    """

    def __init__(
        self,
        graph: str | Flow,
        *,
        caller: str = "+15550100123",
        called: str = "+15550100000",
        var_dir: str | Path = "var/test-calls",
        database_url: str | None = None,
        today: str = "",
        root: Path | None = None,
        encryption_key: str | None = None,
    ) -> None:
        self.flow = graph if isinstance(graph, Flow) else load_flow(graph, root=root)
        self.call = _Call(f"CAtest{next(_sids):026d}", caller, called, "inbound")
        self._var_dir = Path(var_dir)
        self._database_url = database_url
        self._today = today
        self._encryption_key = encryption_key
        self._stack = contextlib.AsyncExitStack()
        self._agent: GraphAgent | None = None
        self.action: Mapping[str, str] | None = None
        """The call action the last turn asked for (transfer or hang-up), if any."""
        self.heard: list[str] = []
        """Everything the caller heard, one entry per turn."""

    async def __aenter__(self) -> TextCall:
        agents = await self._stack.enter_async_context(
            open_flow_agents(
                self.flow,
                database_url=self._database_url,
                var_dir=self._var_dir,
                today=self._today,
                encryption_key=self._encryption_key,
            )
        )
        self._agent = await agents(self.call)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._agent is not None:
            await self._agent.aclose()
        await self._stack.aclose()

    @property
    def agent(self) -> GraphAgent:
        if self._agent is None:
            raise RuntimeError("use TextCall in 'async with'")
        return self._agent

    async def _turn(self, text: str, source: TurnSource) -> str:
        reply = "".join([t async for t in self.agent.respond(text, source=source)])
        self.action = self.agent.pending_action()
        self.heard.append(reply)
        return reply

    async def start(self) -> str:
        """Answer the call: what the caller hears first."""
        return await self._turn("", "start")

    async def say(self, words: str) -> str:
        """The caller says ``words`` (as a recogniser would write them)."""
        return await self._turn(words, "speech")

    async def press(self, keys: str) -> str:
        """The caller keys ``keys`` (collected into one turn, the finish key left out)."""
        return await self._turn(keys.rstrip("#"), "dtmf")

    async def silence(self) -> str:
        """The caller says nothing after the last reply."""
        return await self._turn("", "silence")

    @property
    def expecting(self) -> Mapping[str, Any] | None:
        """What the flow expects next (an ``Expect`` mapping), if it said."""
        return self.agent.expecting()

    async def state(self) -> dict[str, Any]:
        """The call's checkpointed state values (what Studio shows)."""
        snapshot = await self.agent._graph.aget_state(self.agent.config)
        return dict(snapshot.values)
