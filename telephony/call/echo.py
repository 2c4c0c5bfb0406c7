"""Echo safety: is the sound on the caller's line just our own voice coming back?

Twilio does not echo the agent's audio, but a caller on a speakerphone (or a
poor handset) does: the agent's words leave the phone's speaker, enter its
microphone and arrive in the inbound stream 100-400 ms later, 6-20 dB
quieter. To a voice activity detector that is speech, and without this check
the agent would barge in on itself.

How it works: the suppressor keeps the last 2 s of what we played (outbound
PCM, placed by the time each frame plays) and the last second of what came
in. Asked :meth:`EchoSuppressor.is_echo`, it takes the newest ``window_ms``
of inbound audio and computes its normalised cross-correlation with the
outbound audio at every delay from ``min_delay_ms`` to ``max_delay_ms`` (one
FFT product). Echo is a linear copy of what we played, so one delay matches
it: 0.95-1.0 for a clean delayed copy, 0.7-0.95 through a speakerphone whose
direct path is not weaker than the room's reflections. At one given delay,
another voice, a cough or line noise scores 0.1-0.3; but the best of 3,200
delays can reach 0.8 by chance (measured with the agent's own voice as the
"caller"). Hence two stages: until the echo's delay is known, only a near
perfect match (``first_correlation``) is echo -- a clean echo is caught from
its first syllable; strong matches vote for their delay, and once votes for
one delay span ``learn_span_ms`` the delay is learnt and only correlation
*at that delay* counts (``min_correlation``), which chance cannot reach.
The measure is also the classic double-talk detector: when the caller talks
over the echo, the correlation falls as the caller's share of the window's
energy grows, so a caller 6 dB above the echo gets through within ~100 ms.

Timing: outbound frames are placed by their play time (the writer's pacing
clock, which has no jitter); inbound audio is kept contiguous (Twilio's
stream has no gaps) and mapped to the same clock by the smallest arrival
offset seen, so network bursts do not smear the alignment.

Limits, on purpose: echo that went through strongly nonlinear processing
(a handset's own echo canceller leaving a residue) may not correlate; then
the two-step barge-in (pause, confirm by words or duration) is the safety
net. Cost: only when asked -- for a VAD window that looks like speech while
agent audio played within the delay range -- about 0.2 ms per check (two
8192-point real FFTs and one inverse).

Pure bookkeeping: no I/O, time is passed in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from telephony.wire.codec import SAMPLE_RATE

__all__ = ["EchoConfig", "EchoScore", "EchoSuppressor"]

_PER_MS = SAMPLE_RATE // 1000
_FULL_SCALE_SQ = 32768.0 * 32768.0
_NEAR_KEEP_S = 1.0  # inbound history: the analysis window plus slack
_FAR_SLACK_S = 1.0  # outbound history beyond the delay range: play times run ahead of arrival
_MAX_VOTES = 64  # strong matches remembered for learning the delay (~2 s of checks)


@dataclass(frozen=True, slots=True)
class EchoConfig:
    """Thresholds of the echo check (see the module docstring).

    Attributes:
        min_delay_ms: Shortest echo delay considered, from play time to arrival.
        max_delay_ms: Longest echo delay considered: network both ways plus
            the phone's buffers, measured from the frame's play time.
        window_ms: Newest inbound audio compared with the outbound audio.
            Short, so a caller talking over the echo soon dominates it.
        min_correlation: Correlation at the learnt echo delay at or above
            which inbound audio counts as our echo.
        first_correlation: Before the delay is learnt, the best correlation
            over all delays must reach this. Searching thousands of delays
            finds chance matches (a voice like the agent's reached 0.83),
            so it is high: a clean echo (0.95-1.0) is caught from its first
            syllable, a reverberant one once the delay is learnt.
        learn_correlation: Checks at or above this vote for their delay.
        learn_span_ms: The delay is learnt when votes for it (within the
            tolerance) span at least this much audio: different syllables,
            not one chance alignment seen through overlapping windows.
        delay_tolerance_ms: How far the echo delay may drift (jitter, clock).
        silence_dbfs: Below this level (either direction) there is nothing
            to compare ("not echo"). Low, because the VAD still hears speech
            in the quiet tails of an echo 12 dB down.
    """

    min_delay_ms: int = 0
    max_delay_ms: int = 400
    window_ms: int = 128
    min_correlation: float = 0.6
    first_correlation: float = 0.9
    learn_correlation: float = 0.75
    learn_span_ms: int = 200
    delay_tolerance_ms: int = 2
    silence_dbfs: float = -65.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_delay_ms <= self.max_delay_ms <= 1000:
            raise ValueError("EchoConfig needs 0 <= min_delay_ms <= max_delay_ms <= 1000")
        if not 16 <= self.window_ms <= 500:
            raise ValueError("EchoConfig window_ms must be between 16 and 500")
        if not 0.0 < self.min_correlation <= self.learn_correlation <= self.first_correlation < 1:
            raise ValueError(
                "EchoConfig needs 0 < min_correlation <= learn_correlation <= first_correlation < 1"
            )


@dataclass(frozen=True, slots=True)
class EchoScore:
    """The evidence behind one decision (for logs and the bench).

    Attributes:
        echo: The decision.
        correlation: Best normalised correlation (0 when not computed).
        delay_ms: Delay of the best correlation.
        reason: ``"no-playback"``, ``"quiet"``, ``"uncorrelated"`` or ``"echo"``.
    """

    echo: bool
    correlation: float = 0.0
    delay_ms: float = 0.0
    reason: str = ""


class _Ring:
    """Samples (float64) by absolute sample number; unknown samples read as zero."""

    def __init__(self, size: int) -> None:
        self._data = np.zeros(size, dtype=np.float64)
        self.next: int | None = None  # absolute number of the next sample to write

    def write(self, start: int, samples: np.ndarray) -> None:
        size = self._data.size
        if self.next is not None and start > self.next:
            gap = min(start - self.next, size)  # nothing played in between: silence
            self._data[np.arange(start - gap, start) % size] = 0.0
        samples = samples[-size:]
        self._data[np.arange(start, start + samples.size) % size] = samples
        self.next = start + samples.size

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.zeros(stop - start, dtype=np.float64)
        if self.next is None:
            return out
        lo, hi = max(start, self.next - self._data.size), min(stop, self.next)
        if hi > lo:
            out[lo - start : hi - start] = self._data[np.arange(lo, hi) % self._data.size]
        return out


class EchoSuppressor:
    """Tells the caller's voice from the agent's own voice coming back.

    Feed every outbound frame to :meth:`far_end` with the time its last
    sample plays, and every inbound frame to :meth:`near_end` with the time
    it arrived; ask :meth:`is_echo` when the voice activity detector hears
    speech. The echo path's delay is learnt as the call goes (:attr:`delay_ms`).

    Args:
        config: Thresholds; the defaults suit phone lines.
    """

    def __init__(self, config: EchoConfig | None = None) -> None:
        self.config = config = config or EchoConfig()
        self._window = config.window_ms * _PER_MS
        self._min_lag = config.min_delay_ms * _PER_MS
        self._max_lag = config.max_delay_ms * _PER_MS
        self._tolerance = config.delay_tolerance_ms * _PER_MS
        span = self._window + self._max_lag - self._min_lag
        self._fft_size = 1 << (span + self._window - 1).bit_length()
        self._far = _Ring(span + int(_FAR_SLACK_S * SAMPLE_RATE))
        self._near = _Ring(int(_NEAR_KEEP_S * SAMPLE_RATE))
        self._origin: float | None = None  # clock time of inbound sample 0 (smallest offset)
        self._far_loud_until: int | None = None  # far sample number after the last loud frame
        self._silence = _FULL_SCALE_SQ * 10 ** (config.silence_dbfs / 10)
        self._votes: deque[tuple[int, int]] = deque(maxlen=_MAX_VOTES)  # (inbound sample, lag)
        self._lag: int | None = None  # learnt echo delay in samples
        self.last = EchoScore(False, reason="no-playback")
        self.checks = 0
        self.suppressed = 0

    @property
    def delay_ms(self) -> float | None:
        """The learnt echo delay (from play time to arrival), or ``None`` if not yet known."""
        return None if self._lag is None else self._lag / _PER_MS

    def far_end(self, pcm: np.ndarray, at: float) -> None:
        """Record agent audio (int16) whose last sample plays at ``at`` (clock seconds)."""
        samples = pcm.reshape(-1).astype(np.float64)
        if not samples.size:
            return
        end = round(at * SAMPLE_RATE)
        start = end - samples.size
        if self._far.next is not None:
            start = max(start, self._far.next)  # frames never overlap
        self._far.write(start, samples)
        if float(samples @ samples) / samples.size > self._silence:
            self._far_loud_until = start + samples.size

    def near_end(self, pcm: np.ndarray, at: float) -> None:
        """Record caller audio (int16) whose last sample arrived at ``at`` (clock seconds)."""
        samples = pcm.reshape(-1).astype(np.float64)
        start = self._near.next or 0
        self._near.write(start, samples)
        # The least-delayed frame seen pins inbound samples to the clock;
        # frames that arrive late (jitter, bursts) do not move it.
        origin = at - (start + samples.size) / SAMPLE_RATE
        if self._origin is None or origin < self._origin:
            self._origin = origin

    def agent_audible(self) -> bool:
        """Whether agent audio played recently enough to be in the newest inbound audio."""
        end = self._near_end_on_far()
        if end is None or self._far_loud_until is None:
            return False
        return end - self._far_loud_until <= self._max_lag + self._window

    def is_echo(self) -> bool:
        """Whether the newest inbound audio is a copy of what we played.

        Also learns the echo delay. Sets :attr:`last` to the evidence and
        counts :attr:`checks` and :attr:`suppressed`.
        """
        self.last = score = self._score()
        self.checks += 1
        self.suppressed += score.echo
        return score.echo

    def _near_end_on_far(self) -> int | None:
        """The far-side sample number at which the newest inbound sample arrived."""
        if self._origin is None or self._near.next is None:
            return None
        return round((self._origin + self._near.next / SAMPLE_RATE) * SAMPLE_RATE)

    def _score(self) -> EchoScore:
        if not self.agent_audible():
            return EchoScore(False, reason="no-playback")
        window = self._window
        now = self._near.next
        assert now is not None
        near = self._near.read(now - window, now)
        near_energy = float(near @ near)
        if near_energy <= self._silence * window:
            return EchoScore(False, reason="quiet")
        ncc = self._correlations(near, near_energy)
        best = int(np.argmax(ncc))
        r, lag = float(ncc[best]), self._max_lag - best
        self._vote(now, lag, r)
        if self._lag is None:
            echo = r >= self.config.first_correlation
        else:
            # At the learnt delay only: one delay cannot match another voice by chance.
            at = self._max_lag - self._lag
            near_path = ncc[max(at - self._tolerance, 0) : at + self._tolerance + 1]
            r, lag = float(near_path.max()), self._lag
            echo = r >= self.config.min_correlation
        return EchoScore(echo, r, lag / _PER_MS, "echo" if echo else "uncorrelated")

    def _correlations(self, near: np.ndarray, near_energy: float) -> np.ndarray:
        """Normalised correlation of ``near`` with the outbound audio at every delay.

        Index ``i`` is the delay ``max_lag - i`` samples.
        """
        window, lags = self._window, self._max_lag - self._min_lag
        end = self._near_end_on_far()
        assert end is not None
        far = self._far.read(end - self._max_lag - window, end - self._min_lag)
        # c[k] = sum_t far[k + t] * near[t], one FFT product for every delay.
        n = self._fft_size
        c = np.fft.irfft(np.fft.rfft(far, n) * np.conj(np.fft.rfft(near, n)), n)[: lags + 1]
        power = np.concatenate(([0.0], np.cumsum(far * far)))
        far_energy = power[window : window + lags + 1] - power[: lags + 1]
        score: np.ndarray = np.abs(c) / np.sqrt(
            np.maximum(far_energy, self._silence * window) * near_energy
        )
        return score

    def _vote(self, now: int, lag: int, r: float) -> None:
        """Learn the delay once strong matches at one delay span different syllables."""
        if r < self.config.learn_correlation:
            return
        self._votes.append((now, lag))
        agreeing = [at for at, other in self._votes if abs(other - lag) <= self._tolerance]
        if now - min(agreeing) >= self.config.learn_span_ms * _PER_MS:
            self._lag = lag
