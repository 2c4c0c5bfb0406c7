"""Any flow as a process-wide agent factory for the phone service.

:func:`open_flow_agents` opens what every call shares, once: the
checkpointer and store (SQLite file under ``var/`` by default, Postgres when
a database URL is set), the side-effect ledger, the transcripts, the flow's
start-up hook, and the compiled graph. Calling the resulting
:class:`FlowAgents` with a call's facts gives that call's
:class:`~graphs.runtime.runner.GraphAgent`.

After every turn the call's new messages are appended to its transcript
(redacted before anything is written) and old checkpoints are pruned, so
the database stays small however long the call.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from graphs.runtime.contract import CALL_KEY, CallFacts
from graphs.runtime.effects import use_ledger
from graphs.runtime.loader import Flow
from graphs.runtime.phone import StartupInfo
from graphs.runtime.runner import GraphAgent, thread_id_for_call
from memory.checkpointer import open_checkpointer, prune_checkpoints, resolve_database
from memory.effects import open_effect_ledger
from memory.store import open_store
from memory.transcripts import open_transcripts
from memory.transcripts_base import CallTranscript, Transcripts, identity

__all__ = ["KEEP_CHECKPOINTS", "FlowAgents", "call_facts_for", "open_flow_agents"]

logger = logging.getLogger("dialgraph.flow")

KEEP_CHECKPOINTS = 30  # enough to inspect a call's recent steps in Studio


def call_facts_for(call: Any, *, timezone: str, today: str) -> CallFacts:
    """The facts of ``call`` (anything with ``call_sid``, ``caller``, ``called``, ``direction``)."""
    pinned_now = today if "T" in today else ""
    return CallFacts(
        call_sid=str(getattr(call, "call_sid", "")),
        caller=str(getattr(call, "caller", "") or ""),
        called=str(getattr(call, "called", "") or ""),
        direction=str(getattr(call, "direction", "") or "inbound"),
        timezone=timezone,
        today=today[:10] if today else "",
        now=pinned_now,
    )


@dataclass
class FlowAgents:
    """An ``AgentFactory``: one :class:`GraphAgent` per call of one flow."""

    flow: Flow
    graph: Any
    saver: BaseCheckpointSaver[Any]
    store: BaseStore
    startup: StartupInfo
    transcripts: Transcripts

    async def __call__(self, call: Any) -> GraphAgent:
        """Open the dialogue for ``call`` (a ``CallInfo`` or anything alike)."""
        phone = self.flow.phone
        facts = call_facts_for(call, timezone=phone.timezone, today=self.startup.today)
        graph = (
            self.flow.compile(self.saver, self.store, facts) if self.flow.per_call else self.graph
        )
        context = phone.context(facts, self.startup) if phone.context is not None else None
        thread_id = thread_id_for_call(facts.call_sid)
        transcript = await self.transcripts.open(facts.call_sid)
        return GraphAgent(
            graph,
            thread_id=thread_id,
            context=context,
            configurable={CALL_KEY: facts.to_config()},
            spoken_nodes=phone.spoken_nodes,
            transfer_targets=phone.transfer_targets,
            greeting=phone.greeting,
            metadata={"call_sid": facts.call_sid, "graph_id": self.flow.id},
            on_turn_end=functools.partial(self._after_turn, transcript, thread_id),
            on_close=functools.partial(self._after_call, transcript, facts),
        )

    async def _after_turn(
        self, transcript: CallTranscript, thread_id: str, values: Mapping[str, Any]
    ) -> None:
        await transcript.aappend_messages(values.get("messages", []))
        await prune_checkpoints(self.saver, thread_id, keep=KEEP_CHECKPOINTS)

    async def _after_call(self, transcript: CallTranscript, facts: CallFacts) -> None:
        await transcript.aclose()  # never waits for the database
        hook = self.flow.phone.on_call_end
        if hook is not None:
            try:
                await hook(facts, self.store)
            except Exception as exc:
                logger.warning("the flow's end-of-call hook failed: %s", type(exc).__name__)


@asynccontextmanager
async def open_flow_agents(
    flow: Flow,
    *,
    database_url: str | None = None,
    var_dir: Path = Path("var"),
    today: str = "",
    redact: Callable[[str], str] = identity,
    encryption_key: str | None = None,
) -> AsyncIterator[FlowAgents]:
    """Open the shared state of ``flow`` and compile its graph.

    Args:
        flow: The loaded flow (:func:`graphs.runtime.loader.load_flow`).
        database_url: ``sqlite:///...`` or ``postgresql://...``; ``None`` for
            ``var_dir/dialgraph.db``.
        var_dir: Where the default database and the transcript files live.
        today: ISO date (or date and time) to treat as now; "" = the real clock.
        redact: Applied to every transcript line before it is written.
        encryption_key: The ``DIALGRAPH_CHECKPOINT_KEY`` value (``None``: the
            environment, then ``var_dir``'s key file; ``"off"``: plain text).

    Raises:
        GraphLoadError: The graph cannot be compiled for the phone.
    """
    database = resolve_database(database_url, var_dir=var_dir)
    db_url = database_url or f"sqlite:///{database.target}"
    startup = StartupInfo(database_url=db_url, today=today, timezone=flow.phone.timezone)
    async with (
        open_checkpointer(database_url, var_dir=var_dir, encryption_key=encryption_key) as saver,
        open_store(database_url, var_dir=var_dir, encryption_key=encryption_key) as store,
        open_transcripts(database_url, var_dir=var_dir, redact=redact) as transcripts,
        open_effect_ledger(database_url, var_dir=var_dir, encryption_key=encryption_key) as ledger,
    ):
        previous = use_ledger(ledger)
        try:
            if flow.phone.on_startup is not None:
                await flow.phone.on_startup(startup)
            graph = None if flow.per_call else flow.compile(saver, store)
            yield FlowAgents(
                flow=flow,
                graph=graph,
                saver=saver,
                store=store,
                startup=startup,
                transcripts=transcripts,
            )
        finally:
            use_ledger(previous)
