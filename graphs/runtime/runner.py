"""Run any LangGraph graph as a call's ``Agent`` under the phone contract.

How it works. Each caller turn is one graph run on the call's thread (a UUID
derived from the CallSid, so Studio accepts it). The turn enters as a tagged
``HumanMessage`` (:mod:`graphs.runtime.contract`), or as
``Command(resume=...)`` when the last run stopped at ``interrupt()``. The run
executes in its own task and feeds a queue; ``respond`` yields what the
caller should hear:

- AI text streamed in ``messages`` mode from any node (or only the flow's
  ``spoken_nodes``), minus tool-call chunks and runs tagged ``nostream``;
- ``{"say": text}`` custom payloads, and the question of an ``interrupt()``;
- the words of ``play_message`` and the prompt of ``collect_digits``.

Speech that is not an AI message of the graph (say, questions, fixed
messages, the configured greeting) is recorded in ``messages`` by the
runtime, as the assistant's words, at the start of the next run; so are the
corrections after a barge-in when the thread waits at an interrupt. When the
thread is not waiting, corrections are written at once.

What the session says on its own (an apology after a failed turn, the
goodbye after repeated silence, a call limit's or a shutdown's goodbye)
reaches the runner through ``record_spoken`` and is recorded the same way;
at the end of the call (``aclose``) whatever is still carried is written
into the checkpoint, even at an interrupt (the call is over), and the
transcript. Every carried message has an id, so the transcript follows the
checkpoint by id, and a reply cut after it was transcribed is revised there
(:mod:`memory.transcripts`).

A run that fails (a database or model fault) loses nothing the caller said
or heard: its input goes back to the carry (replaying it is harmless: it has
an id, so a copy already stored is replaced, not repeated), with the graph's
words the caller already heard; the session's apology follows it.

Call actions are read from the turn's ``ToolMessage`` artifacts
(:mod:`graphs.runtime.actions`): they live in the checkpoint, not in custom
state keys, and are carried out by the session after the reply was heard.

Cancelling (barge-in) is where LangGraph needs help, measured here:

- a cancelled run keeps the caller's message and drops the partial reply:
  ``record_heard`` then stores what the caller actually heard;
- a cancel inside a tool node leaves an AI tool call without an answer,
  which OpenAI rejects on the next turn: the repair step answers every open
  tool call -- with the committed result if a side-effecting tool finished
  (the effect ledger says so), else with a "cancelled" message;
- a side-effecting tool (:func:`graphs.runtime.effects.side_effect`) is never
  cut halfway: ``cancel`` waits for it (bounded by ``side_effect_grace``),
  and the tool itself is shielded and idempotent by thread + tool call id.

The adapter imports nothing from ``telephony``: it matches the session's
``Agent`` protocol structurally and returns call actions as plain mappings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Mapping,
    Sequence,
)
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langgraph.constants import END
from langgraph.types import Command

from graphs.runtime.actions import action_of, requested_actions
from graphs.runtime.contract import CallerTurn, TurnSource, turn_message
from graphs.runtime.effects import current_ledger, effect_key, tracker
from graphs.runtime.events import event_message

__all__ = ["GraphAgent", "thread_id_for_call"]

logger = logging.getLogger("dialgraph.graph")

_THREAD_NAMESPACE = uuid.UUID("5b0f3c5e-3d0e-4c53-9f57-2f1c4f6f0d1a")
_DONE = object()
SPOKEN_MARK = "dialgraph_spoken"  # response_metadata of speech the runtime recorded
NOSTREAM_TAG = "nostream"  # LangGraph's tag for model runs whose tokens are not streamed


def thread_id_for_call(call_sid: str) -> str:
    """The LangGraph thread id of a call: a stable UUID derived from its CallSid."""
    return str(uuid.uuid5(_THREAD_NAMESPACE, call_sid))


def _text(content: Any) -> str:
    """The speakable text of message content (a string or content blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
        return "".join(parts)
    return ""


def _cut(interrupted: bool) -> dict[str, Any]:
    return {"interrupted": True} if interrupted else {}


def _question(value: Any) -> tuple[str, Mapping[str, Any] | None]:
    """What an interrupt value says to the caller, and what it expects."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, Mapping):
        said = value.get("say") or value.get("question") or ""
        expected = value.get("expect")
        return str(said), expected if isinstance(expected, Mapping) else None
    return "", None


def _normal(text: str) -> str:
    """``text`` with runs of whitespace as one space (phrases are re-joined by spaces)."""
    return " ".join(text.split())


def _spoken(text: str, message_id: str | None = None, *, interrupted: bool = False) -> AIMessage:
    """Runtime speech as the assistant's message, marked (and cut, if it was)."""
    marks: dict[str, Any] = {SPOKEN_MARK: True}
    if interrupted:
        marks["interrupted"] = True
    return AIMessage(text, id=message_id or str(uuid.uuid4()), response_metadata=marks)


class _Segment:
    """One stretch of a turn's speech: an AI message of the graph, or runtime speech.

    Runtime speech (``own``) gets an id of its own: the message that records
    it is carried, and found again by that id if a barge-in cuts it.
    """

    __slots__ = ("message_id", "node", "own", "text")

    def __init__(self, text: str, message_id: str | None = None, node: str | None = None) -> None:
        self.text = text
        self.own = message_id is None
        self.message_id = message_id or str(uuid.uuid4())
        self.node = node


class GraphAgent:
    """One call's dialogue, run as LangGraph turns on a checkpointed thread.

    Args:
        graph: A compiled graph with a ``messages`` channel and a checkpointer.
        thread_id: The call's thread (see :func:`thread_id_for_call`).
        context: The run context (the graph's ``context_schema`` instance), if any.
        configurable: Extra ``config["configurable"]`` values (the call facts).
        spoken_nodes: Only these nodes' AI text is spoken (``None``: every node).
        transfer_targets: Destination name -> number or queue; the first is the default.
        greeting: Said at call start when the graph itself says nothing.
        side_effect_grace: Seconds ``cancel`` waits for a running side-effecting
            tool to finish before cancelling the run anyway.
        effect_settle_s: Seconds the repair after a cancel then waits for a
            side effect still under way (it runs shielded and may yet commit),
            so the open tool call is answered with what really happened.
        metadata: Extra run metadata (shown in Studio / LangSmith).
        on_turn_end: Awaited with the thread's state values after every turn
            (completed, or cut and repaired): transcripts, checkpoint pruning.
        on_close: Awaited once when the call ends.
    """

    def __init__(
        self,
        graph: Any,
        *,
        thread_id: str,
        context: Any = None,
        configurable: Mapping[str, Any] | None = None,
        spoken_nodes: frozenset[str] | None = None,
        transfer_targets: Mapping[str, str] | None = None,
        greeting: str = "",
        side_effect_grace: float = 10.0,
        effect_settle_s: float = 10.0,
        metadata: Mapping[str, Any] | None = None,
        on_turn_end: Callable[[Mapping[str, Any]], Awaitable[None]] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._graph = graph
        self._context = context
        self._spoken_nodes = spoken_nodes
        self._targets = dict(transfer_targets or {})
        self._greeting = greeting
        self._grace = side_effect_grace
        self._settle_s = effect_settle_s
        self._on_turn_end = on_turn_end
        self._on_close = on_close
        self.thread_id = thread_id
        self._config: dict[str, Any] = {
            "configurable": {**(configurable or {}), "thread_id": thread_id},
            "metadata": dict(metadata or {}),
        }
        self._lock = asyncio.Lock()
        self._run: asyncio.Task[None] | None = None
        self._values: dict[str, Any] = {}
        self._usage: tuple[int, int] | None = None
        self._after_turn: asyncio.Task[None] | None = None
        self._interrupts: tuple[Any, ...] = ()
        self._segments: list[_Segment] = []  # what this turn said, in order
        self._carry: list[BaseMessage] = []  # to add to messages with the next input
        self._expecting: dict[str, Any] | None = None
        self._action: dict[str, str] | None = None
        self._unrepaired = False  # a run failed: its open tool calls wait for an answer

    @property
    def config(self) -> dict[str, Any]:
        """The run config (thread id, call facts and metadata)."""
        return self._config

    @property
    def turn_usage(self) -> tuple[int, int] | None:
        """LLM ``(input, output)`` tokens of the last turn, summed over its model
        calls, as the model reported them; ``None`` if it reported none."""
        return self._usage

    def expecting(self) -> Mapping[str, Any] | None:
        """What the graph expects from the caller's next turn (an ``Expect`` mapping)."""
        return self._expecting

    def pending_action(self) -> Mapping[str, str] | None:
        """The transfer or hang-up the last completed turn asked for, once."""
        action, self._action = self._action, None
        return action

    @property
    def waiting(self) -> bool:
        """Whether the thread waits at an ``interrupt()`` for the caller's answer."""
        return bool(self._interrupts)

    # -- one turn ----------------------------------------------------------------
    async def respond(
        self,
        text: str,
        *,
        source: TurnSource = "speech",
        confidence: float | None = None,
        alternatives: Sequence[str] = (),
    ) -> AsyncGenerator[str, None]:
        """Run one turn; yield what the caller should hear as it is produced."""
        async with self._lock:
            await self._settled()  # the last turn's transcript and pruning come first
            if self._unrepaired:
                await self._repair_after_failure()
            self._action, self._expecting, self._usage = None, None, None
            self._segments = []
            turn = CallerTurn(text=text, source=source)
            if source == "speech":
                turn["confidence"] = confidence
                turn["alternatives"] = list(alternatives)
            elif source == "dtmf":
                turn["digits"] = text
            message: HumanMessage = event_message(text) if source == "event" else turn_message(turn)
            message.id = str(uuid.uuid4())  # carried again, not repeated, if the run fails
            carry, self._carry = self._carry, []
            inputs: Any
            if self._interrupts:
                first = self._interrupts[0]
                resume = {first.id: dict(turn)} if getattr(first, "id", None) else dict(turn)
                inputs = Command(resume=resume, update={"messages": [*carry, message]})
            else:
                inputs = {"messages": [*carry, message]}
            queue: asyncio.Queue[Any] = asyncio.Queue()
            self._run = asyncio.create_task(self._drive(inputs, queue))
            said = False
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, BaseException):
                    await self._keep_failed_turn([*carry, message])
                    raise item
                said = said or bool(item.strip())
                yield item
            if source == "start" and not said and self._greeting:
                self._speak_own(self._greeting)
                yield self._greeting
            self._finish_turn()
            # After the reply's last word: the caller must not wait for the
            # transcript and pruning to hear the end of it.
            self._after_turn = asyncio.create_task(self._turn_ended(self._values))

    def _speak_own(self, text: str) -> None:
        """Note runtime speech (not an AI message of the graph) for the record."""
        self._segments.append(_Segment(text))

    def _finish_turn(self) -> None:
        """After a completed run: the call action, the expectation, the record."""
        messages = self._values.get("messages") or []
        for request in requested_actions(messages):
            kind = request.get("kind")
            if kind == "transfer":
                self._action = {
                    "kind": "transfer",
                    "target": self._target(str(request.get("destination") or "")),
                    "reason": str(request.get("reason") or ""),
                }
            elif kind == "hangup":
                self._action = {"kind": "hangup", "reason": str(request.get("reason") or "")}
            elif kind == "collect" and isinstance(request.get("expect"), Mapping):
                self._expecting = dict(request["expect"])
        self._carry.extend(
            _spoken(s.text, s.message_id) for s in self._segments if s.own and s.text.strip()
        )

    async def _keep_failed_turn(self, inputs: list[BaseMessage]) -> None:
        """After a failed run: carry its input and what the caller heard of it.

        The graph's words already spoken are kept unless the checkpoint holds
        them; when it cannot be read (the database is the fault), they are
        carried under their own ids, which replace a stored copy, if any.
        """
        stored: set[str | None] = set()
        try:
            snapshot = await self._graph.aget_state(self._config)
            stored = {m.id for m in snapshot.values.get("messages", [])}
            self._interrupts = tuple(getattr(snapshot, "interrupts", ()) or ())
        except Exception as exc:
            logger.info("state unreadable after a failed turn (%s)", type(exc).__name__)
        heard = [
            _spoken(s.text, s.message_id) if s.own else AIMessage(s.text, id=s.message_id)
            for s in self._segments
            if s.text.strip() and s.message_id not in stored
        ]
        self._carry[:0] = [*inputs, *heard]
        self._unrepaired = True
        logger.info("turn failed; the caller's input is kept for the next run")

    async def _repair_after_failure(self) -> None:
        """Before the next run: answer tool calls the failed run left open.

        A database fault between a booking's commit and its result's
        checkpoint leaves the AI's tool call unanswered; a chat model refuses
        such a history. The ledger answers it: booked, or clearly not. While
        the database is still down this fails quietly and is tried again on
        the next turn.
        """
        try:
            await self._repair()
        except Exception as exc:
            logger.info("repair after a failed turn deferred (%s)", type(exc).__name__)
            return
        self._unrepaired = False

    def _target(self, destination: str) -> str:
        if destination in self._targets:
            return self._targets[destination]
        for name, number in self._targets.items():
            if destination and destination.lower() in name.lower():
                return number
        return next(iter(self._targets.values()), "")

    async def _settled(self) -> None:
        """Wait for the previous turn's after-turn hook (it never raises)."""
        if self._after_turn is not None:
            await asyncio.shield(self._after_turn)
            self._after_turn = None

    async def _turn_ended(self, values: Mapping[str, Any] | None = None) -> None:
        if self._on_turn_end is None:
            return
        try:
            if values is None:
                values = (await self._graph.aget_state(self._config)).values
            await self._on_turn_end(values)
        except Exception as exc:  # a database fault, typically: one line, the call goes on
            logger.warning("after-turn hook failed (transcript or pruning): %s", type(exc).__name__)
            logger.debug("after-turn hook failure", exc_info=True)

    def _count_usage(self, usage: Mapping[str, Any]) -> None:
        used_in, used_out = self._usage or (0, 0)
        self._usage = (
            used_in + int(usage.get("input_tokens") or 0),
            used_out + int(usage.get("output_tokens") or 0),
        )

    async def _drive(self, inputs: Any, queue: asyncio.Queue[Any]) -> None:
        self._interrupts = ()
        try:
            async for mode, data in self._graph.astream(
                inputs,
                self._config,
                context=self._context,
                stream_mode=["messages", "custom", "values"],
                durability="sync",
            ):
                if mode == "messages":
                    self._on_message(*data, queue=queue)
                elif mode == "custom":
                    self._on_custom(data, queue)
                elif isinstance(data, Mapping):
                    self._values = dict(data)
                    if interrupts := data.get("__interrupt__"):
                        self._on_interrupts(tuple(interrupts), queue)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            queue.put_nowait(exc)
        finally:
            queue.put_nowait(_DONE)

    def _put(self, queue: asyncio.Queue[Any], text: str, segment: _Segment) -> None:
        if text:
            queue.put_nowait(text)
            segment.text += text

    def _segment_for(self, message_id: str | None, node: str | None) -> _Segment:
        last = self._segments[-1] if self._segments else None
        if last is not None and last.message_id is not None and last.message_id == message_id:
            return last
        segment = _Segment("", message_id or f"run-{uuid.uuid4()}", node)
        self._segments.append(segment)
        return segment

    def _on_message(
        self, chunk: Any, meta: Mapping[str, Any], *, queue: asyncio.Queue[Any]
    ) -> None:
        if usage := getattr(chunk, "usage_metadata", None):
            self._count_usage(usage)
        if isinstance(chunk, ToolMessage):
            request = action_of(chunk)
            if request is not None:
                words = request.get("text") if request["kind"] == "play" else request.get("prompt")
                if words:
                    self._speak_own(str(words))
                    queue.put_nowait(str(words))
            return
        if not isinstance(chunk, AIMessageChunk | AIMessage):
            return
        node = meta.get("langgraph_node")
        if NOSTREAM_TAG in (meta.get("tags") or ()):
            return
        if self._spoken_nodes is not None and node not in self._spoken_nodes:
            return
        text = _text(chunk.content)
        if text:
            self._put(queue, text, self._segment_for(chunk.id, node))

    def _on_custom(self, data: Any, queue: asyncio.Queue[Any]) -> None:
        if not isinstance(data, Mapping):
            return
        said = data.get("say")
        if isinstance(said, str) and said.strip():
            self._speak_own(said)
            queue.put_nowait(said)
        expected = data.get("expect")
        if isinstance(expected, Mapping):
            self._expecting = dict(expected)

    def _on_interrupts(self, interrupts: tuple[Any, ...], queue: asyncio.Queue[Any]) -> None:
        self._interrupts = interrupts
        for item in interrupts:
            said, expected = _question(getattr(item, "value", item))
            if said.strip():
                self._speak_own(said)
                queue.put_nowait(said)
            if expected is not None:
                self._expecting = dict(expected)

    # -- barge-in ----------------------------------------------------------------
    async def cancel(self) -> None:
        """Stop the running turn (if any) and leave the thread consistent."""
        run = self._run
        if run is not None and not run.done():
            if tracker.running(self.thread_id):
                await tracker.settled(self.thread_id, self._grace)
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
            await self._refresh_interrupts()
        self._expecting = None
        await self._repair()

    async def _refresh_interrupts(self) -> None:
        snapshot = await self._graph.aget_state(self._config)
        self._interrupts = tuple(getattr(snapshot, "interrupts", ()) or ())

    async def _repair(self) -> None:
        """Answer tool calls a cancelled run left open."""
        snapshot = await self._graph.aget_state(self._config)
        messages = list(snapshot.values.get("messages", []))
        answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
        last_ai = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
        if last_ai is None or not last_ai.tool_calls:
            return
        repairs: list[BaseMessage] = []
        ledger = current_ledger()
        # A side effect cut past its grace still runs, shielded: wait for its outcome.
        still_running = not await tracker.settled(self.thread_id, self._settle_s)
        for call in last_ai.tool_calls:
            if call["id"] in answered:
                continue
            committed = await ledger.get(effect_key(self.thread_id, str(call["id"])))
            if committed is not None:
                repairs.append(committed.message(str(call["id"])))
            elif still_running:  # a side effect slower than the grace: it may yet commit
                repairs.append(
                    ToolMessage(
                        "Not finished when the caller interrupted; it may still complete. "
                        "Check before doing it again.",
                        tool_call_id=call["id"],
                        name=call["name"],
                        status="error",
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
            await self._record(repairs, snapshot)
            logger.info("repaired %d open tool call(s) after a cancelled turn", len(repairs))

    async def _record(
        self, messages: list[BaseMessage], snapshot: Any = None, *, final: bool = False
    ) -> None:
        """Add ``messages`` to the thread now, or with the next input if it waits.

        ``final`` (the call is over): now, even at an interrupt; a failure raises.
        The question's node must not seem to have answered (its router would
        judge a state it never made), so the update is the last step's, and
        it repeats the thread's messages: the resume that reached the
        interrupt wrote some as pending writes, which a new checkpoint drops
        (by id, the others are replaced by themselves).
        """
        if snapshot is None:
            snapshot = await self._graph.aget_state(self._config)
        waiting = bool(getattr(snapshot, "interrupts", ()))
        if not final and (waiting or not snapshot.values):
            self._carry.extend(messages)
            return
        if final and waiting:
            writer = None  # LangGraph infers the last step's node
            messages = [*snapshot.values.get("messages", []), *messages]
        else:
            writer = next(iter(snapshot.next), None) or self._last_writer(snapshot)
        try:
            await self._graph.aupdate_state(self._config, {"messages": messages}, as_node=writer)
        except Exception as exc:  # an unusual graph: keep it for the next input
            if final:
                raise
            logger.info("kept a correction for the next turn (%s)", type(exc).__name__)
            self._carry.extend(messages)
            return
        after = await self._graph.aget_state(self._config)
        if after.next:  # the update would start the graph's next step: it is not due
            await self._graph.aupdate_state(self._config, None, as_node=END)

    @staticmethod
    def _last_writer(snapshot: Any) -> str | None:
        writes = (getattr(snapshot, "metadata", None) or {}).get("writes") or {}
        return next(iter(writes), None) if isinstance(writes, Mapping) else None

    async def record_heard(self, text: str) -> None:
        """Store the turn's speech as the caller heard it (cut at the barge-in).

        ``text`` is what the caller heard of the turn: a prefix of its
        speech, phrases joined by spaces. Heard text beyond the turn's own
        speech is the session's (an apology after a failed run), recorded as
        runtime speech, cut.
        """
        await self._settled()
        snapshot = await self._graph.aget_state(self._config)
        stored = {m.id for m in snapshot.values.get("messages", [])}
        left = _normal(text)
        heard: list[BaseMessage] = []
        for segment in self._segments:
            said = _normal(segment.text)
            if left.startswith(said):
                part, left = said, left[len(said) :].lstrip()
            else:  # the cut is in this segment: the rest of what was heard is its
                part, left = left, ""
            carried = self._uncarry(segment.message_id)
            if segment.own or carried:
                if part:
                    cut = part != said
                    message = (
                        _spoken(part, segment.message_id, interrupted=cut)
                        if segment.own
                        else AIMessage(part, id=segment.message_id, response_metadata=_cut(cut))
                    )
                    self._carry.append(message)
                continue
            kept = segment.message_id in stored
            if kept and part == said:
                continue  # heard whole, and stored whole
            if not kept and not part:
                continue  # never stored, never heard
            heard.append(
                AIMessage(
                    part,
                    id=segment.message_id if kept else None,
                    response_metadata={"interrupted": True},
                )
            )
        if left:  # the session's own words after the turn's, cut
            self._carry.append(_spoken(left, interrupted=True))
        if heard:
            await self._record(heard, snapshot)
        await self._turn_ended()

    def _uncarry(self, message_id: str | None) -> bool:
        """Take the message ``message_id`` out of the carry; whether it was there."""
        kept = [m for m in self._carry if m.id != message_id]
        found = len(kept) != len(self._carry)
        self._carry = kept
        return found

    def record_spoken(self, text: str, *, interrupted: bool = False) -> None:
        """Record what the session said on its own, as the caller heard it.

        The session's fixed phrases (an apology after a failed turn, a goodbye
        after repeated silence or at a call limit) are no graph output: they
        go into ``messages`` as runtime speech with the next input, or when
        the call ends.

        Args:
            text: The words the caller heard.
            interrupted: The caller cut them short.
        """
        if text.strip():
            self._carry.append(_spoken(_normal(text), interrupted=interrupted))

    async def aclose(self) -> None:
        """End of call: stop a running turn the same safe way as ``cancel``, then
        put what is still carried (a goodbye, an apology, a failed turn's input)
        into the checkpoint and the transcript."""
        await self._settled()
        if self._run is not None and not self._run.done():
            await self.cancel()
            await self._turn_ended()
        if self._carry:
            carry, self._carry = self._carry, []
            # The transcript first: it never waits for the database, and the
            # session gives this call a second at most.
            await self._turn_ended({"messages": carry})
            try:
                await self._record(carry, final=True)
            except Exception as exc:
                logger.warning(
                    "the end of the call is not in the checkpoint (%s)", type(exc).__name__
                )
        if self._on_close is not None:
            try:
                await self._on_close()
            except Exception:
                logger.exception("end-of-call hook failed")
