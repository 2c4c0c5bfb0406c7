"""The clinic on the phone runtime, under its old entry point.

Replaced by :func:`graphs.runtime.service.open_flow_agents` with the flow
``load_flow("clinic")``. Kept only while callers outside the clinic
(``tests/integration/test_transfer_failure.py``,
``tests/integration/test_transcripts_postgres.py``,
``bench/bench_clinic_turns.py``) still open it this way; delete it once
nothing imports it. The only difference from the runtime: the dialogue model
is an argument here instead of ``DIALGRAPH_MODEL``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from dialgraph import CallFacts, Flow, StartupInfo
from graphs.runtime.service import FlowAgents, open_flow_agents
from graphs.voice_agent import graph as clinic
from graphs.voice_agent.context import Context
from graphs.voice_agent.lifecycle import call_context
from graphs.voice_agent.models import get_chat_model
from memory.transcripts import identity

__all__ = ["open_clinic_agents"]


@asynccontextmanager
async def open_clinic_agents(
    *,
    database_url: str | None = None,
    var_dir: Path = Path("var"),
    model: str = "local",
    today: str = "",
    redact: Callable[[str], str] = identity,
    encryption_key: str | None = None,
) -> AsyncIterator[FlowAgents]:
    """Open the clinic flow on the runtime with the dialogue model ``model``."""
    get_chat_model(model)  # a wrong model name fails here, as it always did

    def context(facts: CallFacts, startup: StartupInfo) -> Context:
        return dataclasses.replace(call_context(facts, startup), model=model)

    flow = Flow(
        clinic.GRAPH_ID,
        "graphs.voice_agent.graph:graph",
        clinic.graph,
        dataclasses.replace(clinic.phone, context=context),
    )
    async with open_flow_agents(
        flow,
        database_url=database_url,
        var_dir=var_dir,
        today=today,
        redact=redact,
        encryption_key=encryption_key,
    ) as agents:
        yield agents
