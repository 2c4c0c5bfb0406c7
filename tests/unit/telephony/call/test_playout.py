"""PlayoutBuffer: frames and marks in order, and the heard ledger."""

from __future__ import annotations

import pytest

from telephony.call.playout import PlayoutBuffer, cut_to_heard
from telephony.wire.codec import FRAME_BYTES


def _drain(buffer: PlayoutBuffer, now: float = 0.0) -> list[bytes | str]:
    out = []
    while (item := buffer.pop(now)) is not None:
        out.append(item)
    return out


@pytest.mark.parametrize(
    ("text", "fraction", "heard"),
    [
        ("one two three four", 1.0, "one two three four"),
        ("one two three four", 0.0, ""),
        ("one two three four", 0.5, "one two"),  # 9 of 18 chars: "two" ends at 7
        ("one two three four", 0.2, "one"),  # "one" ends at char 3 <= 3.6
        ("hello", 0.99, ""),
        ("", 0.5, ""),
    ],
)
def test_cut_to_heard(text: str, fraction: float, heard: str) -> None:
    assert cut_to_heard(text, fraction) == heard


def test_frames_then_mark_per_phrase() -> None:
    buffer = PlayoutBuffer()
    first = buffer.open_phrase(1, 1, "Hello there.")
    buffer.append(first, b"\x01" * 300)
    assert buffer.pop(0.0) == b"\x01" * FRAME_BYTES
    assert buffer.pop(0.0) is None, "an open phrase waits for more audio"
    buffer.close_phrase(first)
    second = buffer.open_phrase(1, 2, "How can I help?")
    buffer.append(second, b"\x02" * 160)
    buffer.close_phrase(second)
    items = _drain(buffer)
    assert items[0] == b"\x01" * 140 + b"\xff" * 20  # padded to a whole frame
    assert items[1:] == ["turn-1:1", b"\x02" * 160, "turn-1:2"]
    assert buffer.speaking and not buffer.has_audio


def test_echoed_marks_complete_phrases_in_order() -> None:
    buffer = PlayoutBuffer()
    for index in (1, 2):
        phrase = buffer.open_phrase(3, index, f"phrase {index}")
        buffer.append(phrase, b"\x00" * 320)
        buffer.close_phrase(phrase)
    _drain(buffer)
    # A later mark implies the earlier one was heard too.
    assert buffer.on_mark("turn-3:2", 1.0).index == 2
    assert [p.index for p in buffer.heard] == [1, 2]
    assert not buffer.speaking
    assert buffer.heard_text(3) == "phrase 1 phrase 2"
    assert buffer.on_mark("turn-9:9", 1.0) is None


def test_clear_estimates_the_cut_phrase_and_ignores_late_echoes() -> None:
    buffer = PlayoutBuffer()
    heard = buffer.open_phrase(1, 1, "First phrase.")
    buffer.append(heard, b"\x00" * 1600)  # 200 ms
    buffer.close_phrase(heard)
    cut = buffer.open_phrase(1, 2, "alpha bravo charlie delta echo foxtrot golf hotel")
    buffer.append(cut, b"\x00" * 8000)  # 1000 ms
    buffer.close_phrase(cut)
    now = 10.0
    for _ in range(10):
        buffer.pop(now)  # phrase 1 sent at t=10.0
    assert buffer.pop(now) == "turn-1:1"
    buffer.on_mark("turn-1:1", 10.2)  # phrase 1 fully played at 10.2
    for _ in range(50):
        buffer.pop(10.2)  # all of phrase 2 sent
    assert buffer.pop(10.2) == "turn-1:2"
    result = buffer.clear(10.7)  # 500 ms into phrase 2
    assert len(result) == 1
    assert result[0].heard_ms == pytest.approx(500.0)
    # Half of 49 characters: "delta" would end at 25, past the cut.
    assert result[0].heard_text == "alpha bravo charlie"
    assert buffer.heard_text(1, result) == "First phrase. alpha bravo charlie"
    # Twilio echoes the cleared mark at once; it does not mean "heard".
    assert buffer.on_mark("turn-1:2", 10.71) is None
    assert not buffer.speaking


def test_clear_never_credits_more_than_was_sent() -> None:
    buffer = PlayoutBuffer()
    phrase = buffer.open_phrase(1, 1, "one two three four five six")
    buffer.append(phrase, b"\x00" * 8000)
    for _ in range(5):
        buffer.pop(0.0)  # only 100 ms sent
    result = buffer.clear(30.0)  # long after: the caller can only have heard what was sent
    assert result[0].heard_ms == pytest.approx(100.0)


def test_clear_before_any_audio_was_sent_hears_nothing() -> None:
    buffer = PlayoutBuffer()
    phrase = buffer.open_phrase(1, 1, "never spoken")
    buffer.append(phrase, b"\x00" * 800)
    assert buffer.clear(5.0) == []
    assert buffer.heard_text(1) == ""


def test_append_after_close_is_a_local_error() -> None:
    buffer = PlayoutBuffer()
    phrase = buffer.open_phrase(1, 1, "x")
    buffer.close_phrase(phrase)
    with pytest.raises(ValueError, match="already complete"):
        buffer.append(phrase, b"\x00")


def test_a_pause_is_not_counted_as_heard() -> None:
    buffer = PlayoutBuffer()
    phrase = buffer.open_phrase(1, 1, "alpha bravo charlie delta echo foxtrot golf hotel india")
    buffer.append(phrase, b"\x00" * 16000)  # 2 s
    buffer.close_phrase(phrase)
    for _ in range(25):
        buffer.pop(10.0)  # 500 ms sent at t=10
    buffer.delay_playback(3.0)  # then 3 s of silence (a paused barge-in that resumed)
    for _ in range(25):
        buffer.pop(13.5)
    result = buffer.clear(13.9)  # 0.9 s of wall time into playback, 3 s of it silent
    assert result[0].heard_ms == pytest.approx(900.0)
