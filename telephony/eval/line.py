"""A simulated phone line: caller audio degraded the way a telephone call delivers it.

``dialgraph eval`` plays synthetic callers; a clean synthetic voice is
easier to recognise than any real caller. :class:`PhoneLine` puts the
caller's audio through what a call does to it, in this order:

1. **Band limit** to the telephone channel, 300-3400 Hz (ITU-T G.712): a
   linear-phase FIR (Kaiser-windowed sinc), applied to speech and noise.
2. **Noise** at a set SNR: ``white``, ``babble`` (several talkers: noise with
   a speech spectrum, switched by random syllable-rate envelopes) or
   ``street`` (pink and brown rumble with passing low-frequency swells), all
   generated from a seed, no files. The SNR is measured over the speech's
   active part (its 20 ms frames within :data:`ACTIVE_RANGE_DB` of the
   loudest), in the telephone band: it is the SNR a listener on the line
   faces while the caller speaks. The filter is linear, so band-limiting
   speech and noise apart and then mixing equals band-limiting the mix. A
   mix that would clip is turned down whole, speech and noise alike (as a
   handset's level control would), so the SNR holds. Between utterances
   (:meth:`PhoneLine.silence`) the line carries its noise alone.
3. **G.711 mu-law** coding (the codec helpers), cut into 20 ms frames.
4. **Packet loss**: a two-state Gilbert-Elliott model (:class:`FrameLoss`)
   drops frames at a long-run rate, singly or in bursts of a set mean
   length. A dropped frame becomes digital silence, not a repeat of the
   previous frame: a lost RTP packet is simply absent, Twilio forwards what
   arrived, and the softphone must still send one frame per 20 ms for the
   server's clock, so silence is what the server would get.
5. **Jitter**: per-frame send delays (:class:`SendJitter`) for the
   softphone to apply; they never reorder frames (Twilio's side sends over
   one WebSocket, in order).

Everything here is pure numpy: no I/O, no clock, and the same seed gives the
same output. Noise, loss and jitter draw from independent streams of that
seed, so turning one on does not change the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import lru_cache
from types import MappingProxyType

import numpy as np

from telephony.wire.codec import (
    FRAME_BYTES,
    FRAME_MS,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    ULAW_SILENCE,
    float_to_pcm16,
    pcm16_to_float,
    pcm_to_ulaw,
    ulaw_to_pcm,
)

__all__ = [
    "ACTIVE_RANGE_DB",
    "BAND_HIGH_HZ",
    "BAND_LOW_HZ",
    "NOISE_KINDS",
    "NOMINAL_SPEECH_DBFS",
    "FrameLoss",
    "NoiseGenerator",
    "PhoneLine",
    "SendJitter",
    "active_samples",
    "babble_noise",
    "band_limit",
    "measure_snr_db",
    "mix_at_snr",
    "street_noise",
    "white_noise",
]

BAND_LOW_HZ = 300.0  # ITU-T G.712: the telephone channel's passband, 300-3400 Hz
BAND_HIGH_HZ = 3400.0
_TRANSITION_HZ = 150.0  # filter skirts just outside the band: 150-300 Hz and 3400-3550 Hz
_STOPBAND_DB = 50.0  # attenuation beyond the skirts (and passband ripple of ~0.03 dB)

ACTIVE_RANGE_DB = 35.0  # a 20 ms frame within this of the loudest counts as active speech
_ACTIVE_FLOOR = 1e-6  # ... and louder than this (RMS, full scale 1.0): not dither in silence
NOMINAL_SPEECH_DBFS = -21.0  # caller voices measure -19 to -23 (active); sets noise before speech
_HEADROOM = 0.95  # a mix peaking above this is scaled down whole, as a handset's level control does

_NOISE_BLOCK_S = 20.0  # noise is generated in blocks this long ...
_CROSSFADE_S = 0.05  # ... joined by an equal-power crossfade, so the line noise never clicks

Rng = np.random.Generator
NoiseGenerator = Callable[[int, Rng], np.ndarray]
"""Makes ``n`` samples of noise at 8 kHz (float64, unit RMS) from a random generator."""


# -- the telephone band ---------------------------------------------------------------


def _design_band_filter() -> np.ndarray:
    """The band filter's taps: a Kaiser-windowed sinc band-pass (Kaiser's design formulas)."""
    width = 2 * math.pi * _TRANSITION_HZ / SAMPLE_RATE  # transition width, rad/sample
    taps = math.ceil((_STOPBAND_DB - 8.0) / (2.285 * width)) | 1  # odd: linear phase, whole delay
    beta = 0.1102 * (_STOPBAND_DB - 8.7)
    low = (BAND_LOW_HZ - _TRANSITION_HZ / 2) / SAMPLE_RATE  # cut-offs mid-skirt, cycles/sample
    high = (BAND_HIGH_HZ + _TRANSITION_HZ / 2) / SAMPLE_RATE
    m = np.arange(taps) - (taps - 1) / 2
    ideal = 2 * high * np.sinc(2 * high * m) - 2 * low * np.sinc(2 * low * m)
    h: np.ndarray = ideal * np.kaiser(taps, beta)
    centre = np.exp(-2j * np.pi * 1000.0 / SAMPLE_RATE * np.arange(taps))
    h /= abs(np.dot(h, centre))  # exactly unity gain at 1 kHz
    h.setflags(write=False)
    return h


_BAND_FILTER = _design_band_filter()
_BAND_DELAY = (_BAND_FILTER.size - 1) // 2  # samples; removed, so output lines up with input


@lru_cache(maxsize=16)
def _band_spectrum(n_fft: int) -> np.ndarray:
    spectrum = np.fft.rfft(_BAND_FILTER, n_fft)
    spectrum.setflags(write=False)
    return spectrum


def band_limit(x: np.ndarray) -> np.ndarray:
    """Filter audio to the telephone band, 300-3400 Hz, without delaying it.

    Passes 300-3400 Hz within 0.1 dB; 150 Hz and below and 3550 Hz and above
    are 50 dB down. Linear phase, with the filter's delay removed, so the
    output lines up sample for sample with the input.

    Args:
        x: 8 kHz samples (any real dtype), 1-D.

    Returns:
        A new float64 array of the same length.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    n_fft = 1 << (x.size + _BAND_FILTER.size - 1 - 1).bit_length()
    full = np.fft.irfft(np.fft.rfft(x, n_fft) * _band_spectrum(n_fft), n_fft)
    return full[_BAND_DELAY : _BAND_DELAY + x.size]


# -- noise ----------------------------------------------------------------------------


def _unit_rms(x: np.ndarray) -> np.ndarray:
    rms = math.sqrt(float(np.mean(np.square(x)))) if x.size else 0.0
    return x / rms if rms > 0 else x


def _shaped(x: np.ndarray, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``x`` given the amplitude response ``gain(frequency_hz)`` (circularly), at unit RMS."""
    if x.size == 0:
        return x.copy()
    spectrum = np.fft.rfft(x)
    spectrum *= gain(np.fft.rfftfreq(x.size, 1.0 / SAMPLE_RATE))
    return _unit_rms(np.fft.irfft(spectrum, x.size))


def _coloured(n: int, rng: Rng, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``n`` samples of noise with the amplitude response ``gain``, at unit RMS."""
    n_fft = 1 << max(n - 1, 0).bit_length()  # a power of two: any n is as quick
    return _shaped(rng.standard_normal(n_fft), gain)[:n]


def _speech_spectrum(f: np.ndarray) -> np.ndarray:
    """Long-term speech spectrum, roughly: flat 150-500 Hz, then falling 6 dB per octave."""
    return (f / 150.0) ** 2 / (1.0 + (f / 150.0) ** 2) / np.sqrt(1.0 + (f / 500.0) ** 2)


def white_noise(n: int, rng: Rng) -> np.ndarray:
    """Gaussian white noise (hiss): ``n`` samples at unit RMS."""
    return _unit_rms(rng.standard_normal(n))


_BABBLE_TALKERS = 6  # beyond ~6 voices babble stops sounding like separate people
_SYLLABLE_S = (0.10, 0.30)  # syllable lengths: about 5 per second
_SPURT_SYLLABLES = (3, 15)  # syllables said between two pauses
_PAUSE_S = (0.15, 0.8)
_ENVELOPE_STEP = SAMPLE_RATE // 1000  # samples: envelopes are computed per millisecond


def _talker_envelope(n: int, rng: Rng) -> np.ndarray:
    """One talker's loudness over time: Hann-shaped syllables in spurts, pauses between."""
    lead = int(rng.uniform(0.0, 2.0) * SAMPLE_RATE)  # talkers start mid-sentence
    # Enough syllables to fill n samples even if every one is as short as can be.
    count = (n + lead) // int(_SYLLABLE_S[0] * SAMPLE_RATE) + 1
    lengths = (rng.uniform(*_SYLLABLE_S, count) * SAMPLE_RATE).astype(np.int64)
    spurts = rng.integers(*_SPURT_SYLLABLES, size=count, endpoint=True)
    first_of_spurt = np.zeros(count, dtype=bool)
    first_of_spurt[np.cumsum(spurts)[np.cumsum(spurts) < count]] = True
    gaps = np.where(first_of_spurt, rng.uniform(*_PAUSE_S, count) * SAMPLE_RATE, 0.0)
    starts = np.cumsum(gaps.astype(np.int64) + lengths) - lengths - lead
    amplitudes = rng.uniform(0.3, 1.0, count)
    # Worked out every millisecond and interpolated: a syllable lasts 100 ms or more.
    t = np.arange(0, n + _ENVELOPE_STEP, _ENVELOPE_STEP)
    which = np.maximum(np.searchsorted(starts, t, side="right") - 1, 0)
    into = t - starts[which]
    inside = (into >= 0) & (into < lengths[which])
    bumps = np.where(inside, amplitudes[which] * np.sin(np.pi * into / lengths[which]) ** 2, 0.0)
    envelope: np.ndarray = np.interp(np.arange(n), t, bumps)
    return envelope


def babble_noise(n: int, rng: Rng, talkers: int = _BABBLE_TALKERS) -> np.ndarray:
    """Several people talking at once, unintelligibly: ``n`` samples at unit RMS.

    Each talker is noise switched on and off by a syllable-rate envelope in
    talk spurts, at a level of its own (+-3 dB); the talkers overlap, so the
    sum rises and falls like a crowded room. The sum is given a speech
    spectrum once: the envelopes change at a few hertz, too slowly to move
    the spectrum, so shaping each talker apart would sound the same.
    """
    total = np.zeros(n)
    for _ in range(talkers):
        level = 10 ** (rng.uniform(-3.0, 3.0) / 20)
        total += level * rng.standard_normal(n) * _talker_envelope(n, rng)
    return _shaped(total, _speech_spectrum)


_RUMBLE_FLOOR_HZ = 20.0  # 1/f spectra are held flat below this (finite at 0 Hz)


def _pink(f: np.ndarray) -> np.ndarray:
    """Amplitude response of pink noise: 3 dB less power per octave."""
    gain: np.ndarray = 1.0 / np.sqrt(np.maximum(f, _RUMBLE_FLOOR_HZ))
    return gain


def _brown(f: np.ndarray) -> np.ndarray:
    """Amplitude response of brown noise: 6 dB less power per octave."""
    gain: np.ndarray = 1.0 / np.maximum(f, _RUMBLE_FLOOR_HZ)
    return gain


def _engine(f: np.ndarray) -> np.ndarray:
    """A passing vehicle: flat to 400 Hz, then falling 6 dB per octave."""
    gain: np.ndarray = 1.0 / np.sqrt(1.0 + (f / 400.0) ** 2)
    return gain


_VEHICLES_PER_S = 1 / 6.0  # a vehicle passes every six seconds on average
_PASS_S = (0.8, 2.0)  # how long a pass swells (the Gaussian's standard deviation)
_PASS_DB = (3.0, 12.0)  # how much louder than the street it peaks


def street_noise(n: int, rng: Rng) -> np.ndarray:
    """Traffic: pink and brown rumble, with vehicles passing as low-frequency swells.

    ``n`` samples at unit RMS. The swells are noise falling 6 dB per octave
    above 400 Hz (engine and tyre noise), most of it below 1 kHz, so some of
    each swell survives the telephone band.
    """
    if n == 0:
        return np.zeros(0)
    street = _coloured(n, rng, _pink) + 0.7 * _coloured(n, rng, _brown)
    swells = np.zeros(n)
    t = np.arange(n) / SAMPLE_RATE
    for _ in range(int(rng.poisson(_VEHICLES_PER_S * n / SAMPLE_RATE)) + 1):
        centre, width = rng.uniform(0, n / SAMPLE_RATE), rng.uniform(*_PASS_S)
        peak = 10 ** (rng.uniform(*_PASS_DB) / 20) - 1.0
        swells += peak * np.exp(-0.5 * ((t - centre) / width) ** 2)
    return _unit_rms(street + swells * _coloured(n, rng, _engine))


NOISE_KINDS: Mapping[str, NoiseGenerator] = MappingProxyType(
    {"white": white_noise, "babble": babble_noise, "street": street_noise}
)
"""The line noises by name."""


class _NoiseTape:
    """An endless band-limited noise stream at unit RMS, read in order, made block by block."""

    def __init__(self, generate: NoiseGenerator, rng: Rng) -> None:
        self._generate = generate
        self._rng = rng
        self._block = int(_NOISE_BLOCK_S * SAMPLE_RATE)
        self._fade = int(_CROSSFADE_S * SAMPLE_RATE)
        self._ready = np.zeros(0)  # generated, not yet read
        self._tail = np.zeros(0)  # the last block's overlap, faded into the next block

    def read(self, n: int) -> np.ndarray:
        parts, have = [self._ready], self._ready.size
        while have < n:
            block = _unit_rms(band_limit(self._generate(self._block + self._fade, self._rng)))
            if self._tail.size:  # equal power: the two noises are independent
                ramp = np.sin(np.linspace(0.0, math.pi / 2, self._fade))
                block[: self._fade] = block[: self._fade] * ramp + self._tail * ramp[::-1]
            parts.append(block[: self._block])
            self._tail = block[self._block :]
            have += self._block
        tape = np.concatenate(parts)
        self._ready = tape[n:]
        return tape[:n]


# -- SNR ------------------------------------------------------------------------------


def active_samples(speech: np.ndarray) -> np.ndarray:
    """Which samples belong to the speech's active part: a boolean mask.

    Whole 20 ms frames count, those within :data:`ACTIVE_RANGE_DB` of the
    loudest frame (so the level of the voice does not matter) and not
    digitally silent. A last partial frame is judged on what it has.
    """
    x = np.asarray(speech, dtype=np.float64)
    if x.size == 0:
        return np.zeros(0, dtype=bool)
    padded = np.zeros(-(-x.size // FRAME_SAMPLES) * FRAME_SAMPLES)
    padded[: x.size] = x
    frames = padded.reshape(-1, FRAME_SAMPLES)
    rms = np.sqrt(np.mean(np.square(frames), axis=1))
    threshold = max(float(rms.max()) * 10 ** (-ACTIVE_RANGE_DB / 20), _ACTIVE_FLOOR)
    return np.repeat(rms >= threshold, FRAME_SAMPLES)[: x.size]


def measure_snr_db(speech: np.ndarray, noise: np.ndarray) -> float:
    """The SNR of ``speech`` over ``noise`` in dB, over the speech's active samples.

    Args:
        speech: The speech alone.
        noise: The noise alone, as mixed with it (same length).

    Raises:
        ValueError: Different lengths, or the speech has no active part.
    """
    s, n = np.asarray(speech, dtype=np.float64), np.asarray(noise, dtype=np.float64)
    if s.shape != n.shape:
        raise ValueError(f"speech and noise differ in length: {s.shape} vs {n.shape}")
    active = active_samples(s)
    if not active.any():
        raise ValueError("the speech is silent: there is no active part to measure an SNR over")
    noise_energy = float(np.sum(np.square(n[active])))
    if noise_energy == 0.0:
        return math.inf
    return 10 * math.log10(float(np.sum(np.square(s[active]))) / noise_energy)


def _noise_gain(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> float:
    """The factor on ``noise`` that puts it ``snr_db`` under the speech's active part."""
    active = active_samples(speech)
    if not active.any():
        raise ValueError("the speech is silent: there is no active part to set an SNR against")
    speech_power = float(np.mean(np.square(speech[active])))
    noise_power = float(np.mean(np.square(noise[active])))
    if noise_power == 0.0:
        raise ValueError("the noise is silent where the speech is active")
    return math.sqrt(speech_power / noise_power * 10 ** (-snr_db / 10))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Add ``noise`` to ``speech``, scaled so the SNR over the speech's active part is ``snr_db``.

    Args:
        speech: The speech (any real dtype, 1-D).
        noise: At least as long as ``speech``; only its first ``len(speech)``
            samples are used.
        snr_db: The wanted SNR (see :func:`measure_snr_db`).

    Returns:
        A new float64 array, ``speech + gain * noise``, in the speech's units.

    Raises:
        ValueError: The noise is too short, or the speech has no active part.
    """
    s = np.asarray(speech, dtype=np.float64)
    if len(noise) < s.size:
        raise ValueError(f"the noise ({len(noise)} samples) is shorter than the speech ({s.size})")
    n = np.asarray(noise[: s.size], dtype=np.float64)
    return s + _noise_gain(s, n, snr_db) * n


# -- loss and jitter ------------------------------------------------------------------


class FrameLoss:
    """Which 20 ms frames the line loses: a two-state Gilbert-Elliott model.

    In the good state frames get through, in the bad state they are lost.
    From good the line turns bad with probability ``p``, from bad it
    recovers with ``r``; the long-run loss rate is ``p / (p + r)`` and the
    mean burst (run of lost frames) is ``1 / r`` frames. Independent losses
    are the case ``r = 1 - rate`` (then ``p = rate``): each frame is lost
    with probability ``rate`` whatever came before.

    Args:
        rate: Long-run fraction of frames lost, in [0, 1).
        burst_frames: Mean length of a burst of lost frames (>= 1); ``None``:
            independent losses (mean burst ``1 / (1 - rate)``).
        rng: The random generator (its own stream: see :class:`PhoneLine`).

    Raises:
        ValueError: The rate or burst length is out of range, or the pair
            is impossible (short bursts at a high rate need ``p > 1``).
    """

    def __init__(self, rate: float, burst_frames: float | None, rng: Rng) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"loss rate must be in [0, 1), got {rate}")
        if burst_frames is None:
            burst_frames = 1.0 / (1.0 - rate)
        if burst_frames < 1.0:
            raise ValueError(f"loss burst_frames is a mean run length >= 1, got {burst_frames}")
        self.rate = rate
        self.burst_frames = burst_frames
        self.recover = 1.0 / burst_frames  # r: bad -> good
        self.fail = rate * self.recover / (1.0 - rate)  # p: good -> bad, for rate p / (p + r)
        if self.fail > 1.0:
            raise ValueError(
                f"a loss rate of {rate} cannot come in bursts as short as {burst_frames} frames "
                f"(needs at least {rate / (1.0 - rate):.2f})"
            )
        self._rng = rng
        self._bad = bool(rng.random() < rate)  # start in the long-run mix of states

    def lost(self, n_frames: int) -> np.ndarray:
        """Whether each of the next ``n_frames`` frames is lost (the state carries on)."""
        draws = self._rng.random(n_frames)
        lost = np.zeros(n_frames, dtype=bool)
        if self.rate == 0.0:
            return lost
        bad, fail, recover = self._bad, self.fail, self.recover
        for i, draw in enumerate(draws.tolist()):
            bad = draw >= recover if bad else draw < fail
            lost[i] = bad
        self._bad = bad
        return lost


class SendJitter:
    """Per-frame send delays: each frame up to ``jitter_ms`` late, never overtaking.

    Each frame's raw delay is uniform in ``[0, jitter_ms]``; a frame whose
    raw delay would send it before the frame ahead of it waits for that
    frame instead (the line is one WebSocket, in order). Delays stay within
    ``[0, jitter_ms]``.

    Args:
        jitter_ms: The largest delay, in ms (>= 0).
        rng: The random generator (its own stream: see :class:`PhoneLine`).

    Raises:
        ValueError: ``jitter_ms`` is negative.
    """

    def __init__(self, jitter_ms: float, rng: Rng) -> None:
        if not jitter_ms >= 0.0:
            raise ValueError(f"jitter_ms must be >= 0, got {jitter_ms}")
        self.jitter_ms = jitter_ms
        self._rng = rng
        self._last_ms = 0.0  # the previous frame's delay

    def delays(self, n_frames: int) -> np.ndarray:
        """Send delays in ms for the next ``n_frames`` frames (float64, continuing on)."""
        if self.jitter_ms == 0.0 or n_frames == 0:
            return np.zeros(n_frames)
        slots = np.arange(1, n_frames + 1) * float(FRAME_MS)  # after the previous frame's slot
        raw = self._rng.uniform(0.0, self.jitter_ms, n_frames)
        send = np.maximum.accumulate(np.maximum(slots + raw, self._last_ms))
        delays: np.ndarray = send - slots
        self._last_ms = float(delays[-1])
        return delays


# -- the line -------------------------------------------------------------------------


class PhoneLine:
    """One call's phone line, from the caller's voice to the frames the server receives.

    The line keeps state through the call (where the noise is, the loss
    model's state, the last delay), so use one per simulated call. The
    defaults are a clean line: band limit and mu-law only.

    Args:
        noise: ``"white"``, ``"babble"`` or ``"street"`` (:data:`NOISE_KINDS`);
            ``None`` or ``""``: none.
        snr_db: The SNR of each utterance over the noise (needed with ``noise``).
        loss: Long-run fraction of 20 ms frames lost, in [0, 1).
        burst_frames: Mean length of a burst of lost frames; ``None``: independent losses.
        jitter_ms: Largest send delay of a frame (see :meth:`send_delays`).
        seed: Seeds noise, loss and jitter (each its own stream); the same
            seed and inputs give the same frames and delays.

    Raises:
        ValueError: An unknown noise, a noise without an SNR (or the
            reverse), or loss or jitter out of range.
    """

    def __init__(
        self,
        *,
        noise: str | None = None,
        snr_db: float | None = None,
        loss: float = 0.0,
        burst_frames: float | None = None,
        jitter_ms: float = 0.0,
        seed: int = 0,
    ) -> None:
        noise = noise or None  # a scenario writes "" for none
        if noise is not None and noise not in NOISE_KINDS:
            raise ValueError(f"unknown line noise {noise!r}; known: {', '.join(NOISE_KINDS)}")
        if (noise is None) != (snr_db is None):
            raise ValueError("a line noise needs an snr_db, and an snr_db needs a noise")
        noise_rng, loss_rng, jitter_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
        )
        self.noise = noise
        self.snr_db = snr_db
        self.seed = seed
        self._tape = None if noise is None else _NoiseTape(NOISE_KINDS[noise], noise_rng)
        self._loss = FrameLoss(loss, burst_frames, loss_rng)
        self._jitter = SendJitter(jitter_ms, jitter_rng)
        # The noise's level between utterances: the last utterance's, at first nominal.
        nominal = 10 ** (NOMINAL_SPEECH_DBFS / 20)
        self._noise_rms = 0.0 if snr_db is None else nominal * 10 ** (-snr_db / 20)

    @classmethod
    def clean(cls) -> PhoneLine:
        """A line that only band-limits and mu-law codes: the best a phone call gets."""
        return cls()

    def __repr__(self) -> str:
        return (
            f"PhoneLine(noise={self.noise!r}, snr_db={self.snr_db}, loss={self._loss.rate}, "
            f"burst_frames={self._loss.burst_frames:.3g}, jitter_ms={self._jitter.jitter_ms}, "
            f"seed={self.seed})"
        )

    def degrade(self, audio: bytes | bytearray | memoryview | np.ndarray) -> list[bytes]:
        """Put one utterance through the line.

        Args:
            audio: 8 kHz mu-law bytes (a TTS's output) or PCM16 (``numpy.int16``).

        Returns:
            160-byte mu-law frames, one per 20 ms of input (the last padded),
            so frame ``i`` carries input frame ``i``: where the speech ends
            can be found on the clean audio. Lost frames are silence.

        Raises:
            TypeError: ``audio`` is an array but not int16.
        """
        if isinstance(audio, np.ndarray):
            if audio.dtype != np.int16:
                raise TypeError(
                    f"PhoneLine.degrade takes mu-law bytes or int16 PCM, got {audio.dtype}"
                )
            pcm = audio.reshape(-1)
        else:
            pcm = ulaw_to_pcm(audio)
        n = -(-pcm.size // FRAME_SAMPLES) * FRAME_SAMPLES
        speech = np.zeros(n)
        speech[: pcm.size] = pcm16_to_float(pcm)
        speech = band_limit(speech)
        mixed = speech
        if self._tape is not None and self.snr_db is not None:
            noise = self._tape.read(n)
            if active_samples(speech).any():
                gain = _noise_gain(speech, noise, self.snr_db)
            else:  # nothing said: the line's noise as it was
                gain = self._noise_rms
            mixed = speech + gain * noise
            peak = float(np.abs(mixed).max())
            scale = _HEADROOM / peak if peak > _HEADROOM else 1.0
            mixed *= scale
            self._noise_rms = gain * scale
        return self._frames(mixed)

    def silence(self, n_frames: int) -> list[bytes]:
        """What the line carries while the caller says nothing: its noise, or silence.

        The noise continues where the last utterance left it, at that
        utterance's noise level (before any, at the level set for speech at
        :data:`NOMINAL_SPEECH_DBFS`); frames are lost as in :meth:`degrade`.
        """
        n = n_frames * FRAME_SAMPLES
        if self._tape is None:
            return self._frames(np.zeros(n))
        return self._frames(self._noise_rms * self._tape.read(n))

    def send_delays(self, n_frames: int) -> list[float]:
        """How late (ms) to send each of the next ``n_frames`` frames after its 20 ms slot.

        Non-negative, at most ``jitter_ms``, and order-preserving: frame
        ``i + 1`` is never sent before frame ``i``. All zero without jitter.
        """
        delays: list[float] = self._jitter.delays(n_frames).tolist()
        return delays

    def _frames(self, x: np.ndarray) -> list[bytes]:
        """Mu-law code whole frames and apply the loss model."""
        ulaw = pcm_to_ulaw(float_to_pcm16(x))
        frames = [ulaw[i : i + FRAME_BYTES] for i in range(0, len(ulaw), FRAME_BYTES)]
        silent = bytes([ULAW_SILENCE]) * FRAME_BYTES
        for i in np.flatnonzero(self._loss.lost(len(frames))).tolist():
            frames[i] = silent
        return frames
