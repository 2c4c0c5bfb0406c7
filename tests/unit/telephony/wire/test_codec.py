"""Tests for telephony.wire.codec: G.711 bit exactness, resampling, framing, levels."""

from __future__ import annotations

import numpy as np
import pytest

from telephony.wire.codec import (
    FRAME_BYTES,
    FRAME_MS,
    FRAME_SAMPLES,
    PCM_TO_ULAW,
    SAMPLE_RATE,
    SILENCE_DBFS,
    ULAW_SILENCE,
    ULAW_TO_PCM,
    FrameSplitter,
    Rebuffer,
    Resampler,
    duration_ms,
    float_to_pcm16,
    pcm16_to_float,
    pcm_to_ulaw,
    rms_dbfs,
    ulaw_silence,
    ulaw_to_pcm,
)

ALL_PCM16 = np.arange(65536, dtype=np.uint16).view(np.int16)  # every int16, table order
ALL_ULAW = bytes(range(256))
ULAW_MAX_DECODED = 32124  # largest magnitude a mu-law code decodes to


def sine(freq_hz: float, seconds: float, rate: int, amplitude: float) -> np.ndarray:
    """int16 sine at ``amplitude`` (fraction of full scale)."""
    t = np.arange(round(seconds * rate)) / rate
    return float_to_pcm16(amplitude * np.sin(2 * np.pi * freq_hz * t))


def peak_hz(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(pcm.size)))
    return float(np.fft.rfftfreq(pcm.size, 1 / rate)[np.argmax(spectrum)])


def resample_all(resampler: Resampler, pcm: np.ndarray, chunk_sizes: list[int]) -> np.ndarray:
    """Feed ``pcm`` in the given chunk sizes (cycled), then flush; return everything."""
    out, start, i = [], 0, 0
    while start < pcm.size:
        size = chunk_sizes[i % len(chunk_sizes)]
        out.append(resampler.process(pcm[start : start + size]))
        start += size
        i += 1
    out.append(resampler.flush())
    return np.concatenate(out)


# --- constants -------------------------------------------------------------


def test_frame_constants_match_twilio_media_streams():
    assert (SAMPLE_RATE, FRAME_MS, FRAME_SAMPLES, FRAME_BYTES) == (8000, 20, 160, 160)


def test_tables_have_documented_shape_dtype_and_are_read_only():
    assert ULAW_TO_PCM.shape == (256,) and ULAW_TO_PCM.dtype == np.int16
    assert PCM_TO_ULAW.shape == (65536,) and PCM_TO_ULAW.dtype == np.uint8
    with pytest.raises(ValueError):
        ULAW_TO_PCM[0] = 1
    with pytest.raises(ValueError):
        PCM_TO_ULAW[0] = 1


@pytest.mark.parametrize("code", [0xFF, 0x7F])
def test_both_zero_codes_decode_to_zero(code):
    assert ulaw_to_pcm(bytes([code])).tolist() == [0]


def test_silence_is_what_an_encoder_makes_of_zero():
    assert ULAW_SILENCE == 0xFF
    assert pcm_to_ulaw(np.zeros(FRAME_SAMPLES, np.int16)) == bytes([ULAW_SILENCE]) * FRAME_BYTES


@pytest.mark.parametrize(
    ("ms", "expected_len"),
    [(0, 0), (1, 8), (FRAME_MS, FRAME_BYTES), (1000, 8000)],
)
def test_ulaw_silence_length_and_content(ms, expected_len):
    silence = ulaw_silence(ms)
    assert len(silence) == expected_len
    assert set(silence) <= {ULAW_SILENCE}
    assert duration_ms(len(silence)) == ms


@pytest.mark.parametrize(("num_bytes", "ms"), [(0, 0.0), (1, 0.125), (160, 20.0), (8000, 1000.0)])
def test_duration_ms(num_bytes, ms):
    assert duration_ms(num_bytes) == ms


@pytest.mark.parametrize("bad", [lambda: ulaw_silence(-1), lambda: duration_ms(-1)])
def test_negative_durations_are_rejected(bad):
    with pytest.raises(ValueError):
        bad()


# --- G.711 bit exactness against the reference ------------------------------


def test_encode_is_bit_exact_with_audioop_for_all_65536_samples():
    audioop = pytest.importorskip("audioop")
    reference = audioop.lin2ulaw(ALL_PCM16.tobytes(), 2)
    assert pcm_to_ulaw(ALL_PCM16) == reference
    assert pcm_to_ulaw(ALL_PCM16.astype("<i2").tobytes()) == reference  # bytes input path


def test_decode_is_bit_exact_with_audioop_for_all_256_codes():
    audioop = pytest.importorskip("audioop")
    reference = np.frombuffer(audioop.ulaw2lin(ALL_ULAW, 2), dtype=np.int16)
    np.testing.assert_array_equal(ulaw_to_pcm(ALL_ULAW), reference)


@pytest.mark.parametrize(
    ("sample", "code"),
    [  # spot values from the G.711 tables, valid without audioop
        (0, 0xFF),
        (-1, 0x7E),  # negatives are truncated to 14 bits first: -1 is -4
        (1, 0xFF),
        (32767, 0x80),
        (-32768, 0x00),
        (32124, 0x80),
        (-32124, 0x00),
        (132, 0xEF),
    ],
)
def test_encode_known_values(sample, code):
    assert pcm_to_ulaw(np.array([sample], np.int16)) == bytes([code])


def test_decoded_values_are_fixed_points_of_encode():
    codes = np.frombuffer(pcm_to_ulaw(ULAW_TO_PCM), np.uint8)
    expected = np.arange(256, dtype=np.uint8)
    expected[0x7F] = 0xFF  # -0 re-encodes as +0
    np.testing.assert_array_equal(codes, expected)


def test_round_trip_error_is_within_mu_law_quantisation():
    decoded = ulaw_to_pcm(pcm_to_ulaw(ALL_PCM16)).astype(np.int32)
    original = ALL_PCM16.astype(np.int32)
    error = np.abs(decoded - original)
    in_range = np.abs(original) <= ULAW_MAX_DECODED
    # Half a step of the landing segment (step = (|y| + bias) / 16) plus the 2 dropped bits.
    bound = (np.abs(decoded) + 0x84) / 32 + 3
    assert np.all(error[in_range] <= bound[in_range])
    np.testing.assert_array_equal(
        decoded[~in_range], np.sign(original[~in_range]) * ULAW_MAX_DECODED
    )


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_decode_accepts_bytes_like(kind):
    pcm = ulaw_to_pcm(kind(ALL_ULAW))
    assert pcm.dtype == np.int16 and pcm.shape == (256,) and pcm.flags.writeable
    np.testing.assert_array_equal(pcm, ULAW_TO_PCM)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_encode_accepts_little_endian_bytes_like(kind):
    pcm = np.array([0, 1000, -1000, 32767], dtype="<i2")
    assert pcm_to_ulaw(kind(pcm.tobytes())) == pcm_to_ulaw(pcm.astype(np.int16))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.uint16, ">i2"])
def test_encode_rejects_non_int16_arrays_instead_of_reinterpreting(dtype):
    with pytest.raises(TypeError, match="int16"):
        pcm_to_ulaw(np.zeros(FRAME_SAMPLES, dtype=dtype))


def test_encode_rejects_half_samples():
    with pytest.raises(ValueError, match="odd"):
        pcm_to_ulaw(b"\x00\x01\x02")


def test_encode_of_non_contiguous_view_reads_the_viewed_samples():
    pcm = np.arange(-100, 100, dtype=np.int16)
    assert pcm_to_ulaw(pcm[::2]) == pcm_to_ulaw(pcm[::2].copy())


# --- float conversion --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "gain", "expected"),
    [
        (0.0, 1.0, 0),
        (0.5, 1.0, 16384),
        (-0.5, 1.0, -16384),
        (1.0, 1.0, 32767),  # clipped, not wrapped
        (-1.0, 1.0, -32768),
        (3.0, 1.0, 32767),
        (-3.0, 1.0, -32768),
        (1.0, 0.5, 16384),
        (0.5, 4.0, 32767),
        (float("nan"), 1.0, 0),
        (float("inf"), 1.0, 32767),
        (float("-inf"), 1.0, -32768),
    ],
)
def test_float_to_pcm16(value, gain, expected):
    out = float_to_pcm16(np.array([value], np.float32), gain=gain)
    assert out.dtype == np.int16
    assert out.tolist() == [expected]


def test_pcm16_to_float_and_back_is_exact_for_every_sample():
    as_float = pcm16_to_float(ALL_PCM16)
    assert as_float.dtype == np.float32
    assert as_float.min() == -1.0 and as_float.max() < 1.0
    np.testing.assert_array_equal(float_to_pcm16(as_float), ALL_PCM16)


# --- resampler ----------------------------------------------------------------


def test_resampler_8k_16k_8k_keeps_frequency_and_level():
    tone = sine(440, 2.0, SAMPLE_RATE, 0.5)
    up = resample_all(Resampler(8000, 16000), tone, [FRAME_SAMPLES])
    back = resample_all(Resampler(16000, 8000), up, [2 * FRAME_SAMPLES])

    assert up.dtype == np.int16 and back.dtype == np.int16
    assert abs(peak_hz(up, 16000) - 440) <= 1.0
    assert abs(peak_hz(back, 8000) - 440) <= 1.0
    assert abs(rms_dbfs(up[1600:-1600]) - rms_dbfs(tone)) < 0.05
    assert back.size == tone.size
    # Away from the edges the round trip is the signal again, within a few LSB.
    middle = slice(400, -400)
    assert np.abs(back[middle].astype(np.int32) - tone[middle]).max() <= 4


@pytest.mark.parametrize("quality", ["QQ", "LQ", "HQ", "VHQ"])
@pytest.mark.parametrize("chunks", [[1], [7, 333, 2], [160], [161, 159, 1000]])
def test_resampler_streaming_in_any_chunks_equals_one_shot(quality, chunks):
    speechlike = sine(300, 0.5, 22050, 0.3) + sine(2500, 0.5, 22050, 0.2)
    one_shot = resample_all(Resampler(22050, 8000, quality=quality), speechlike, [speechlike.size])
    streamed = resample_all(Resampler(22050, 8000, quality=quality), speechlike, chunks)
    np.testing.assert_array_equal(streamed, one_shot)


@pytest.mark.parametrize(
    ("in_rate", "out_rate"),
    [(8000, 16000), (16000, 8000), (22050, 8000), (24000, 8000), (8000, 24000), (44100, 16000)],
)
def test_resampler_flush_returns_the_tail(in_rate, out_rate):
    pcm = sine(440, 1.0, in_rate, 0.3)[: in_rate - 13]
    resampler = Resampler(in_rate, out_rate)
    body = np.concatenate([resampler.process(pcm[i : i + 320]) for i in range(0, pcm.size, 320)])
    tail = resampler.flush()
    assert tail.size > 0
    assert abs(body.size + tail.size - pcm.size * out_rate / in_rate) <= 1


def test_resampler_may_hold_output_back_early():
    resampler = Resampler(8000, 16000)
    first = resampler.process(np.zeros(FRAME_SAMPLES, np.int16))
    assert first.dtype == np.int16 and first.size < 2 * FRAME_SAMPLES


def test_resampler_is_reusable_after_flush_and_reset():
    pcm = sine(440, 0.3, 8000, 0.5)
    resampler = Resampler(8000, 16000)
    first = resample_all(resampler, pcm, [FRAME_SAMPLES])
    second = resample_all(resampler, pcm, [FRAME_SAMPLES])  # flush started a new stream
    np.testing.assert_array_equal(first, second)

    resampler.process(sine(1000, 0.5, 8000, 0.9))  # half a stream, then abandoned
    resampler.reset()
    np.testing.assert_array_equal(resample_all(resampler, pcm, [FRAME_SAMPLES]), first)


def test_resampler_clips_filter_overshoot_instead_of_wrapping():
    square = np.tile(np.r_[np.full(20, 32767), np.full(20, -32768)].astype(np.int16), 200)
    out = resample_all(Resampler(8000, 16000), square, [square.size])
    assert out.max() == 32767 and out.min() == -32768
    assert np.all(np.abs(np.diff(out.astype(np.int32))) < 40000)  # no sign flips from wrapping


def test_resampler_equal_rates_pass_through():
    resampler = Resampler(8000, 8000)
    pcm = sine(440, 0.1, 8000, 0.5)
    out = resampler.process(pcm)
    np.testing.assert_array_equal(out, pcm)
    assert out is not pcm
    assert resampler.flush().size == 0


def test_resampler_accepts_empty_and_read_only_input():
    resampler = Resampler(8000, 16000)
    assert resampler.process(np.zeros(0, np.int16)).size == 0
    read_only = ulaw_to_pcm(ulaw_silence(100))
    read_only.setflags(write=False)
    resampler.process(read_only)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((0, 8000), {}), ((8000, -1), {}), ((8000.0, 16000), {}), ((8000, 16000), {"quality": "XQ"})],
)
def test_resampler_rejects_bad_config(args, kwargs):
    with pytest.raises(ValueError):
        Resampler(*args, **kwargs)


def test_resampler_rejects_float_and_stereo_input():
    resampler = Resampler(8000, 16000)
    with pytest.raises(TypeError):
        resampler.process(np.zeros(160, np.float32))
    with pytest.raises(ValueError):
        resampler.process(np.zeros((160, 2), np.int16))


# --- frame splitter -------------------------------------------------------------


@pytest.mark.parametrize(
    ("feeds", "frame_counts", "pending"),
    [
        ([160], [1], 0),
        ([100, 60], [0, 1], 0),
        ([100, 100], [0, 1], 40),
        ([480], [3], 0),
        ([1, 159, 159, 1], [0, 1, 0, 1], 0),
        ([0], [0], 0),
        ([1000], [6], 40),
    ],
)
def test_frame_splitter_cuts_exact_frames_in_order(feeds, frame_counts, pending):
    stream = (np.arange(sum(feeds)) % 251).astype(np.uint8).tobytes()
    splitter = FrameSplitter()
    frames, start = [], 0
    for size, count in zip(feeds, frame_counts, strict=True):
        got = splitter.feed(stream[start : start + size])
        start += size
        assert len(got) == count
        assert all(isinstance(frame, bytes) and len(frame) == FRAME_BYTES for frame in got)
        frames += got
    assert splitter.pending == pending
    assert b"".join(frames) == stream[: len(stream) - pending]
    assert splitter.flush(pad=False) == ([stream[len(stream) - pending :]] if pending else [])


def test_frame_splitter_flush_pads_with_silence():
    splitter = FrameSplitter()
    splitter.feed(b"\x01" * 200)
    assert splitter.flush() == [b"\x01" * 40 + bytes([ULAW_SILENCE]) * 120]
    assert splitter.pending == 0
    assert splitter.flush() == []


def test_frame_splitter_flush_without_padding_returns_the_remainder():
    splitter = FrameSplitter()
    splitter.feed(b"\x01" * 200)
    assert splitter.flush(pad=False) == [b"\x01" * 40]


def test_frame_splitter_reset_drops_pending_and_custom_frame_size():
    splitter = FrameSplitter(frame_bytes=4)
    assert splitter.feed(memoryview(b"abcdefghij")) == [b"abcd", b"efgh"]
    splitter.reset()
    assert splitter.pending == 0
    assert splitter.feed(b"wxyz") == [b"wxyz"]


def test_frame_splitter_rejects_empty_frames():
    with pytest.raises(ValueError):
        FrameSplitter(0)


# --- rebuffer ---------------------------------------------------------------------


def test_rebuffer_turns_twilio_frames_into_silero_windows():
    stream = np.arange(8 * FRAME_SAMPLES, dtype=np.int16)
    rebuffer = Rebuffer(256)
    counts, windows = [], []
    for i in range(8):
        got = rebuffer.feed(stream[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES])
        counts.append(len(got))
        windows += got
    assert counts == [0, 1, 0, 1, 1, 0, 1, 1]  # 8 x 160 = 5 x 256
    assert rebuffer.pending == 0
    assert all(w.dtype == np.int16 and w.shape == (256,) for w in windows)
    np.testing.assert_array_equal(np.concatenate(windows), stream)


def test_rebuffer_windows_are_independent_copies():
    rebuffer = Rebuffer(4)
    pcm = np.arange(10, dtype=np.int16)
    first, second = rebuffer.feed(pcm)
    pcm[:] = 0
    (third,) = rebuffer.feed(np.full(2, 99, np.int16))
    assert first.tolist() == [0, 1, 2, 3]
    assert second.tolist() == [4, 5, 6, 7]
    assert third.tolist() == [8, 9, 99, 99]


@pytest.mark.parametrize(
    ("pad", "expected"),
    [(True, [1, 2, 3, 0, 0]), (False, [1, 2, 3])],
)
def test_rebuffer_flush(pad, expected):
    rebuffer = Rebuffer(5)
    rebuffer.feed(np.array([1, 2, 3], np.int16))
    assert rebuffer.pending == 3
    (last,) = rebuffer.flush(pad=pad)
    assert last.tolist() == expected
    assert rebuffer.flush() == []


def test_rebuffer_reset_and_validation():
    rebuffer = Rebuffer(256)
    rebuffer.feed(np.ones(100, np.int16))
    rebuffer.reset()
    assert rebuffer.pending == 0
    assert rebuffer.feed(np.zeros(256, np.int16))[0].tolist() == [0] * 256
    with pytest.raises(ValueError):
        Rebuffer(0)
    with pytest.raises(TypeError):
        rebuffer.feed(np.zeros(256, np.float32))


# --- levels ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pcm", "expected", "tolerance"),
    [
        (sine(1000, 1.0, 8000, 1.0), -3.01, 0.01),  # full-scale sine
        (sine(1000, 1.0, 8000, 0.5), -9.03, 0.01),
        (np.full(FRAME_SAMPLES, -32768, np.int16), 0.0, 1e-9),  # full-scale square
        (np.zeros(FRAME_SAMPLES, np.int16), SILENCE_DBFS, 0.0),
        (np.zeros(0, np.int16), SILENCE_DBFS, 0.0),
    ],
)
def test_rms_dbfs(pcm, expected, tolerance):
    assert rms_dbfs(pcm) == pytest.approx(expected, abs=tolerance)


def test_rms_dbfs_floor_is_below_any_non_silent_frame():
    one_lsb = np.zeros(FRAME_SAMPLES, np.int16)
    one_lsb[0] = 1
    assert SILENCE_DBFS < rms_dbfs(one_lsb) < -100
    assert SILENCE_DBFS == -120.0


def test_rms_dbfs_of_decoded_silence_frame_is_the_floor():
    assert rms_dbfs(ulaw_to_pcm(ulaw_silence(FRAME_MS))) == SILENCE_DBFS
