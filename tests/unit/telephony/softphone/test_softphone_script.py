"""The softphone's pure parts: scripts, Twilio's playback buffer, TwiML, caller audio."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from telephony.softphone import (
    Dtmf,
    Hangup,
    Pause,
    Play,
    PlaybackBuffer,
    Say,
    ScriptError,
    WaitForAgent,
    load_script,
    parse_script,
)
from telephony.softphone.audio import Utterance, load_wav
from telephony.softphone.result import CallResult, TurnTiming
from telephony.softphone.script import (
    DEFAULT_DTMF_GAP_MS,
    DEFAULT_QUIET_MS,
    DEFAULT_WAIT_TIMEOUT_MS,
)
from telephony.softphone.twilio_side import parse_twiml
from telephony.wire.codec import FRAME_BYTES, ULAW_SILENCE, pcm_to_ulaw, ulaw_to_pcm

REPO = Path(__file__).parents[4]

# -- scripts ------------------------------------------------------------------


def test_every_step_kind_parses(tmp_path: Path) -> None:
    (tmp_path / "cough.wav").write_bytes(b"")
    script = parse_script(
        """
        description = "all steps"
        [[step]]
        wait_for_agent = true
        [[step]]
        say = "  I'd like to book a checkup  "
        [[step]]
        barge_in_after_ms = 700
        say = "Actually, Friday"
        [[step]]
        play = "cough.wav"
        [[step]]
        pause_ms = 800
        [[step]]
        dtmf = "1#"
        [[step]]
        dtmf = "482913#"
        dtmf_gap_ms = 300
        [[step]]
        wait_for_agent = true
        quiet_ms = 500
        timeout_ms = 9000
        [[step]]
        hangup = true
        """,
        source="all.toml",
        base_dir=tmp_path,
    )
    assert script.description == "all steps"
    assert script.steps == (
        WaitForAgent(1, DEFAULT_QUIET_MS, DEFAULT_WAIT_TIMEOUT_MS),
        Say(2, "I'd like to book a checkup"),
        Say(3, "Actually, Friday", barge_in_after_ms=700),
        Play(4, (tmp_path / "cough.wav").resolve()),
        Pause(5, 800),
        Dtmf(6, "1#", gap_ms=DEFAULT_DTMF_GAP_MS),
        Dtmf(7, "482913#", gap_ms=300),
        WaitForAgent(8, quiet_ms=500, timeout_ms=9000),
        Hangup(9),
    )
    assert script.texts == ["I'd like to book a checkup", "Actually, Friday"]


def test_the_shipped_example_is_valid() -> None:
    script = load_script(REPO / "graphs" / "clinic" / "hello.toml")
    assert isinstance(script.steps[-1], Hangup)
    assert any(isinstance(s, Say) and s.barge_in_after_ms for s in script.steps)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[[step]]\nsay = 'x'\nhello = 1", r"step 1: unknown key 'hello'"),
        ("[[step]]\nsay = 'x'\npause_ms = 3", r"step 1: several actions \(say, pause_ms\)"),
        ("[[step]]\nquiet_ms = 300", r"step 1: no action"),
        ("[[step]]\nsay = ''", r"step 1: say must be a non-empty string"),
        ("[[step]]\nsay = 3", r"step 1: say must be a non-empty string"),
        ("[[step]]\npause_ms = 0", r"step 1: pause_ms must be .* > 0"),
        ("[[step]]\npause_ms = -5", r"step 1: pause_ms must be .* >= 0"),
        ("[[step]]\npause_ms = 1.5", r"step 1: pause_ms must be a whole number"),
        ("[[step]]\npause_ms = true", r"step 1: pause_ms must be a whole number"),
        ("[[step]]\ndtmf = '12a'", r"step 1: dtmf must be a string of keys"),
        ("[[step]]\ndtmf = 1", r"step 1: dtmf must be a string of keys"),
        ("[[step]]\nwait_for_agent = false", r"step 1: wait_for_agent must be true"),
        ("[[step]]\nhangup = 'yes'", r"step 1: hangup must be true"),
        ("[[step]]\nplay = 'missing.wav'", r"step 1: play file not found: .*missing.wav"),
        ("[[step]]\npause_ms = 5\nquiet_ms = 3", r"step 1: quiet_ms does not go with pause_ms"),
        ("[[step]]\ndtmf = '1'\nbarge_in_after_ms = 3", r"step 1: barge_in_after_ms does not go"),
        ("[[step]]\ndtmf = '12'\ndtmf_gap_ms = 0", r"step 1: dtmf_gap_ms must be .* > 0"),
        ("[[step]]\ndtmf = '12'\ndtmf_gap_ms = 0.3", r"step 1: dtmf_gap_ms must be a whole"),
        ("[[step]]\nsay = 'x'\ndtmf_gap_ms = 300", r"step 1: dtmf_gap_ms does not go with say"),
        ("[[step]]\nsay = 'x'\ntimeout_ms = 300", r"step 1: timeout_ms on say/play only applies"),
        ("[[step]]\nsay = 'x'\nbarge_in_after_ms = -1", r"step 1: barge_in_after_ms must be"),
        ("[[step]]\nhangup = true\n[[step]]\nsay = 'x'", r"step 1: hangup must be the last step"),
        ("[[step]]\nsay = 'x'\n[[step]]\nsay = 'y'\nbogus = 1", r"step 2: unknown key 'bogus'"),
        ("", r"no steps"),
        ("step = 3", r"'step' must be an array of tables"),
        ("speed = 2\n[[step]]\nsay = 'x'", r"unknown top-level key 'speed'"),
        ("description = 3\n[[step]]\nsay = 'x'", r"description must be a string"),
        ("[[step]\nsay = 'x'", r"invalid TOML"),
    ],
)
def test_invalid_scripts_say_where_and_what(toml: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match=r"^bad\.toml: " + message):
        parse_script(toml, source="bad.toml", base_dir=tmp_path)


def test_load_script_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match=r"nope\.toml: cannot read script"):
        load_script(tmp_path / "nope.toml")


def test_play_paths_are_relative_to_the_script(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.wav").write_bytes(b"")
    (tmp_path / "s.toml").write_text("[[step]]\nplay = 'clips/a.wav'\n")
    (step,) = load_script(tmp_path / "s.toml").steps
    assert step == Play(1, (tmp_path / "clips" / "a.wav").resolve())


# -- Twilio's playback buffer ---------------------------------------------------


def _audio(ms: int, value: int = 0x10) -> bytes:
    return bytes([value]) * (ms * 8)


def test_audio_plays_one_frame_per_tick_and_marks_follow_their_audio() -> None:
    buf = PlaybackBuffer()
    buf.feed(_audio(50))  # 2.5 frames
    buf.add_mark("a")
    buf.feed(_audio(20))
    buf.add_mark("b")
    played = [buf.play_frame() for _ in range(6)]
    assert [len(p.audio) for p in played] == [160, 160, 160, 80, 0, 0]
    # "a" follows 400 bytes: they finish within tick 2 (the third), so it is
    # echoed at the start of tick 3; "b" follows the last, short frame.
    assert [p.marks for p in played] == [(), (), (), ("a",), ("b",), ()]
    assert buf.played_bytes == 560 and buf.idle


def test_a_mark_on_an_empty_buffer_comes_back_on_the_next_tick() -> None:
    buf = PlaybackBuffer()
    buf.add_mark("now")
    assert buf.play_frame().marks == ("now",)


def test_clear_drops_queued_audio_and_returns_pending_marks_in_order() -> None:
    buf = PlaybackBuffer()
    buf.feed(_audio(100))
    buf.add_mark("one")
    buf.feed(_audio(100))
    buf.add_mark("two")
    assert buf.play_frame().audio  # 20 ms start playing
    assert buf.clear() == ("one", "two")
    assert buf.dropped_bytes == 1440 and buf.buffered_bytes == 0
    assert buf.play_frame() == buf.play_frame()  # nothing more, no marks twice
    assert buf.pending_marks == []
    buf.feed(_audio(20))  # audio after a clear plays normally
    buf.add_mark("three")
    assert buf.play_frame().audio and buf.play_frame().marks == ("three",)


def test_positions_track_what_has_started_playing() -> None:
    buf = PlaybackBuffer()
    buf.feed(_audio(30))
    assert (buf.queued_to, buf.played_to) == (240, 0)
    buf.play_frame()
    buf.play_frame()
    assert buf.played_to == 240


# -- TwiML --------------------------------------------------------------------


def test_twiml_stream_and_parameters() -> None:
    answer = parse_twiml(
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        '<Stream url="wss://x.example/twilio/media">'
        '<Parameter name="caller" value="+15550100123"/><Parameter name="token" value="v1.9.z"/>'
        "</Stream></Connect></Response>"
    )
    assert answer.connects
    assert answer.stream_url == "wss://x.example/twilio/media"
    assert answer.parameters == {"caller": "+15550100123", "token": "v1.9.z"}


@pytest.mark.parametrize(
    ("twiml", "described"),
    [
        ("<Response><Say>All lines are busy.</Say><Hangup/></Response>",
         'Say: "All lines are busy."; Hangup'),
        ('<Response><Reject reason="busy"/></Response>', "Reject (reason='busy')"),
        ("<Response/>", "empty <Response>"),
        ('<Response><Connect><ConversationRelay url="wss://x"/></Connect></Response>',
         "Connect [ConversationRelay]"),
    ],
)  # fmt: skip
def test_twiml_without_a_stream_is_described(twiml: str, described: str) -> None:
    answer = parse_twiml(twiml)
    assert not answer.connects
    assert answer.describe() == described


# -- caller audio and the report --------------------------------------------------


def test_utterance_pads_to_frames_and_finds_the_end_of_speech() -> None:
    tone = (np.sin(np.arange(800) * 0.3) * 8000).astype(np.int16)  # 100 ms
    ulaw = pcm_to_ulaw(tone) + bytes([ULAW_SILENCE]) * 500  # + 62.5 ms of silence
    utterance = Utterance.from_ulaw(ulaw)
    assert [len(f) for f in utterance.frames] == [FRAME_BYTES] * 9
    assert utterance.last_voiced == 4  # the tone fills frames 0-4
    assert utterance.duration_ms == 180


@pytest.mark.parametrize(
    ("rate", "width", "channels"), [(16000, 2, 1), (44100, 1, 2), (8000, 3, 1)]
)
def test_wav_files_of_any_format_become_8khz_mulaw(
    tmp_path: Path, rate: int, width: int, channels: int
) -> None:
    t = np.arange(rate // 2) / rate  # 0.5 s of 300 Hz at half scale
    wave_f = 0.5 * np.sin(2 * np.pi * 300 * t)
    scale = 2 ** (8 * width - 1)
    ints = np.repeat((wave_f * scale).astype(np.int64), channels)
    if width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    else:
        raw = b"".join(int(v).to_bytes(width, "little", signed=True) for v in ints)
    path = tmp_path / "clip.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(raw)
    pcm = ulaw_to_pcm(load_wav(path))
    assert abs(pcm.size - 4000) <= 2
    peak = np.abs(pcm[500:-500].astype(np.int32)).max()
    assert 0.45 * 32768 < peak < 0.55 * 32768


def test_a_non_wav_file_is_a_script_error(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"not a wav")
    with pytest.raises(ScriptError, match="not a readable PCM WAV"):
        load_wav(path)


def test_summary_reports_outcome_turns_and_warnings() -> None:
    result = CallResult(
        outcome="remote_closed",
        call_sid="CA1",
        stream_sid="MZ1",
        closed_by="app",
        close_code=1000,
        close_reason="goodbye",
        turns=[
            TurnTiming(1, 2, "say", "hello", end_ms=1000.0, first_audio_received_ms=1750.0,
                       first_audio_played_ms=1760.0),
            TurnTiming(2, 4, "dtmf", "1", end_ms=3000.0),
        ],
        warnings=["step 5: the agent did not speak within 20000 ms"],
    )  # fmt: skip
    text = result.summary()
    assert result.ok
    assert "closed by app with 1000 'goodbye'" in text
    assert "turn 1 (step 2, say): 750 ms to first agent audio, 760 ms to heard" in text
    assert "turn 2 (step 4, dtmf): no reply" in text
    assert "warning: step 5" in text
    assert not CallResult(outcome="remote_closed", close_code=1011).ok
