"""Pure audio helpers for Twilio Media Streams: G.711 mu-law, resampling, framing.

How it works:

- mu-law <-> PCM16 is two lookup tables built with numpy at import time
  (``ULAW_TO_PCM``: 256 entries, ``PCM_TO_ULAW``: 65,536 entries indexed by the
  int16 sample viewed as uint16). Encoding or decoding a 20 ms frame is one
  ``take`` on a table, about a microsecond. Both tables are bit exact with the
  G.711 reference (CPython's ``audioop``, Sun's ``g711.c``) for every input.
- ``Resampler`` wraps ``soxr.ResampleStream`` with explicit state. It
  resamples in float32 and rounds to int16 itself, so the output is
  deterministic and chunking never changes it.
- ``FrameSplitter`` cuts a mu-law byte stream into exact 160-byte frames;
  ``Rebuffer`` re-chunks PCM into fixed windows (e.g. 256 samples for Silero).

Nothing here does I/O, logging or asyncio: every function is a pure
transformation, every class is state plus "feed then drain".
"""

from __future__ import annotations

import math

import numpy as np
import soxr

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "FRAME_SAMPLES",
    "PCM_TO_ULAW",
    "RESAMPLER_QUALITIES",
    "SAMPLE_RATE",
    "SILENCE_DBFS",
    "ULAW_SILENCE",
    "ULAW_TO_PCM",
    "FrameSplitter",
    "Rebuffer",
    "Resampler",
    "duration_ms",
    "float_to_pcm16",
    "pcm16_to_float",
    "pcm_to_ulaw",
    "rms_dbfs",
    "ulaw_silence",
    "ulaw_to_pcm",
]

SAMPLE_RATE = 8000  # Twilio Media Streams carry 8 kHz G.711 mu-law, mono
FRAME_MS = 20  # Twilio sends (and expects) 20 ms frames
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160 samples per frame
FRAME_BYTES = FRAME_SAMPLES  # mu-law is 1 byte per sample
_SAMPLES_PER_MS = SAMPLE_RATE // 1000  # 8 mu-law bytes per millisecond

# mu-law code for a zero sample. Both 0xFF (+0) and 0x7F (-0) decode to 0;
# a G.711 encoder produces 0xFF for 0, so that is what silence is made of.
ULAW_SILENCE = 0xFF

SILENCE_DBFS = -120.0  # rms_dbfs floor: below any non-zero 16-bit block, and finite (JSON-safe)

_PCM16_FULL_SCALE = 32768.0  # |int16 min|: float 1.0 <-> 32768 keeps int16 -> float -> int16 exact
_INT16_MIN = -32768
_INT16_MAX = 32767

# G.711 mu-law constants, in the 16-bit domain.
_ULAW_BIAS = 0x84  # 132: added to the magnitude so every segment starts on a power of two
_ULAW_CLIP = 32635  # largest magnitude that still fits after adding the bias (0x7FFF - 0x84)
_ULAW_SIGN = 0x80  # sign bit of the (non-inverted) code
_ULAW_SEG_END = np.array([(0x100 << seg) - 1 for seg in range(8)], dtype=np.int32)  # segment tops
_ULAW_DROP_LSBS = ~3  # G.711 mu-law takes 14-bit input: the 2 low bits of a 16-bit sample go

RESAMPLER_QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")  # soxr's recipes, quickest to best


def _build_ulaw_to_pcm() -> np.ndarray:
    """Decode table: every mu-law code to its int16 sample (G.711 expansion)."""
    code = ~np.arange(256, dtype=np.int32) & 0xFF  # codes are sent bit-inverted
    segment = (code >> 4) & 0x07
    magnitude = (((code & 0x0F) << 3) + _ULAW_BIAS) << segment
    pcm = np.where(code & _ULAW_SIGN, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS)
    table = pcm.astype(np.int16)
    table.setflags(write=False)
    return table


def _build_pcm_to_ulaw() -> np.ndarray:
    """Encode table: every int16 sample (indexed as uint16) to its mu-law code.

    The standard algorithm: drop the two bits below G.711's 14-bit resolution
    by two's-complement truncation (so negative values round away from zero,
    exactly as the reference does with ``sample >> 2``), take sign and
    magnitude, clip at 32635, add the 0x84 bias, find the segment (the
    exponent), keep 4 mantissa bits below the leading one, invert all bits.
    """
    pcm = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)
    truncated = pcm & _ULAW_DROP_LSBS
    sign = np.where(truncated < 0, _ULAW_SIGN, 0)
    magnitude = np.minimum(np.abs(truncated), _ULAW_CLIP) + _ULAW_BIAS
    segment = np.searchsorted(_ULAW_SEG_END, magnitude).astype(np.int32)
    mantissa = (magnitude >> (segment + 3)) & 0x0F
    table: np.ndarray = (~(sign | (segment << 4) | mantissa) & 0xFF).astype(np.uint8)
    table.setflags(write=False)
    return table


ULAW_TO_PCM: np.ndarray = _build_ulaw_to_pcm()
"""Decode table, shape (256,), int16, read-only: ``ULAW_TO_PCM[code]`` is the sample."""

PCM_TO_ULAW: np.ndarray = _build_pcm_to_ulaw()
"""Encode table, shape (65536,), uint8, read-only: ``PCM_TO_ULAW[sample.view(uint16)]``."""


def _require_pcm16(pcm: np.ndarray, what: str) -> np.ndarray:
    """Return ``pcm`` if it is an int16 ndarray, else raise a TypeError naming the caller."""
    if not isinstance(pcm, np.ndarray) or pcm.dtype != np.int16:
        got = pcm.dtype if isinstance(pcm, np.ndarray) else type(pcm).__name__
        raise TypeError(
            f"{what} expects an int16 numpy array (native byte order), got {got}; "
            "convert float audio with float_to_pcm16()"
        )
    return pcm


def ulaw_to_pcm(data: bytes | bytearray | memoryview) -> np.ndarray:
    """Decode G.711 mu-law bytes to PCM16.

    Args:
        data: mu-law bytes, one per sample (e.g. a decoded Twilio ``media.payload``).

    Returns:
        A new, writable 1-D int16 array with one sample per input byte.
    """
    return ULAW_TO_PCM.take(np.frombuffer(data, dtype=np.uint8))


def pcm_to_ulaw(pcm: np.ndarray | bytes | bytearray | memoryview) -> bytes:
    """Encode PCM16 to G.711 mu-law bytes.

    Args:
        pcm: int16 samples as a numpy array (native byte order, any shape,
            read in C order), or a bytes-like object holding little-endian
            int16 samples (what most TTS engines emit).

    Returns:
        One mu-law byte per sample.

    Raises:
        TypeError: ``pcm`` is an array of another dtype. Float audio is
            rejected rather than reinterpreted; use ``float_to_pcm16`` first.
        ValueError: a bytes-like ``pcm`` has an odd length (a half sample).
    """
    if isinstance(pcm, np.ndarray):
        index = _require_pcm16(pcm, "pcm_to_ulaw").view(np.uint16)
    else:
        if memoryview(pcm).nbytes % 2:
            raise ValueError("pcm_to_ulaw got an odd number of bytes: not whole int16 samples")
        index = np.frombuffer(pcm, dtype="<u2")
    return PCM_TO_ULAW.take(index).tobytes()


def float_to_pcm16(x: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Convert float audio in [-1, 1] to int16, with gain, rounding and clipping.

    Scaling is by 32768, the inverse of ``pcm16_to_float``, so int16 -> float
    -> int16 is exact. +1.0 clips to 32767; anything beyond [-1, 1) after the
    gain clips to the int16 range instead of wrapping. NaN becomes 0.

    Args:
        x: float samples (any float dtype, any shape).
        gain: linear factor applied before conversion (e.g. 0.7 to take
            Piper's full-scale output down).

    Returns:
        A new int16 array of the same shape.
    """
    scaled = np.asarray(x, dtype=np.float64) * (gain * _PCM16_FULL_SCALE)
    np.rint(scaled, out=scaled)
    np.clip(scaled, _INT16_MIN, _INT16_MAX, out=scaled)
    np.nan_to_num(scaled, copy=False, nan=0.0)
    return scaled.astype(np.int16)


def pcm16_to_float(pcm: np.ndarray) -> np.ndarray:
    """Convert int16 audio to float32 in [-1, 1) by dividing by 32768.

    Args:
        pcm: int16 samples.

    Returns:
        A new float32 array of the same shape (what Silero and most models take).

    Raises:
        TypeError: ``pcm`` is not an int16 array.
    """
    _require_pcm16(pcm, "pcm16_to_float")
    return pcm.astype(np.float32) * np.float32(1.0 / _PCM16_FULL_SCALE)


class Resampler:
    """Streaming int16 resampler with explicit state (one per direction per call).

    Feed chunks of any size with ``process``; call ``flush`` at the end of the
    stream to drain the filter's tail. Internally soxr runs in float32 and this
    class rounds and clips to int16 itself, so output is deterministic and the
    concatenation of all chunks plus the flush equals one-shot processing
    exactly, whatever the chunking.

    Latency: soxr's higher qualities filter in blocks, so ``process`` returns
    nothing for a while and then a burst. Measured with 20 ms input chunks:
    8k->16k "HQ" first outputs after 100-120 ms of input, then about every
    100 ms; "LQ" after 60 ms, then every 40-60 ms; "QQ" (cubic interpolation,
    no anti-alias filter: fine for upsampling, aliases when downsampling)
    returns output on every chunk. Equal rates are a pass-through.

    Example:
        >>> up = Resampler(8000, 16000)
        >>> out = [up.process(frame) for frame in frames] + [up.flush()]
    """

    def __init__(self, in_rate: int, out_rate: int, *, quality: str = "HQ") -> None:
        """Create a resampler.

        Args:
            in_rate: input sample rate in Hz.
            out_rate: output sample rate in Hz.
            quality: soxr recipe, one of ``RESAMPLER_QUALITIES``.

        Raises:
            ValueError: a rate is not a positive integer or the quality is unknown.
        """
        for name, rate in (("in_rate", in_rate), ("out_rate", out_rate)):
            if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
                raise ValueError(f"Resampler {name} must be a positive int (Hz), got {rate!r}")
        if quality not in RESAMPLER_QUALITIES:
            raise ValueError(
                f"Resampler quality must be one of {RESAMPLER_QUALITIES}, got {quality!r}"
            )
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.quality = quality
        self._stream: soxr.ResampleStream | None = None
        if in_rate != out_rate:
            self._stream = soxr.ResampleStream(
                in_rate, out_rate, 1, dtype="float32", quality=quality
            )

    def __repr__(self) -> str:
        return f"Resampler({self.in_rate}, {self.out_rate}, quality={self.quality!r})"

    def process(self, pcm: np.ndarray) -> np.ndarray:
        """Resample the next chunk of the stream.

        Args:
            pcm: 1-D int16 samples at ``in_rate``, any length (also 0).

        Returns:
            A new 1-D int16 array at ``out_rate``; possibly shorter than
            ``len(pcm) * ratio``, even empty, while the filter fills (see the
            class docstring for how bursty that is).

        Raises:
            TypeError: ``pcm`` is not an int16 array.
            ValueError: ``pcm`` is not 1-D.
        """
        _require_pcm16(pcm, "Resampler.process")
        if pcm.ndim != 1:
            raise ValueError(f"Resampler.process expects mono 1-D samples, got shape {pcm.shape}")
        if self._stream is None:
            return pcm.copy()
        return self._to_pcm16(self._stream.resample_chunk(pcm.astype(np.float32)))

    def flush(self) -> np.ndarray:
        """End the stream: return the remaining tail and reset for a new stream.

        Returns:
            The last int16 samples, so that the total output length is about
            ``total_input * out_rate / in_rate``.
        """
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self._stream.clear()
        return self._to_pcm16(tail)

    def reset(self) -> None:
        """Drop all buffered input and filter state (e.g. on barge-in), keeping the config."""
        if self._stream is not None:
            self._stream.clear()

    @staticmethod
    def _to_pcm16(samples: np.ndarray) -> np.ndarray:
        # The filters overshoot on full-scale input: clip instead of wrapping.
        np.rint(samples, out=samples)
        np.clip(samples, _INT16_MIN, _INT16_MAX, out=samples)
        return samples.astype(np.int16)


class FrameSplitter:
    """Cuts a mu-law byte stream into exact frames (20 ms = 160 bytes by default).

    Twilio plays whatever it is sent, but pacing, marks and barge-in all count
    in whole frames, so the outbound path turns TTS output of any length into
    160-byte frames here.
    """

    def __init__(self, frame_bytes: int = FRAME_BYTES) -> None:
        """Create a splitter.

        Args:
            frame_bytes: size of each frame in bytes.

        Raises:
            ValueError: ``frame_bytes`` is not positive.
        """
        if frame_bytes <= 0:
            raise ValueError(f"FrameSplitter frame_bytes must be positive, got {frame_bytes}")
        self.frame_bytes = frame_bytes
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back because they do not yet fill a frame."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add bytes; return every frame now complete, in order.

        Args:
            data: the next mu-law bytes, any length.

        Returns:
            Complete frames of exactly ``frame_bytes`` each (possibly none);
            the remainder is kept for the next call.
        """
        buffer = self._buffer
        buffer += data
        size = self.frame_bytes
        whole = len(buffer) - len(buffer) % size
        if not whole:
            return []
        frames = [bytes(buffer[start : start + size]) for start in range(0, whole, size)]
        del buffer[:whole]
        return frames

    def flush(self, *, pad: bool = True) -> list[bytes]:
        """Return the last partial frame, if any, and empty the splitter.

        Args:
            pad: fill the partial frame up to ``frame_bytes`` with
                ``ULAW_SILENCE`` (True), or return it short (False).

        Returns:
            ``[]`` if nothing is pending, else a list with one frame.
        """
        if not self._buffer:
            return []
        frame = bytes(self._buffer)
        self._buffer.clear()
        if pad:
            frame += bytes([ULAW_SILENCE]) * (self.frame_bytes - len(frame))
        return [frame]

    def reset(self) -> None:
        """Drop pending bytes (e.g. after a ``clear``: the reply is abandoned)."""
        self._buffer.clear()


class Rebuffer:
    """Re-chunks int16 PCM into fixed windows.

    Example: Silero VAD wants 256-sample (32 ms) windows at 8 kHz, Twilio sends
    160-sample frames; ``Rebuffer(256)`` turns 8 frames into 5 windows.
    """

    def __init__(self, window: int) -> None:
        """Create a rebuffer.

        Args:
            window: samples per output window.

        Raises:
            ValueError: ``window`` is not positive.
        """
        if window <= 0:
            raise ValueError(f"Rebuffer window must be positive, got {window}")
        self.window = window
        self._partial = np.zeros(window, dtype=np.int16)
        self._fill = 0

    @property
    def pending(self) -> int:
        """Samples held back because they do not yet fill a window."""
        return self._fill

    def feed(self, pcm: np.ndarray) -> list[np.ndarray]:
        """Add samples; return every window now complete, in order.

        Args:
            pcm: 1-D int16 samples, any length.

        Returns:
            New int16 arrays of exactly ``window`` samples each (possibly
            none), safe to keep; the remainder is kept for the next call.

        Raises:
            TypeError: ``pcm`` is not an int16 array.
        """
        _require_pcm16(pcm, "Rebuffer.feed")
        pcm = pcm.reshape(-1)
        window = self.window
        windows: list[np.ndarray] = []
        start = 0
        if self._fill:
            start = min(window - self._fill, pcm.size)
            self._partial[self._fill : self._fill + start] = pcm[:start]
            self._fill += start
            if self._fill < window:
                return windows
            windows.append(self._partial.copy())
            self._fill = 0
        while pcm.size - start >= window:
            windows.append(pcm[start : start + window].copy())
            start += window
        rest = pcm.size - start
        if rest:
            self._partial[:rest] = pcm[start:]
            self._fill = rest
        return windows

    def flush(self, *, pad: bool = True) -> list[np.ndarray]:
        """Return the last partial window, if any, and empty the rebuffer.

        Args:
            pad: fill the partial window with zeros up to ``window`` (True),
                or return it short (False).

        Returns:
            ``[]`` if nothing is pending, else a list with one window.
        """
        if not self._fill:
            return []
        size = self.window if pad else self._fill
        last = np.zeros(size, dtype=np.int16)
        last[: self._fill] = self._partial[: self._fill]
        self._fill = 0
        return [last]

    def reset(self) -> None:
        """Drop pending samples."""
        self._fill = 0


def ulaw_silence(ms: int) -> bytes:
    """Return ``ms`` milliseconds of mu-law silence at 8 kHz (8 bytes per ms).

    Args:
        ms: duration in whole milliseconds; ``ulaw_silence(FRAME_MS)`` is one frame.

    Raises:
        ValueError: ``ms`` is negative.
    """
    if ms < 0:
        raise ValueError(f"ulaw_silence needs a non-negative duration, got {ms} ms")
    return bytes([ULAW_SILENCE]) * (ms * _SAMPLES_PER_MS)


def duration_ms(num_ulaw_bytes: int) -> float:
    """Return the playing time of 8 kHz mu-law audio in milliseconds.

    A float, because a byte is 0.125 ms (exact in binary floating point, so
    sums of durations do not drift): ``duration_ms(160) == 20.0``.

    Args:
        num_ulaw_bytes: number of mu-law bytes (= samples).

    Raises:
        ValueError: the count is negative.
    """
    if num_ulaw_bytes < 0:
        raise ValueError(f"duration_ms needs a non-negative byte count, got {num_ulaw_bytes}")
    return num_ulaw_bytes / _SAMPLES_PER_MS


def rms_dbfs(pcm: np.ndarray) -> float:
    """Return the RMS level of a PCM16 block in dBFS.

    0 dBFS is the RMS of a full-scale square wave (32768), so a full-scale
    sine reads about -3.01 dBFS. Digital silence and empty blocks return
    ``SILENCE_DBFS`` (-120.0) rather than ``-inf``, and so does anything
    quieter: the value stays finite for averaging, comparing and logging.

    Args:
        pcm: int16 samples.

    Raises:
        TypeError: ``pcm`` is not an int16 array.
    """
    _require_pcm16(pcm, "rms_dbfs")
    if pcm.size == 0:
        return SILENCE_DBFS
    samples = pcm.reshape(-1).astype(np.float64)
    mean_square = float(np.dot(samples, samples)) / samples.size
    if mean_square == 0.0:
        return SILENCE_DBFS
    level = 10.0 * math.log10(mean_square / (_PCM16_FULL_SCALE * _PCM16_FULL_SCALE))
    return max(level, SILENCE_DBFS)
