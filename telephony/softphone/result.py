"""What a softphone call produced: outcome, per-turn timing, counters, recording.

All times are milliseconds on the stream clock (0 = the first media frame),
which is also the time axis of the recording.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from telephony.wire.codec import SAMPLE_RATE, ulaw_to_pcm

__all__ = ["CallOutcome", "CallResult", "TurnTiming", "write_stereo_wav"]

CallOutcome = Literal["completed", "remote_closed", "not_connected", "rejected", "failed"]
"""How the call ended:

- ``completed``: the script ran to its end and the softphone hung up;
- ``remote_closed``: the app closed the media socket first (see close code);
- ``not_connected``: the TwiML answer did not connect a stream (``<Say>``,
  ``<Reject>``, a busy message...);
- ``rejected``: the webhook or the WebSocket handshake was refused (HTTP status);
- ``failed``: the URL could not be reached or the app broke the protocol.
"""

_NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})  # normal, going away, no status


@dataclass(slots=True)
class TurnTiming:
    """One caller input and how fast the agent answered it.

    Attributes:
        number: 1-based turn number.
        step: The script step that produced it.
        kind: ``"say"``, ``"play"`` or ``"dtmf"``.
        text: What was said, the file played, or the keys pressed.
        barge_in: Whether the caller spoke over the agent on purpose.
        start_ms: When the caller's audio (or first key) started.
        end_ms: When the caller's speech ended (last voiced frame) or the last
            key was sent.
        first_audio_received_ms: When the agent's reply arrived: the first agent
            audio after ``end_ms`` that follows at least 400 ms without agent
            audio (audio streaming on without a gap is the previous reply).
        first_audio_played_ms: When that audio started playing.
    """

    number: int
    step: int
    kind: str
    text: str
    barge_in: bool = False
    start_ms: float = 0.0
    end_ms: float = 0.0
    first_audio_received_ms: float | None = None
    first_audio_played_ms: float | None = None

    @property
    def response_ms(self) -> float | None:
        """End of caller speech -> first agent audio received."""
        if self.first_audio_received_ms is None:
            return None
        return self.first_audio_received_ms - self.end_ms

    @property
    def heard_ms(self) -> float | None:
        """End of caller speech -> first agent audio played (what the caller waits)."""
        if self.first_audio_played_ms is None:
            return None
        return self.first_audio_played_ms - self.end_ms


@dataclass(slots=True)
class CallResult:
    """Everything the softphone observed during one call."""

    outcome: CallOutcome = "failed"
    detail: str = ""
    call_sid: str = ""
    stream_sid: str = ""
    http_status: int | None = None
    twiml: str = ""
    close_code: int | None = None
    close_reason: str = ""
    closed_by: Literal["caller", "app", ""] = ""
    turns: list[TurnTiming] = field(default_factory=list)
    frames_sent: int = 0
    frames_received: int = 0
    late_frames: int = 0
    max_lateness_ms: float = 0.0
    marks_received: int = 0
    marks_echoed: int = 0
    clears_received: int = 0
    dtmf_sent: int = 0
    agent_ms_received: float = 0.0
    agent_ms_played: float = 0.0
    agent_ms_cleared: float = 0.0
    duration_ms: float = 0.0
    started_at: float | None = (
        None  # the softphone clock at stream start (turn times count from it)
    )
    warnings: list[str] = field(default_factory=list)
    caller_audio: bytes = b""
    agent_audio: bytes = b""
    recording: Path | None = None

    @property
    def ok(self) -> bool:
        """Whether the call connected and ended normally, by either side."""
        if self.outcome == "completed":
            return True
        return self.outcome == "remote_closed" and self.close_code in _NORMAL_CLOSE_CODES

    def summary(self) -> str:
        """A short human-readable report (what ``dialgraph call`` prints)."""
        lines = [
            f"call {self.call_sid or '-'}: {self.outcome}"
            + (f" ({self.detail})" if self.detail else "")
        ]
        if self.stream_sid:
            closed = f"closed by {self.closed_by or '?'}"
            if self.close_code is not None:
                closed += f" with {self.close_code}" + (
                    f" {self.close_reason!r}" if self.close_reason else ""
                )
            lines.append(f"  stream {self.stream_sid}, {self.duration_ms / 1000:.1f} s, {closed}")
            lines.append(
                f"  frames sent {self.frames_sent} (late {self.late_frames}, worst "
                f"{self.max_lateness_ms:.0f} ms), received {self.frames_received}; agent audio "
                f"received {self.agent_ms_received / 1000:.1f} s, played "
                f"{self.agent_ms_played / 1000:.1f} s, cleared {self.agent_ms_cleared / 1000:.1f} s"
            )
            lines.append(
                f"  marks received {self.marks_received}, echoed {self.marks_echoed}; "
                f"clears {self.clears_received}; dtmf keys {self.dtmf_sent}"
            )
        for turn in self.turns:
            barge = ", barge-in" if turn.barge_in else ""
            if turn.response_ms is None:
                timing = "no reply"
            else:
                heard = "not played" if turn.heard_ms is None else f"{turn.heard_ms:.0f} ms"
                timing = f"{turn.response_ms:.0f} ms to first agent audio, {heard} to heard"
            lines.append(
                f"  turn {turn.number} (step {turn.step}, {turn.kind}{barge}): {timing}"
                f"  [{_short(turn.text)}]"
            )
        lines.extend(f"  warning: {w}" for w in self.warnings)
        if self.recording is not None:
            lines.append(f"  recording: {self.recording} (left caller, right agent)")
        return "\n".join(lines)


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def write_stereo_wav(path: Path, left_ulaw: bytes, right_ulaw: bytes) -> None:
    """Write two mu-law channels as one 16-bit PCM 8 kHz stereo WAV.

    The shorter channel is padded with silence at the end.
    """
    left, right = ulaw_to_pcm(left_ulaw), ulaw_to_pcm(right_ulaw)
    frames = np.zeros((max(left.size, right.size), 2), dtype="<i2")
    frames[: left.size, 0] = left
    frames[: right.size, 1] = right
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(frames.tobytes())
