"""The phone contract: how a caller turn enters a graph and what comes back.

How it works. Dialgraph runs one graph run per caller turn on the call's
thread. Any graph with a ``messages`` channel (``MessagesState``-compatible)
can be put on the phone; nothing in it has to be named for Dialgraph.

- **A caller turn** enters as a ``HumanMessage`` on ``messages``. Its
  ``additional_kwargs["dialgraph"]`` is a :class:`CallerTurn` saying what it
  is: ``speech`` (recogniser text, confidence, alternatives), ``dtmf`` (the
  keys, e.g. ``"482913"``), ``silence`` (the caller said nothing after a
  reply), ``start`` (the call was answered) or ``event`` (something happened
  on the line, e.g. ``transfer_failed``). Read it with :func:`caller_turn`.
  The content is readable for a chat model: the words, the keys, or a short
  note in brackets (:data:`START_TEXT`, :data:`SILENCE_TEXT`).
- **A graph paused at** ``interrupt()`` is resumed with
  ``Command(resume=CallerTurn)`` instead, so "ask and wait" flows are plain
  code (:func:`ask`). The question and the answer are added to ``messages``
  by the runtime as the run resumes.
- **What the caller hears**: AI text streamed from any node (LangGraph's
  ``messages`` stream mode) minus tool-call chunks and runs tagged
  ``nostream``; payloads ``{"say": text}`` a node writes with :func:`say`;
  and the question of an ``interrupt()`` (a string, or a mapping with
  ``"say"``). Other custom stream payloads are never read out.
- **What a step expects** from the caller (a yes or no, a day, a choice, N
  digits) is declared in one shape, :class:`Expect`, through :func:`ask`,
  :func:`expect` or the ``collect_digits`` tool; the runtime collects keypad
  digits and biases the recogniser with it.
- **Call facts** (CallSid, caller, called number, direction, today in the
  flow's time zone) arrive in ``config["configurable"]["dialgraph"]``, away
  from the graph's own ``context_schema``; read them with :func:`call_facts`.

Nothing here imports the telephony layer: graphs never do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict, cast
from zoneinfo import ZoneInfo

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

__all__ = [
    "CALL_KEY",
    "SILENCE_TEXT",
    "START_TEXT",
    "CallFacts",
    "CallerTurn",
    "Expect",
    "TurnSource",
    "ask",
    "call_facts",
    "caller_turn",
    "digits_of",
    "expect",
    "is_call_start",
    "last_caller_turn",
    "say",
    "turn_message",
]

TurnSource = Literal["start", "speech", "dtmf", "silence", "event"]
CALL_KEY = "dialgraph"  # config["configurable"][CALL_KEY]: the call facts; message tag key
START_TEXT = "(call started)"  # content of the call-start turn
SILENCE_TEXT = "(silence)"  # content of a turn in which the caller said nothing
_DEFAULT_TIMEZONE = "UTC"


class CallerTurn(TypedDict):
    """One caller turn, as the graph receives it (message tag and resume value).

    Keys:
        text: The recognised words, the keys pressed (``"482913"``), the
            event's name, or ``""`` for silence and call start.
        source: ``speech``, ``dtmf``, ``silence``, ``start`` or ``event``.
        confidence: The recogniser's confidence in [0, 1] (speech only).
        alternatives: Other readings of the audio, best first (speech only).
        digits: The keys pressed (``dtmf`` only; ``""`` otherwise).
    """

    text: str
    source: TurnSource
    confidence: NotRequired[float | None]
    alternatives: NotRequired[list[str]]
    digits: NotRequired[str]


def _content(turn: CallerTurn) -> str:
    source = turn["source"]
    if source == "start":
        return START_TEXT
    if source == "silence":
        return SILENCE_TEXT
    return turn["text"]


def turn_message(turn: CallerTurn, **extra: Any) -> HumanMessage:
    """The ``HumanMessage`` a caller turn enters the graph as (tagged with the turn)."""
    return HumanMessage(_content(turn), additional_kwargs={**extra, CALL_KEY: dict(turn)})


def caller_turn(message: BaseMessage | None) -> CallerTurn | None:
    """The :class:`CallerTurn` a message carries, or ``None`` (not a phone turn).

    A plain ``HumanMessage`` typed into Studio counts as speech.
    """
    if not isinstance(message, HumanMessage):
        return None
    tag = (message.additional_kwargs or {}).get(CALL_KEY)
    if isinstance(tag, Mapping) and tag.get("source"):
        return cast(CallerTurn, dict(tag))  # the turn turn_message() stored
    text = message.content if isinstance(message.content, str) else ""
    return CallerTurn(text=text, source="speech")


def digits_of(turn: CallerTurn | None) -> str:
    """The digits of a turn: the keys pressed, or digits spoken as words.

    ``"five five one oh three"`` and ``"55103"`` and the keys ``55103`` all
    give ``"55103"``; a turn with no digits gives ``""``.
    """
    if turn is None:
        return ""
    if turn.get("digits"):
        return str(turn["digits"])
    from spoken.digits import normalise

    return "".join(ch for ch in normalise(turn.get("text", "")).normalised if ch.isdigit())


def last_caller_turn(messages: Sequence[BaseMessage]) -> CallerTurn | None:
    """The latest caller turn in ``messages`` (``None`` before the first)."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return caller_turn(message)
    return None


def is_call_start(messages: Sequence[BaseMessage]) -> bool:
    """Whether the last message is the call-start turn (time to greet)."""
    turn = caller_turn(messages[-1]) if messages else None
    return turn is not None and turn["source"] == "start"


# -- what a step expects ------------------------------------------------------------
class Expect:
    """What a step expects from the caller, as a plain mapping (checkpoint-safe).

    ``kind`` is one of ``yes_no``, ``date``, ``time``, ``number``, ``digits``,
    ``choice``, ``name`` or ``text``; ``hints`` are phrases the recogniser
    should favour now. ``digits`` makes the runtime collect keypad keys into
    one turn, like Twilio's ``<Gather>``.
    """

    @staticmethod
    def yes_no(*, hints: Iterable[str] = ()) -> dict[str, Any]:
        """A yes or a no (in any of their forms)."""
        return {"kind": "yes_no", "hints": list(hints)}

    @staticmethod
    def date(*, hints: Iterable[str] = ()) -> dict[str, Any]:
        """A day ("Tuesday", "the fifth")."""
        return {"kind": "date", "hints": list(hints)}

    @staticmethod
    def time(*, hints: Iterable[str] = ()) -> dict[str, Any]:
        """A time of day."""
        return {"kind": "time", "hints": list(hints)}

    @staticmethod
    def choice(options: Iterable[str], *, hints: Iterable[str] = ()) -> dict[str, Any]:
        """One of ``options`` (a name from a list, a menu item)."""
        options = list(options)
        return {"kind": "choice", "choices": options, "hints": [*options, *hints]}

    @staticmethod
    def name(*, hints: Iterable[str] = ()) -> dict[str, Any]:
        """A person's name."""
        return {"kind": "name", "hints": list(hints)}

    @staticmethod
    def digits(
        max_digits: int = 0,
        *,
        min_digits: int = 1,
        finish_on_key: str = "#",
        timeout_s: float = 5.0,
        hints: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Keys or spoken digits: collected into one turn.

        Args:
            max_digits: Entry ends at this many keys (0: no limit).
            min_digits: Fewer keys than this are still delivered (the graph decides).
            finish_on_key: The key that ends the entry ("" for none); not delivered.
            timeout_s: A pause this long after a key ends the entry.
            hints: Phrases the recogniser should favour.
        """
        return {
            "kind": "digits",
            "max_digits": int(max_digits),
            "min_digits": int(min_digits),
            "finish_on_key": finish_on_key,
            "timeout_s": float(timeout_s),
            "hints": list(hints),
        }

    @staticmethod
    def text(*, hints: Iterable[str] = ()) -> dict[str, Any]:
        """Free speech (the default)."""
        return {"kind": "text", "hints": list(hints)}


def _writer() -> Any:
    from langgraph.config import get_stream_writer

    return get_stream_writer()


def say(text: str) -> None:
    """Speak ``text`` to the caller from inside a node (a ``{"say": text}`` payload).

    The runtime records it in ``messages`` as the assistant's words at the
    start of the next turn. A node that calls ``interrupt()`` re-runs from the
    top when resumed, so ``say`` before an interrupt is spoken again: say
    things after the last interrupt of a node, or use :func:`ask`.
    """
    if text.strip():
        _writer()({"say": text})


def expect(spec: Mapping[str, Any]) -> None:
    """Declare what the caller's next turn should be (an :class:`Expect` mapping)."""
    _writer()({"expect": dict(spec)})


def ask(question: str, expect: Mapping[str, Any] | None = None) -> CallerTurn:
    """Ask the caller ``question`` and wait for the answer (``interrupt()``).

    Returns the caller's next turn. Over the phone the runtime speaks the
    question, collects the answer (keys too, for :meth:`Expect.digits`) and
    resumes the run with it; in Studio, resume with
    ``{"text": "...", "source": "speech"}``.
    """
    from langgraph.types import interrupt

    payload: dict[str, Any] = {"say": question}
    if expect is not None:
        payload["expect"] = dict(expect)
    answer = interrupt(payload)
    if isinstance(answer, str):  # resumed by hand with plain text
        return CallerTurn(text=answer, source="speech")
    return cast(CallerTurn, dict(answer))  # the turn the runtime resumed with


# -- call facts ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CallFacts:
    """What is fixed about the call (all empty outside a call, e.g. in Studio).

    Attributes:
        call_sid: Twilio's CallSid.
        caller: The caller's number in E.164, ``""`` when withheld or unknown.
        called: The number that was called.
        direction: ``inbound`` or ``outbound``.
        timezone: The flow's time zone (IANA name).
        today: The flow's date (``YYYY-MM-DD``); a pinned date in demos and tests.
        now: The flow's local time when pinned (``YYYY-MM-DDTHH:MM``), else ``""``.
    """

    call_sid: str = ""
    caller: str = ""
    called: str = ""
    direction: str = "inbound"
    timezone: str = _DEFAULT_TIMEZONE
    today: str = ""
    now: str = ""

    def to_config(self) -> dict[str, str]:
        """The mapping stored under ``config["configurable"]["dialgraph"]``."""
        return {name: getattr(self, name) for name in self.__slots__}

    def local_now(self) -> dt.datetime:
        """The flow's wall-clock time (naive), pinned ``now`` / ``today`` first."""
        if self.now:
            return dt.datetime.fromisoformat(self.now).replace(tzinfo=None)
        real = dt.datetime.now(ZoneInfo(self.timezone or _DEFAULT_TIMEZONE)).replace(tzinfo=None)
        if self.today:
            return dt.datetime.combine(dt.date.fromisoformat(self.today), real.time())
        return real

    def local_date(self) -> dt.date:
        """The flow's date."""
        return self.local_now().date()


def call_facts(config: RunnableConfig | Mapping[str, Any] | None = None) -> CallFacts:
    """The call's facts from a run config (the current run's when ``None``).

    Works in nodes, tools (``runtime.config``) and outside a run (empty facts).
    """
    if config is None:
        try:
            from langgraph.config import get_config

            config = get_config()
        except RuntimeError:  # not inside a run
            config = {}
    raw = (config.get("configurable") or {}).get(CALL_KEY) or {}
    if not isinstance(raw, Mapping):
        return CallFacts()
    known = {k: str(v) for k, v in raw.items() if k in CallFacts.__slots__ and v is not None}
    return CallFacts(**known)
