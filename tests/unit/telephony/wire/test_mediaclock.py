"""The caller-audio clock, pure: jitter buffer, caller clock and flood judge, no sockets."""

from __future__ import annotations

import pytest

from telephony.wire.codec import ULAW_SILENCE
from telephony.wire.mediaclock import CallerClock, InboundRate, JitterBuffer

FRAME = bytes([0x10]) * 160  # 20 ms of (non-silent) mu-law


def _push_all(buffer: JitterBuffer, timestamps: list[int]) -> list[tuple[float, bool]]:
    out = []
    for ts in timestamps:
        out += [(f.timestamp_ms, f.filled) for f in buffer.push(ts, FRAME)]
    return out


@pytest.mark.parametrize(
    ("arrivals", "released"),
    [
        # in order: each frame leaves at once
        ([0, 20, 40, 60], [0, 20, 40, 60]),
        # two frames swapped: put back in order
        ([0, 40, 20, 60], [0, 20, 40, 60]),
        # a duplicate is dropped
        ([0, 20, 20, 40], [0, 20, 40]),
        # a frame whose place already passed is dropped
        ([0, 20, 40, 60, 80, 100, 120, 140, 160, 20], [0, 20, 40, 60, 80, 100, 120, 140, 160]),
    ],
)
def test_frames_leave_in_timestamp_order_once(arrivals, released) -> None:
    buffer = JitterBuffer(window_ms=100)
    assert [ts for ts, _ in _push_all(buffer, arrivals)] == released


def test_a_lost_frame_is_filled_with_silence_once_the_window_passed() -> None:
    buffer = JitterBuffer(window_ms=100)
    out = _push_all(buffer, [0, 40, 60, 80])
    assert out == [(0, False)], "held: frame 20 may still come"
    out = _push_all(buffer, [100, 120])
    assert out[0] == (20, True), "the hole became a comfort frame"
    assert [ts for ts, _ in out] == [20, 40, 60, 80, 100, 120]
    assert buffer.filled_ms == 20


def test_comfort_frames_are_silence_of_the_hole_length() -> None:
    buffer = JitterBuffer(window_ms=0)
    buffer.push(0, FRAME)
    frames = buffer.push(70, FRAME)
    filled = [f for f in frames if f.filled]
    assert sum(len(f.payload) for f in filled) == 50 * 8
    assert all(set(f.payload) == {ULAW_SILENCE} for f in filled)
    assert frames[-1].timestamp_ms == 70


def test_a_jump_too_large_to_fill_is_followed_without_filling() -> None:
    buffer = JitterBuffer(window_ms=0, max_fill_ms=1000)
    buffer.push(0, FRAME)
    frames = buffer.push(600_000, FRAME)
    assert [f.timestamp_ms for f in frames] == [600_000]
    assert buffer.jumps == 1 and buffer.filled_ms == 0


def test_flush_releases_what_is_held() -> None:
    buffer = JitterBuffer(window_ms=100)
    buffer.push(0, FRAME)
    assert buffer.push(40, FRAME) == []
    assert [f.timestamp_ms for f in buffer.flush()] == [20, 40]


def test_caller_clock_follows_the_session_clock_while_audio_flows() -> None:
    clock = CallerClock()
    wall = 100.0
    clock.tick(wall)
    for n in range(1, 51):
        wall += 0.02
        assert clock.on_audio(n * 20, wall) == pytest.approx(wall)
        clock.tick(wall)
    assert clock.lag == pytest.approx(0.0)


def test_a_stall_holds_the_caller_clock_until_the_backlog_is_heard() -> None:
    clock = CallerClock(stall_s=0.5)
    wall = 100.0
    clock.tick(wall)
    for n in range(1, 51):  # one second of audio in real time
        wall += 0.02
        clock.on_audio(n * 20, wall)
        clock.tick(wall)
    before = clock.tick(wall)
    wall += 11.0  # the process was stopped
    assert clock.tick(wall) == pytest.approx(before), "nobody heard the caller meanwhile"
    assert clock.stalls == 1
    # The backlog arrives at once: each frame is heard at the time it was spoken.
    times = [clock.on_audio(1000 + n * 20, wall) for n in range(1, 551)]
    assert times[0] == pytest.approx(before + 0.02)
    assert times[274] == pytest.approx(before + 5.5)
    assert times == sorted(times)
    assert clock.lag == pytest.approx(0.0, abs=0.05)


def test_audio_faster_than_real_time_never_puts_the_clock_ahead() -> None:
    clock = CallerClock()
    clock.tick(100.0)
    times = [clock.on_audio(n * 20, 100.0) for n in range(1, 100)]
    assert max(times) <= 100.0


def test_without_audio_the_caller_clock_is_the_session_clock() -> None:
    clock = CallerClock()
    assert clock.now(5.0) == 5.0
    assert clock.now(7.5) == 7.5


def _media_flood(rate: InboundRate, timestamps, wall_of) -> str | None:
    for n, ts in enumerate(timestamps):
        reason = rate.media(ts, 160, wall_of(n))
        if reason is not None:
            return reason
    return None


def test_a_catch_up_burst_that_spans_real_time_is_no_flood() -> None:
    rate = InboundRate(250.0)
    rate.started(0.0)
    # 30 s of audio, all read at t=30.5 after a stall: in order, spanning real time.
    assert _media_flood(rate, range(0, 30_000, 20), lambda n: 30.5) is None


def test_timestamps_that_do_not_advance_are_a_flood() -> None:
    rate = InboundRate(250.0)
    rate.started(0.0)
    reason = _media_flood(rate, [1000] * 600, lambda n: 1.0 + n * 0.001)
    assert reason is not None and "flood" in reason


def test_far_more_messages_than_audio_time_is_a_flood() -> None:
    rate = InboundRate(250.0)
    rate.started(0.0)
    # 1 ms steps with 20 ms payloads: 20 times more messages than audio time
    reason = _media_flood(rate, range(0, 2000), lambda n: 5.0)
    assert reason is not None


def test_audio_running_ahead_of_real_time_is_a_flood() -> None:
    rate = InboundRate(250.0)
    rate.started(0.0)
    reason = _media_flood(rate, range(0, 10_000, 20), lambda n: 0.1)
    assert reason is not None and "ahead of real time" in reason


def test_other_messages_at_a_huge_rate_are_a_flood_but_a_few_are_not() -> None:
    rate = InboundRate(50.0)
    assert all(rate.other(1.0 + n * 0.5) is None for n in range(200))
    flooded = [rate.other(200.0) for _ in range(101)]
    assert flooded[-1] is not None and all(r is None for r in flooded[:-1])
