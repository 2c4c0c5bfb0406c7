"""The caller's audio, prepared before dialing.

Every ``say`` is synthesised and every ``play`` file converted to 8 kHz
mu-law before the webhook is called, so synthesis time never shows up as a
gap in the caller's speech or in the measured turn timing.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from telephony.speech.base import TextToSpeech
from telephony.wire.codec import (
    FRAME_BYTES,
    FRAME_MS,
    SAMPLE_RATE,
    ULAW_SILENCE,
    Resampler,
    float_to_pcm16,
    pcm_to_ulaw,
    rms_dbfs,
    ulaw_to_pcm,
)

from .script import Play, Say, Script, ScriptError

__all__ = ["SPEECH_DBFS", "Utterance", "load_wav", "prepare_audio"]

SPEECH_DBFS = -45.0  # frames louder than this count as speech when timing the end of a turn
_PCM_WIDTHS = (1, 2, 3, 4)  # bytes per sample the WAV reader understands


@dataclass(frozen=True, slots=True)
class Utterance:
    """Caller audio cut into 20 ms frames.

    Attributes:
        frames: 160-byte mu-law frames (the last one padded with silence).
        last_voiced: Index of the last frame louder than :data:`SPEECH_DBFS`
            (``len(frames) - 1`` if none is): where the caller stops speaking.
    """

    frames: tuple[bytes, ...]
    last_voiced: int

    @classmethod
    def from_ulaw(cls, ulaw: bytes) -> Utterance:
        """Frame mu-law audio and find where the speech ends."""
        if len(ulaw) % FRAME_BYTES:
            ulaw += bytes([ULAW_SILENCE]) * (FRAME_BYTES - len(ulaw) % FRAME_BYTES)
        frames = tuple(ulaw[i : i + FRAME_BYTES] for i in range(0, len(ulaw), FRAME_BYTES))
        voiced = [i for i, f in enumerate(frames) if rms_dbfs(ulaw_to_pcm(f)) >= SPEECH_DBFS]
        return cls(frames, voiced[-1] if voiced else len(frames) - 1)

    @property
    def duration_ms(self) -> int:
        return len(self.frames) * FRAME_MS


def load_wav(path: Path) -> bytes:
    """Read a PCM WAV file of any rate, width and channel count as 8 kHz mu-law.

    Channels are mixed to mono. Raises :class:`ScriptError` for anything else
    (compressed or float WAVs, unreadable files).
    """
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise ScriptError(f"{path}: not a readable PCM WAV file ({exc})") from None
    if width not in _PCM_WIDTHS:
        raise ScriptError(f"{path}: unsupported sample width {width * 8} bits")
    samples = _to_float(raw, width).reshape(-1, channels).mean(axis=1)
    pcm = float_to_pcm16(samples)
    if rate != SAMPLE_RATE:
        resampler = Resampler(rate, SAMPLE_RATE)
        pcm = np.concatenate([resampler.process(pcm), resampler.flush()])
    return pcm_to_ulaw(pcm)


def _to_float(raw: bytes, width: int) -> np.ndarray:
    """PCM bytes (little-endian; 8-bit is unsigned) to float64 in [-1, 1)."""
    if width == 1:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        return ints.astype(np.float64) / float(1 << 23)
    dtype = "<i2" if width == 2 else "<i4"
    return np.frombuffer(raw, dtype=dtype).astype(np.float64) / float(1 << (8 * width - 1))


async def synthesize(text: str, tts: TextToSpeech | None) -> Utterance:
    """The caller saying ``text`` in ``tts``'s voice.

    Raises:
        ScriptError: There is no voice, or it produced no audio.
        ProviderError: The TTS failed.
    """
    if tts is None:
        raise ScriptError("say needs a TTS")
    ulaw = b"".join([chunk async for chunk in tts.synthesize(text)])
    if not ulaw:
        raise ScriptError(f"the TTS produced no audio for {text!r}")
    return Utterance.from_ulaw(ulaw)


async def prepare_audio(script: Script, tts: TextToSpeech | None) -> dict[int, Utterance]:
    """Synthesise and load the audio of every ``say`` and ``play`` step.

    Args:
        script: The script.
        tts: The caller's voice; needed only if the script has ``say`` steps.

    Returns:
        The utterance for each step number that speaks.

    Raises:
        ScriptError: A ``play`` file cannot be read, or the TTS produced nothing.
        ProviderError: The TTS failed.
    """
    spoken: dict[str, Utterance] = {}
    result: dict[int, Utterance] = {}
    for step in script.steps:
        if isinstance(step, Say):
            if step.text not in spoken:
                try:
                    spoken[step.text] = await synthesize(step.text, tts)
                except ScriptError as exc:
                    raise ScriptError(f"{script.source}: step {step.number}: {exc}") from None
            result[step.number] = spoken[step.text]
        elif isinstance(step, Play):
            try:
                ulaw = load_wav(step.path)
            except ScriptError as exc:
                raise ScriptError(f"{script.source}: step {step.number}: {exc}") from None
            if not ulaw:
                raise ScriptError(f"{script.source}: step {step.number}: {step.path} is empty")
            result[step.number] = Utterance.from_ulaw(ulaw)
    return result
