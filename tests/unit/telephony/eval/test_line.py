"""The simulated phone line: SNR, telephone band, mu-law framing, loss, jitter, determinism.

The caller's speech here is made with numpy (a voiced buzz in syllables with
pauses between words), so the line is tested without a speech engine.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from telephony.eval.line import (
    BAND_HIGH_HZ,
    BAND_LOW_HZ,
    NOISE_KINDS,
    FrameLoss,
    PhoneLine,
    SendJitter,
    active_samples,
    band_limit,
    measure_snr_db,
    mix_at_snr,
)
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

SILENT_FRAME = bytes([ULAW_SILENCE]) * FRAME_BYTES


def speech_like(seconds: float = 3.0, seed: int = 1) -> np.ndarray:
    """PCM16 that has what the line cares about in speech: voiced syllables and pauses.

    A 120 Hz buzz (harmonics up to 3.5 kHz, falling 6 dB per octave) switched
    on in 150 ms syllables, 4 per word, with 300 ms pauses; peak about -6 dBFS.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    buzz = sum(np.sin(2 * np.pi * 120 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 29))
    syllable = int(0.15 * SAMPLE_RATE)
    envelope = np.zeros(t.size)
    start = int(0.2 * SAMPLE_RATE)
    while start + syllable < t.size:
        for _ in range(4):
            if start + syllable >= t.size:
                break
            envelope[start : start + syllable] = np.hanning(syllable) * rng.uniform(0.5, 1.0)
            start += syllable
        start += int(0.3 * SAMPLE_RATE)
    audio = buzz * envelope
    return float_to_pcm16(0.5 * audio / np.abs(audio).max())


def decoded(frames: list[bytes]) -> np.ndarray:
    """The line's frames as the server decodes them: float, full scale 1.0."""
    return pcm16_to_float(ulaw_to_pcm(b"".join(frames))).astype(np.float64)


def tone(hz: float, seconds: float = 1.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return float_to_pcm16(level * np.sin(2 * np.pi * hz * t))


def rms(x: np.ndarray) -> float:
    return math.sqrt(float(np.mean(np.square(np.asarray(x, dtype=np.float64)))))


# -- SNR ---------------------------------------------------------------------------


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
@pytest.mark.parametrize("noise", sorted(NOISE_KINDS))
def test_output_snr_is_the_asked_snr(noise: str, snr_db: float) -> None:
    speech = speech_like()
    clean = decoded(PhoneLine.clean().degrade(speech))  # the speech as the line carries it
    noisy = decoded(PhoneLine(noise=noise, snr_db=snr_db, seed=7).degrade(speech))

    measured = measure_snr_db(clean, noisy - clean)
    assert measured == pytest.approx(snr_db, abs=0.5), f"{noise} at {snr_db} dB: {measured:.2f}"


def test_snr_counts_only_the_active_part_of_the_speech() -> None:
    speech = speech_like()
    padded = np.concatenate([np.zeros(3 * SAMPLE_RATE, dtype=np.int16), speech])
    clean = decoded(PhoneLine.clean().degrade(padded))
    noisy = decoded(PhoneLine(noise="white", snr_db=10.0).degrade(padded))

    # Three seconds of silence before the speech do not lower the SNR the caller gets.
    assert measure_snr_db(clean, noisy - clean) == pytest.approx(10.0, abs=0.5)
    active = active_samples(clean)
    assert not active[: 3 * SAMPLE_RATE].any()
    assert active[3 * SAMPLE_RATE :].mean() > 0.5


def test_mix_at_snr_and_measure_agree() -> None:
    rng = np.random.default_rng(3)
    speech = speech_like().astype(np.float64)
    noise = rng.standard_normal(speech.size + 100)
    mixed = mix_at_snr(speech, noise, 6.0)
    assert mixed.size == speech.size
    assert measure_snr_db(speech, mixed - speech) == pytest.approx(6.0, abs=1e-9)


def test_snr_of_silent_speech_is_refused() -> None:
    with pytest.raises(ValueError, match="silent"):
        mix_at_snr(np.zeros(800), np.ones(800), 10.0)
    with pytest.raises(ValueError, match="shorter"):
        mix_at_snr(speech_like(), np.ones(10), 10.0)


# -- the telephone band --------------------------------------------------------------


@pytest.mark.parametrize(
    ("hz", "lowest_db", "highest_db"),
    [
        (100.0, -math.inf, -20.0),
        (BAND_LOW_HZ, -1.0, 1.0),
        (1000.0, -1.0, 1.0),
        (BAND_HIGH_HZ, -1.0, 1.0),
        (3800.0, -math.inf, -20.0),
    ],
)
def test_the_line_carries_the_telephone_band_only(
    hz: float, lowest_db: float, highest_db: float
) -> None:
    sent = tone(hz)
    received = decoded(PhoneLine.clean().degrade(sent))
    middle = slice(SAMPLE_RATE // 4, -SAMPLE_RATE // 4)  # away from the edges of the tone
    gain_db = 20 * math.log10(rms(received[middle]) / rms(pcm16_to_float(sent)[middle]))
    assert lowest_db < gain_db < highest_db, f"{hz} Hz: {gain_db:.1f} dB"


def test_band_limit_does_not_delay_the_audio() -> None:
    click = np.zeros(1000)
    click[500] = 1.0
    response = band_limit(click)
    assert response.size == click.size
    assert int(np.argmax(np.abs(response))) == 500


# -- framing -------------------------------------------------------------------------


def test_a_clean_line_gives_one_frame_per_20_ms_lined_up_with_the_input() -> None:
    speech = speech_like(seconds=1.01)  # 50.5 frames
    frames = PhoneLine.clean().degrade(pcm_to_ulaw(speech))

    assert len(frames) == 51
    assert all(len(frame) == FRAME_BYTES for frame in frames)
    received = decoded(frames)[: speech.size]
    sent = band_limit(pcm16_to_float(speech))
    # Only mu-law's rounding differs: about 38 dB below the speech.
    assert measure_snr_db(sent, received - sent) > 30.0
    assert received[speech.size :].size == 0


def test_degrade_takes_pcm16_or_mulaw_and_refuses_float() -> None:
    speech = speech_like(seconds=0.5)
    from_pcm = PhoneLine.clean().degrade(speech)
    from_ulaw = PhoneLine.clean().degrade(pcm_to_ulaw(speech))
    assert len(from_pcm) == len(from_ulaw) == 25
    with pytest.raises(TypeError, match="int16"):
        PhoneLine.clean().degrade(speech.astype(np.float32))


def test_clean_silence_is_digital_silence() -> None:
    assert PhoneLine.clean().silence(5) == [SILENT_FRAME] * 5


def test_line_noise_goes_on_between_utterances_at_the_same_level() -> None:
    line = PhoneLine(noise="babble", snr_db=10.0, seed=2)
    speech = speech_like()
    noisy = decoded(line.degrade(speech))
    noise_in_speech = noisy - decoded(PhoneLine.clean().degrade(speech))
    between = decoded(line.silence(250))  # five seconds of the caller saying nothing

    assert 20 * math.log10(rms(between) / rms(noise_in_speech)) == pytest.approx(0.0, abs=2.0)


def test_noise_before_any_speech_is_set_from_the_nominal_speech_level() -> None:
    quiet = decoded(PhoneLine(noise="white", snr_db=30.0).silence(100))
    loud = decoded(PhoneLine(noise="white", snr_db=10.0).silence(100))
    assert 20 * math.log10(rms(loud) / rms(quiet)) == pytest.approx(20.0, abs=0.5)


def test_a_mix_that_would_clip_is_scaled_down_whole() -> None:
    speech = pcm16_to_float(speech_like())
    loud = float_to_pcm16(
        speech * 0.9 / np.abs(band_limit(speech)).max()
    )  # peaks at 0.9 on the line
    clean = decoded(PhoneLine.clean().degrade(loud))
    noisy = decoded(PhoneLine(noise="white", snr_db=0.0).degrade(loud))

    assert np.abs(noisy).max() < 0.97  # not clipped: the mix was turned down ...
    scale = float(np.dot(noisy, clean) / np.dot(clean, clean))  # (the noise is uncorrelated)
    assert 0.3 < scale < 0.9
    speech = scale * clean  # ... speech and noise alike, so the SNR is as asked
    assert measure_snr_db(speech, noisy - speech) == pytest.approx(0.0, abs=0.5)


# -- noises --------------------------------------------------------------------------


def _band_share(x: np.ndarray, low: float, high: float) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1.0 / SAMPLE_RATE)
    return float(power[(f >= low) & (f < high)].sum() / power.sum())


def _frame_levels_db(x: np.ndarray) -> np.ndarray:
    frames = x[: x.size // FRAME_SAMPLES * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
    return 10 * np.log10(np.mean(np.square(frames), axis=1) + 1e-12)


@pytest.mark.parametrize("noise", sorted(NOISE_KINDS))
def test_every_noise_is_unit_rms_and_seeded(noise: str) -> None:
    make = NOISE_KINDS[noise]
    first = make(5 * SAMPLE_RATE, np.random.default_rng(4))
    again = make(5 * SAMPLE_RATE, np.random.default_rng(4))
    other = make(5 * SAMPLE_RATE, np.random.default_rng(5))
    assert rms(first) == pytest.approx(1.0)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_the_noises_sound_different() -> None:
    n = 20 * SAMPLE_RATE
    white, babble, street = (NOISE_KINDS[k](n, np.random.default_rng(6)) for k in NOISE_KINDS)

    # Babble has a speech spectrum (most power below 1 kHz) and rises and falls
    # with syllables; white is flat and steady; street is mostly rumble.
    assert _band_share(babble, 100, 1000) > 0.6
    assert _band_share(white, 100, 1000) == pytest.approx(0.225, abs=0.02)
    assert _band_share(street, 0, 300) > 0.5
    assert np.std(_frame_levels_db(babble)) > 3 * np.std(_frame_levels_db(white))


def test_street_noise_has_passing_vehicles() -> None:
    street = NOISE_KINDS["street"](60 * SAMPLE_RATE, np.random.default_rng(8))
    # One-second levels swing as vehicles pass; steady rumble alone would not.
    seconds = street.reshape(-1, SAMPLE_RATE)
    levels = 10 * np.log10(np.mean(np.square(seconds), axis=1))
    assert levels.max() - levels.min() > 3.0


# -- loss ----------------------------------------------------------------------------


def _runs(lost: np.ndarray) -> list[int]:
    return [len(list(group)) for value, group in itertools.groupby(lost.tolist()) if value]


@pytest.mark.parametrize(
    ("rate", "burst", "mean_burst"),
    [(0.02, None, 1 / 0.98), (0.05, None, 1 / 0.95), (0.05, 3.0, 3.0), (0.1, 5.0, 5.0)],
)
def test_loss_rate_and_burst_length_are_as_asked(
    rate: float, burst: float | None, mean_burst: float
) -> None:
    lost = FrameLoss(rate, burst, np.random.default_rng(11)).lost(10_000)
    assert lost.mean() == pytest.approx(rate, abs=0.25 * rate)
    assert float(np.mean(_runs(lost))) == pytest.approx(mean_burst, rel=0.2)


def test_loss_state_carries_on_between_calls() -> None:
    whole = FrameLoss(0.1, 4.0, np.random.default_rng(12)).lost(2000)
    loss = FrameLoss(0.1, 4.0, np.random.default_rng(12))
    pieces = np.concatenate([loss.lost(700), loss.lost(1300)])
    assert np.array_equal(whole, pieces)


def test_lost_frames_arrive_as_silence() -> None:
    line = PhoneLine(noise="white", snr_db=20.0, loss=0.05, burst_frames=2.0, seed=3)
    frames = line.silence(10_000)  # noise: no frame is silent unless lost
    silent = np.array([frame == SILENT_FRAME for frame in frames])
    assert silent.mean() == pytest.approx(0.05, abs=0.0125)
    assert float(np.mean(_runs(silent))) == pytest.approx(2.0, rel=0.2)


def test_no_loss_loses_nothing() -> None:
    line = PhoneLine(noise="white", snr_db=20.0)
    assert SILENT_FRAME not in line.silence(5000)


@pytest.mark.parametrize(
    ("rate", "burst", "message"),
    [(1.0, None, r"\[0, 1\)"), (-0.1, None, r"\[0, 1\)"), (0.1, 0.5, ">= 1"), (0.6, 1.0, "0.6")],
)
def test_impossible_loss_is_refused(rate: float, burst: float | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FrameLoss(rate, burst, np.random.default_rng(0))


# -- jitter --------------------------------------------------------------------------


@pytest.mark.parametrize("jitter_ms", [5.0, 40.0, 150.0])
def test_jitter_delays_are_bounded_and_keep_frames_in_order(jitter_ms: float) -> None:
    line = PhoneLine(jitter_ms=jitter_ms, seed=4)
    delays = np.array(line.send_delays(3000) + line.send_delays(2000))
    send_times = np.arange(delays.size) * FRAME_MS + delays

    assert delays.min() >= 0.0
    assert delays.max() <= jitter_ms
    assert np.all(np.diff(send_times) >= 0.0)
    assert delays.std() > jitter_ms / 10  # it does jitter


def test_no_jitter_sends_every_frame_on_time() -> None:
    assert PhoneLine.clean().send_delays(10) == [0.0] * 10
    with pytest.raises(ValueError, match="jitter_ms"):
        SendJitter(-1.0, np.random.default_rng(0))


# -- the line as a whole ---------------------------------------------------------------


def _call(seed: int) -> tuple[list[bytes], list[bytes], list[float]]:
    line = PhoneLine(
        noise="babble", snr_db=10.0, loss=0.05, burst_frames=3.0, jitter_ms=40.0, seed=seed
    )
    return line.degrade(speech_like()), line.silence(100), line.send_delays(100)


def test_the_same_seed_gives_the_same_call() -> None:
    assert _call(5) == _call(5)
    frames, silence, delays = _call(6)
    other_frames, other_silence, other_delays = _call(5)
    assert frames != other_frames
    assert silence != other_silence
    assert delays != other_delays


def test_noise_loss_and_jitter_draw_from_their_own_streams() -> None:
    # Adding loss and jitter to a line leaves its noise as it was.
    speech = speech_like()
    plain = decoded(PhoneLine(noise="street", snr_db=5.0, seed=9).degrade(speech))
    line = PhoneLine(noise="street", snr_db=5.0, loss=0.1, jitter_ms=30.0, seed=9)
    line.send_delays(50)
    frames = line.degrade(speech)
    kept = np.repeat([frame != SILENT_FRAME for frame in frames], FRAME_SAMPLES)
    assert np.array_equal(decoded(frames)[kept], plain[kept])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"noise": "rain", "snr_db": 10.0}, "known: white, babble, street"),
        ({"noise": "white"}, "needs an snr_db"),
        ({"snr_db": 10.0}, "needs a noise"),
        ({"loss": 1.5}, r"\[0, 1\)"),
        ({"jitter_ms": -5.0}, "jitter_ms"),
    ],
)
def test_a_bad_line_is_refused_with_the_reason(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PhoneLine(**options)  # type: ignore[arg-type]


def test_empty_noise_name_means_a_clean_line() -> None:
    line = PhoneLine(noise="", snr_db=None)
    assert line.noise is None
    assert line.silence(3) == [SILENT_FRAME] * 3
