"""The clinic receptionist as a process-wide agent factory for the phone service.

:func:`open_clinic_agents` opens what every call shares, once: the
checkpointer and store (SQLite file under ``var/`` by default, Postgres when a
database URL is set), the calendar (seeded relative to today), and the
compiled graph. Calling the resulting :class:`ClinicAgents` with a call's
facts gives that call's :class:`~graphs.runner.GraphAgent`.

After every turn the call's new messages are appended to its transcript
(files under ``var/transcripts``, or the database's ``call_transcripts`` table
on Postgres: :mod:`memory.transcripts`) and old checkpoints are pruned, so the
database stays small however long the call.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from graphs.runner import GraphAgent, thread_id_for_call
from graphs.voice_agent.context import Context
from graphs.voice_agent.graph import builder
from memory.checkpointer import open_checkpointer, prune_checkpoints, resolve_database
from memory.store import CallerMemory, open_store
from memory.transcripts import CallTranscript, Transcripts, identity, open_transcripts
from tools import SIDE_EFFECT_TOOLS, completed_effect
from tools.calendar import get_calendar

__all__ = ["ClinicAgents", "open_clinic_agents"]

KEEP_CHECKPOINTS = 30  # enough to inspect a call's recent steps in Studio


@dataclass
class ClinicAgents:
    """An ``AgentFactory``: one :class:`GraphAgent` per call on a shared graph."""

    graph: CompiledStateGraph
    saver: BaseCheckpointSaver
    store: BaseStore
    db_url: str
    model: str
    today: str
    transcripts: Transcripts

    async def __call__(self, call: Any) -> GraphAgent:
        """Open the dialogue for ``call`` (anything with ``call_sid`` and ``caller``)."""
        context = Context(
            call_sid=call.call_sid,
            caller=getattr(call, "caller", ""),
            model=self.model,
            db_url=self.db_url,
            today=self.today,
        )
        thread_id = thread_id_for_call(call.call_sid)
        transcript = await self.transcripts.open(call.call_sid)
        return GraphAgent(
            self.graph,
            thread_id=thread_id,
            context=context,
            side_effect_tools=SIDE_EFFECT_TOOLS,
            ledger=functools.partial(completed_effect, self.db_url),
            metadata={"call_sid": call.call_sid, "graph_id": "voice_agent"},
            on_turn_end=functools.partial(self._after_turn, transcript, thread_id),
            on_close=functools.partial(self._after_call, transcript, getattr(call, "caller", "")),
        )

    async def _after_turn(
        self, transcript: CallTranscript, thread_id: str, values: Mapping[str, Any]
    ) -> None:
        await transcript.aappend_messages(values.get("messages", []))
        await prune_checkpoints(self.saver, thread_id, keep=KEEP_CHECKPOINTS)

    async def _after_call(self, transcript: CallTranscript, caller: str) -> None:
        await transcript.aclose()  # never waits for the database
        if caller:
            await CallerMemory(self.store).record_visit(caller)


@asynccontextmanager
async def open_clinic_agents(
    *,
    database_url: str | None = None,
    var_dir: Path = Path("var"),
    model: str = "local",
    today: str = "",
    redact: Callable[[str], str] = identity,
    encryption_key: str | None = None,
) -> AsyncIterator[ClinicAgents]:
    """Open the checkpointer, store and calendar, and compile the clinic graph.

    Args:
        database_url: ``sqlite:///...`` or ``postgresql://...``; ``None`` for
            ``var_dir/dialgraph.db``.
        var_dir: Where the default database and the transcript files live.
        model: ``local``, ``openai:<model>`` or ``openai-compatible:<url>|<model>``.
        today: ISO date to treat as today ("" = the real date), for demos and tests.
        redact: Applied to every transcript line before it is written (file or table).
        encryption_key: Encrypt checkpoints at rest with this secret.
    """
    database = resolve_database(database_url, var_dir=var_dir)
    db_url = database_url or f"sqlite:///{database.target}"
    async with (
        open_checkpointer(database_url, var_dir=var_dir, encryption_key=encryption_key) as saver,
        open_store(database_url, var_dir=var_dir) as store,
        open_transcripts(database_url, var_dir=var_dir, redact=redact) as transcripts,
    ):
        calendar = get_calendar(db_url)
        context = Context(db_url=db_url, today=today)
        await calendar.seed(context.today_date())
        graph = builder.compile(checkpointer=saver, store=store, name="voice_agent")
        yield ClinicAgents(
            graph=graph,
            saver=saver,
            store=store,
            db_url=db_url,
            model=model,
            today=today,
            transcripts=transcripts,
        )
