"""What one simulated call did, and the verdict on it: the records reports are made of.

Plain dataclasses (``dataclasses.asdict`` gives the JSON report's shape), the
same for text and audio mode, so a report compares the two directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["CallRecord", "Exchange", "Failure", "ScenarioResult"]

EndedBy = Literal["agent", "caller", "transfer", "timeout", "error"]


@dataclass(slots=True)
class Exchange:
    """One reply of the agent and what the caller did after it.

    Attributes:
        turn: 1-based; turn 1 is the greeting.
        agent: What the agent said (exact in text mode, as heard in audio mode).
        caller: What the caller did next (``say 'yes please'``, ``press 12#``, ...).
        rule: Which rule or fallback chose it.
        at_s: Seconds into the call when the agent's reply began.
        voice_to_voice_ms: End of the caller's speech to the agent's first audio
            at the caller (audio mode; ``None`` for the greeting and in text mode).
        barge_in: The caller talked over this reply.
        understood: Audio mode: the agent's recorded words for this reply, when
            the caller's ear heard most of them (what the caller acted on;
            :mod:`telephony.eval.record`); ``""``: the ear's words alone.
    """

    turn: int
    agent: str
    caller: str = ""
    rule: str = ""
    at_s: float = 0.0
    voice_to_voice_ms: float | None = None
    barge_in: bool = False
    understood: str = ""


@dataclass(slots=True)
class CallRecord:
    """One call as the judges see it.

    Attributes:
        scenario: The scenario's name.
        mode: ``text`` (perfect transcripts) or ``audio``.
        voice: The caller's voice (``""`` in text mode).
        line: The line's condition (``clean``, ``babble 10 dB``, ...).
        exchanges: The conversation, reply by reply.
        ended_by: Who ended it (``timeout``: the scenario's time ran out first).
        end_reason: The detail (the hang-up reason, the transfer target, the error).
        duration_s: From the first ring to the end.
        final_state: The call's checkpointed state values at the end.
        transfers: Where the call was transferred (Twilio's REST log in audio mode).
        recording: The call's stereo WAV (audio mode); the reports give it relative to themselves.
        clears: Twilio ``clear`` messages the caller received (barge-ins the agent noticed).
        flow_heard: What the flow got from the caller, turn by turn (its human
            messages: in audio mode what the server's recogniser heard, or the
            keys), to tell a hearing failure from one of understanding.
        earlier: The scenario's earlier calls (``before``), played first in
            the same flow state and not judged.
    """

    scenario: str
    mode: Literal["text", "audio"]
    voice: str = ""
    line: str = "clean"
    exchanges: list[Exchange] = field(default_factory=list)
    ended_by: EndedBy = "error"
    end_reason: str = ""
    duration_s: float = 0.0
    final_state: dict[str, Any] = field(default_factory=dict)
    transfers: list[str] = field(default_factory=list)
    recording: str = ""
    clears: int = 0
    flow_heard: list[str] = field(default_factory=list)
    earlier: list[CallRecord] = field(default_factory=list)

    @property
    def agent_lines(self) -> list[str]:
        return [e.agent for e in self.exchanges if e.agent]

    def note_final_state(self, values: dict[str, Any]) -> None:
        """Keep the call's final state, and what the flow heard from the caller in it."""
        self.final_state = values
        self.flow_heard = [
            str(m.content)
            for m in values.get("messages") or ()
            if getattr(m, "type", "") == "human" and str(getattr(m, "content", "")).strip()
        ]


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a call failed, in one line, and the turn where it went wrong (if one did)."""

    reason: str
    turn: int | None = None

    def __str__(self) -> str:
        return self.reason if self.turn is None else f"turn {self.turn}: {self.reason}"


@dataclass(slots=True)
class ScenarioResult:
    """A call and its verdict."""

    call: CallRecord
    failures: list[Failure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def reason(self) -> str:
        """The first failure, or ``""``."""
        return str(self.failures[0]) if self.failures else ""
