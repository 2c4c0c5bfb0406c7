"""Test a flow as the phone would drive it, without audio.

:class:`TextCall` opens the flow the way ``dialgraph serve`` does (its
start-up hook, a checkpointer, store, transcripts and side-effect ledger in
a database of its own) and plays one call as text: the call-start turn,
caller words, keys and silence, each answered with what the caller would
hear. It checks the flow, not the ear.

:func:`softphone_call` checks the ear too: one whole call through the real
server, the speech engines and Twilio's wire protocol, played from a
softphone script in real time (what ``dialgraph demo --graph ... --script
...`` does), with the recording, the redacted transcript and the call's
database to look at afterwards.

Example (pytest with pytest-asyncio)::

    async def test_outage_by_zip(tmp_path):
        async with TextCall("my_flows/outage.py:graph", var_dir=tmp_path) as call:
            assert "outage" in await call.start()
            await call.say("yes")
            assert "cable cut" in await call.press("55103")
            assert call.action == {"kind": "hangup", "reason": "answered"}
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from graphs.runtime.contract import TurnSource
from graphs.runtime.loader import Flow, load_flow

if TYPE_CHECKING:
    from telephony.cli.demo import DemoCall
from graphs.runtime.runner import GraphAgent
from graphs.runtime.service import open_flow_agents

__all__ = ["TextCall", "softphone_call"]

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
    ) -> None:
        self.flow = graph if isinstance(graph, Flow) else load_flow(graph, root=root)
        self.call = _Call(f"CAtest{next(_sids):026d}", caller, called, "inbound")
        self._var_dir = Path(var_dir)
        self._database_url = database_url
        self._today = today
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


async def softphone_call(
    graph: str | Flow,
    script: str | Path | None = None,
    *,
    var_dir: str | Path,
    env: Mapping[str, str] | None = None,
    database_url: str = "",
    root: Path | None = None,
) -> DemoCall:
    """Place one whole call to ``graph`` through the softphone; return what happened.

    Args:
        graph: A graph spec (as ``DIALGRAPH_GRAPH``) or a loaded :class:`Flow`.
        script: The caller's softphone script (TOML); default: the flow's own
            ``demo.toml``, else a short generic call.
        var_dir: Where the call's recording, report, transcripts and database go.
        env: ``DIALGRAPH_*`` settings for this call (the process environment
            is not read, so a test is the same on every machine).
        database_url: Keep the call's state there (several calls in one
            database); default: a fresh SQLite file in ``var_dir``. Calls
            that share a database must share its encryption key: pass
            ``DIALGRAPH_CHECKPOINT_KEY`` in ``env`` (each ``var_dir`` would
            otherwise generate its own, and the second call is refused).
        root: Where ``langgraph.json`` and relative paths are looked up.

    Raises:
        RuntimeError: The server did not start.
    """
    from telephony.cli.demo import place_demo_call
    from telephony.settings import load_settings

    flow = graph if isinstance(graph, Flow) else load_flow(graph, root=root)
    settings = load_settings({**(env or {}), "DIALGRAPH_VAR_DIR": str(var_dir)}, env_file=None)
    call = await place_demo_call(
        settings,
        flow=flow,
        script=Path(script) if script is not None else None,
        out=Path(var_dir) / "call",
        database_url=database_url,
    )
    if call is None:
        raise RuntimeError("the server did not start (see the log above)")
    return call
