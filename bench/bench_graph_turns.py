"""What the graph and its checkpointer cost per caller turn, at turn 1 and turn 200.

A minimal dialogue graph (one node; a fake chat model streams a 22-word
reply with no delay) runs one graph run per caller turn on one thread, the
way a call does, against a fresh SQLite file per call. Printed per variant:

* overhead: the run's wall time minus the time inside the model call
  (loading the checkpoint, reducers, saving checkpoints and writes);
* TTFT: run start to the first streamed token (here all of it is overhead);
* upkeep: per-turn work after the reply (transcript append, pruning);
* the database file after 200 turns (WAL folded in), and the messages in state.

Variants:

* ``default``: ``add_messages`` + ``AsyncSqliteSaver.from_conn_string``, as
  LangGraph's docs set it up.
* ``window``: ``memory.window.windowed_messages(40)`` on the same saver.
* ``dialgraph``: the window + ``memory.checkpointer.open_checkpointer`` (WAL,
  ``synchronous=NORMAL``) + per-turn ``prune_checkpoints(keep=30)`` + the
  call's transcript (``memory.transcripts``), i.e. what the phone service
  does after each turn (``graphs.runtime.service``).

Caller turns enter as the phone runtime sends them: a ``HumanMessage``
tagged with the turn (``dialgraph.turn_message``: source, confidence,
alternatives), so the checkpoint holds what it holds on a call.
* ``delta`` (beta LangGraph ``DeltaChannel``, stores writes instead of the
  list; snapshot every 100 updates): the upstream alternative, for comparison.

Run: ``uv run python bench/bench_graph_turns.py [--turns 200] [--calls 5] [--quick]``
(about a minute; ``--quick`` about 25 s).
Prints figures, never pass/fail. min/median are over the calls and, past
turn 1, over the five turns ending at the one shown.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

import aiosqlite
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, AnyMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langgraph.channels import DeltaChannel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from dialgraph import CallerTurn, turn_message
from memory.checkpointer import open_checkpointer, prune_checkpoints
from memory.transcripts import Transcript
from memory.window import windowed_messages

CALLER_LINE = "I'd like to book a checkup for Tuesday at three, if Dr. Patel is free."
REPLY = (
    "Sure. Dr. Patel has a checkup free on Tuesday at three o'clock. "
    "Shall I book it for you under the name on file?"
)
WINDOW = 40
KEEP = 30
SAMPLE_TURNS = (1, 50, 100, 150, 200)
BAND = 5  # turn k is sampled as turns k-4..k of every call (turn 1 alone)


class _StreamingFake(BaseChatModel):
    """Streams REPLY word by word with no delay, like a real model's chunks."""

    @property
    def _llm_type(self) -> str:
        return "bench-fake"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(REPLY))])

    async def _astream(
        self, messages, stop=None, run_manager=None, **kwargs
    ) -> AsyncIterator[ChatGenerationChunk]:
        words = REPLY.split(" ")
        for index, word in enumerate(words):
            last = index == len(words) - 1
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(
                    content=word if last else word + " ",
                    response_metadata={"finish_reason": "stop", "model_name": "fake"}
                    if last
                    else {},
                    usage_metadata={"input_tokens": 400, "output_tokens": 25, "total_tokens": 425}
                    if last
                    else None,
                )
            )
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


def _replay_add_messages(state: list[AnyMessage], writes: list[Any]) -> list[AnyMessage]:
    for write in writes:
        state = add_messages(state, write)
    return state


def _build_graph(reducer: Any, model_time: list[float]):
    # Functional form: the reducer is a local, which a string annotation can't see.
    State = TypedDict("State", {"messages": Annotated[list[AnyMessage], reducer]})  # noqa: UP013

    model = _StreamingFake()

    async def agent(state: dict[str, Any]) -> dict[str, list[AnyMessage]]:
        started = time.perf_counter()
        reply = await model.ainvoke(state["messages"][-WINDOW:])
        model_time.append(time.perf_counter() - started)
        return {"messages": [reply]}

    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", END)
    return builder


@asynccontextmanager
async def _langgraph_default(path: Path) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        await saver.setup()
        yield saver


@asynccontextmanager
async def _dialgraph(path: Path) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    async with open_checkpointer(f"sqlite:///{path}") as saver:
        yield saver


VARIANTS: dict[str, tuple[Any, Callable[[Path], Any], bool]] = {
    # name: (reducer, saver factory, service upkeep: transcript + prune)
    "default": (add_messages, _langgraph_default, False),
    "window": (windowed_messages(WINDOW), _langgraph_default, False),
    "dialgraph": (windowed_messages(WINDOW), _dialgraph, True),
    "delta": (DeltaChannel(_replay_add_messages), _langgraph_default, False),
}


async def _one_call(variant: str, turns: int, workdir: Path, call: int) -> dict[str, Any]:
    reducer, open_saver, upkeep = VARIANTS[variant]
    db_path = workdir / f"{variant}-{call}.db"
    model_time: list[float] = []
    rows: dict[int, list[tuple[float, float, float]]] = {}
    sampled = {t: t for t in SAMPLE_TURNS if t <= turns} | {turns: turns}
    bands = {t: k for k in sampled for t in range(max(k - BAND + 1, 2 if k > 1 else 1), k + 1)}
    transcript = Transcript.open(f"CA{variant}{call}", directory=workdir / "transcripts")
    thread_id = f"call-{call}"
    config = {"configurable": {"thread_id": thread_id}}
    async with open_saver(db_path) as saver:
        graph = _build_graph(reducer, model_time).compile(checkpointer=saver)
        for turn in range(1, turns + 1):
            caller = turn_message(
                CallerTurn(
                    text=f"Turn {turn}. {CALLER_LINE}",
                    source="speech",
                    confidence=0.92,
                    alternatives=[],
                )
            )
            started = time.perf_counter()
            first_token = None
            async for _chunk, _meta in graph.astream(
                {"messages": [caller]}, config, stream_mode="messages"
            ):
                if first_token is None:
                    first_token = time.perf_counter() - started
            total = time.perf_counter() - started
            upkeep_s = 0.0
            if upkeep:
                began = time.perf_counter()
                state = await graph.aget_state(config)
                transcript.append_messages(state.values["messages"])
                await prune_checkpoints(saver, thread_id, keep=KEEP)
                upkeep_s = time.perf_counter() - began
            if turn in bands:
                sample = (total - model_time[-1], first_token or total, upkeep_s)
                rows.setdefault(bands[turn], []).append(sample)
        messages = len((await graph.aget_state(config)).values["messages"])
    async with aiosqlite.connect(db_path) as conn:
        await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db_bytes = db_path.stat().st_size
    hung_up_bytes = 0
    if upkeep:  # at hang-up the service may keep only the final checkpoint
        async with open_saver(db_path) as saver:
            await prune_checkpoints(saver, thread_id, keep=1)
        hung_up_bytes = await _live_bytes(db_path)
    return {
        "rows": rows,
        "db_bytes": db_bytes,
        "hung_up_bytes": hung_up_bytes,
        "messages": messages,
        "transcript_bytes": transcript.path.stat().st_size if upkeep else 0,
    }


async def _live_bytes(path: Path) -> int:
    """Bytes in use (pages minus free pages) after a WAL checkpoint."""
    async with aiosqlite.connect(path) as conn:
        await conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        values = []
        for pragma in ("page_count", "freelist_count", "page_size"):
            async with conn.execute(f"PRAGMA {pragma}") as cur:
                values.append((await cur.fetchone())[0])
    pages, free, size = values
    return (pages - free) * size


def _ms(values: list[float]) -> str:
    return f"{min(values) * 1e3:5.1f} / {statistics.median(values) * 1e3:5.1f}"


async def _run(variants: list[str], turns: int, calls: int) -> None:
    print(
        f"{turns} turns per call, {calls} calls per variant, fresh SQLite file per call; "
        f"times in ms as min / median over the calls (turn k = turns k-{BAND - 1}..k)\n"
    )
    header = (
        f"{'variant':<10} {'turn':>4}  {'overhead':>13}  {'TTFT':>13}  {'upkeep':>13}"
        f"  {'DB after call':>13}  {'msgs in state':>13}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="bench-turns-") as tmp:
        workdir = Path(tmp)
        for variant in variants:
            await _one_call(variant, 3, workdir, -1)  # warm imports and caches
            results = [await _one_call(variant, turns, workdir, call) for call in range(calls)]
            sample = sorted(results[0]["rows"])
            for turn in sample:
                samples = [s for r in results for s in r["rows"][turn]]
                over = [s[0] for s in samples]
                ttft = [s[1] for s in samples]
                keep = [s[2] for s in samples]
                last = turn == sample[-1]
                db = statistics.median(r["db_bytes"] for r in results) / 1e6
                tail = f"  {db:10.2f} MB  {results[0]['messages']:13d}" if last else ""
                print(
                    f"{variant:<10} {turn:>4}  {_ms(over)}  {_ms(ttft)}  {_ms(keep)}{tail}",
                    flush=True,
                )
            if results[0]["transcript_bytes"]:
                size = results[0]["transcript_bytes"] / 1e3
                kept = results[0]["hung_up_bytes"] / 1e3
                print(f"{'':<10} transcript after the call: {size:.0f} kB (JSON lines)")
                print(f"{'':<10} after a hang-up prune to 1 checkpoint: {kept:.0f} kB in use")
            print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--quick", action="store_true", help="2 calls per variant (~25 s)")
    args = parser.parse_args()
    asyncio.run(_run(args.variants, args.turns, 2 if args.quick else args.calls))


if __name__ == "__main__":
    main()
