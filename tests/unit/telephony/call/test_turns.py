"""Turn-taking machines and echo safety, driven by scripted (time, event) sequences.

Every test is pure: times are passed in, nothing sleeps, no model runs. VAD
output is scripted as probabilities per 32 ms window; echo tests use
synthetic voices (harmonics through formants, syllable rhythm), one per seed.
"""

from __future__ import annotations

import numpy as np
import pytest

from telephony.call.echo import EchoConfig, EchoSuppressor
from telephony.call.turns import (
    BargeIn,
    BargeState,
    SilenceWatcher,
    SpeechEvent,
    SpeechGate,
    TurnConfig,
    TurnDetector,
    TurnTaking,
    interrupts,
    is_unfinished,
)
from telephony.speech.base import Transcript
from telephony.wire.codec import pcm_to_ulaw, ulaw_to_pcm

W = 0.032  # one VAD window
CFG = TurnConfig()
SILENT = np.zeros(160, dtype=np.int16)


NOT_THE_FLOOR = ["mhm", "Uh-huh.", "okay okay", "yeah, right", "yes", "um", ""]
TAKES_THE_FLOOR = ["no", "wait stop", "okay but wait", "hello?"]  # "yes": see turns docstring


@pytest.mark.parametrize("text", NOT_THE_FLOOR + TAKES_THE_FLOOR)
def test_which_words_take_the_floor(text: str) -> None:
    assert interrupts(text) is (text in TAKES_THE_FLOOR)


FINISHED = ["I'd like to book a checkup", "what time do you close on Saturday", ""]
UNFINISHED = ["book a checkup and", "um", "on Tuesday at", "my number is five five", "the 2345"]


@pytest.mark.parametrize("text", FINISHED + UNFINISHED)
def test_unfinished_phrases(text: str) -> None:
    assert is_unfinished(text) is (text in UNFINISHED)


def _gate_events(probs: list[float]) -> list[tuple[int, bool, int]]:
    """(window index decided, speaking, window index of the edge) for each event."""
    gate, out = SpeechGate(CFG), []
    for i, p in enumerate(probs):
        event = gate.update(p, (i + 1) * W)
        if event is not None:
            out.append((i, event.speaking, round(event.edge / W)))
    return out


LOW, MID, HIGH = 0.05, 0.4, 0.95


@pytest.mark.parametrize(
    ("probs", "events"),
    [
        pytest.param([LOW] * 5, [], id="silence"),
        pytest.param([LOW, HIGH, LOW, HIGH, LOW], [], id="single windows never start"),
        pytest.param([LOW, HIGH, HIGH], [(2, True, 1)], id="two voiced windows start"),
        pytest.param([HIGH, MID, HIGH], [(2, True, 0)], id="in-between windows are neutral"),
        pytest.param(
            [HIGH, HIGH] + [LOW] * 5 + [HIGH] + [LOW] * 6,
            [(1, True, 0), (13, False, 8)],
            id="holds through a 160 ms gap, stops after 192 ms",
        ),
        pytest.param(
            [HIGH, HIGH] + [MID] * 10 + [LOW] * 6,
            [(1, True, 0), (17, False, 12)],
            id="hysteresis: between thresholds stays speech",
        ),
    ],
)
def test_speech_gate(probs: list[float], events: list[tuple[int, bool, int]]) -> None:
    assert _gate_events(probs) == events


def _detect(script: list[tuple], *, vad: bool = True, until: float = 10.0) -> list[tuple]:
    """Run a TurnDetector over (time, kind, arg) events, polling every 10 ms."""
    detector, ends = TurnDetector(CFG, vad=vad), []
    events = sorted(script, key=lambda e: e[0])
    t, i = 0.0, 0
    while t <= until:
        while i < len(events) and events[i][0] <= t + 1e-9:
            at, kind, *arg = events[i]
            i += 1
            if kind in ("start", "stop"):
                detector.on_speech(SpeechEvent(kind == "start", at, arg[0] if arg else at))
                continue
            transcript = {
                "partial": Transcript(arg[0], is_final=False),
                "final": Transcript(arg[0], is_final=True),
                "eot": Transcript(arg[0], is_final=True, end_of_turn=True),
            }[kind]
            end = detector.on_transcript(transcript, at)
            if end is not None:
                ends.append((round(end.at, 2), end.text, end.reason))
        end = detector.poll(t)
        if end is not None:
            ends.append((round(end.at, 2), end.text, end.reason))
        t = round(t + 0.01, 2)
    return ends


@pytest.mark.parametrize(
    ("script", "ends"),
    [
        pytest.param(
            [(0.0, "start"), (1.2, "stop", 1.0), (1.5, "final", "what time do you close")],
            [(1.5, "what time do you close", "silence")],
            id="final after the silence already lasted: at once",
        ),
        pytest.param(
            [(0.0, "start"), (1.1, "final", "cancel my appointment"), (1.25, "stop", 1.05)],
            [(1.35, "cancel my appointment", "silence")],
            id="final first: end_silence_ms after the speech edge",
        ),
        pytest.param(
            [(0.0, "start"), (1.2, "stop", 1.0), (1.5, "final", "book it for Tuesday at")],
            [(1.8, "book it for Tuesday at", "unfinished")],  # edge + 800 ms
            id="unfinished: waits unfinished_silence_ms",
        ),
        pytest.param(
            [(0.0, "start"), (1.2, "stop", 1.0), (1.4, "final", "my number is five five")],
            [(1.8, "my number is five five", "unfinished")],
            id="a number still being spoken waits",
        ),
        pytest.param(
            [
                (0.0, "start"),
                (1.2, "stop", 1.0),
                (1.4, "final", "I'd like a checkup and"),
                (1.8, "start"),
                (2.4, "stop", 2.2),
                (2.7, "final", "a flu shot"),
            ],
            [(2.7, "I'd like a checkup and a flu shot", "silence")],
            id="speech resumes after the unfinished phrase: one turn",
        ),
        pytest.param(
            [(0.0, "start"), (0.9, "partial", "is it"), (1.3, "eot", "Is it open?")],
            [(1.3, "Is it open?", "engine")],
            id="engine end_of_turn: at once, even while the VAD hears speech",
        ),
        pytest.param(
            [(0.5, "final", "thanks for calling riverside")],
            [],
            id="transcript of audio the VAD never heard is dropped",
        ),
        pytest.param(
            [(0.0, "start"), (1.0, "final", "front desk please")],
            [(3.0, "front desk please", "hold")],
            id="VAD stuck in speech (noise): final_hold_ms after the words",
        ),
        pytest.param(
            [(0.0, "start"), (1.0, "stop", 0.8), (1.5, "final", "")],
            [],
            id="empty final (a cough) ends nothing",
        ),
    ],
)
def test_turn_detector(script: list[tuple], ends: list[tuple]) -> None:
    assert _detect(script) == ends


def test_without_vad_a_final_ends_the_turn_unless_unfinished() -> None:
    # The engine's endpointer already heard silence: no second end_silence_ms wait.
    ends = _detect([(1.0, "final", "hello"), (3.0, "final", "um so")], vad=False)
    assert ends == [(1.0, "hello", "silence"), (3.5, "um so", "unfinished")]  # + 800 - 300 ms


def _barge(script: list[tuple], *, until: float = 5.0) -> list[tuple[float, str]]:
    """Run BargeIn over (time, kind, arg) events with a voiced window every 32 ms.

    Kinds: ``onset`` (agent speaking), ``onset-idle`` (agent silent), ``stop``,
    ``words``, ``agent-done``. Voice is reported between an onset and its stop.
    """
    barge, out = BargeIn(CFG), []
    events = sorted(script, key=lambda e: e[0])
    voiced, t, i = False, 0.0, 0
    while t <= until:
        while i < len(events) and events[i][0] <= t + 1e-9:
            at, kind, *arg = events[i]
            i += 1
            action = None
            if kind in ("onset", "onset-idle"):
                voiced = True
                action = barge.on_speech_start(at, agent_speaking=kind == "onset", onset=at)
            elif kind == "stop":
                voiced = False
                action = barge.on_speech_stop(at)
            elif kind == "words":
                action = barge.on_words(arg[0], at)
            elif kind == "agent-done":
                barge.on_agent_done()
            if action:
                out.append((round(at, 2), action))
        action = (barge.on_voice(t) if voiced else None) or barge.poll(t)
        if action:
            out.append((round(t, 2), action))
        t = round(t + W, 3)
    return out


@pytest.mark.parametrize(
    ("script", "actions"),
    [
        pytest.param(
            [(1.0, "onset"), (1.35, "stop")],
            [(1.0, "pause"), (1.35, "resume")],
            id="cough: pause then resume",
        ),
        pytest.param(
            [(1.0, "onset"), (1.3, "words", "mhm"), (1.45, "stop")],
            [(1.0, "pause"), (1.45, "resume")],
            id="mhm: resume",
        ),
        pytest.param(
            [(1.0, "onset"), (1.25, "words", "wait"), (1.6, "words", "wait stop")],
            [(1.0, "pause"), (1.25, "confirm")],
            id="wait stop: confirmed by the first word",
        ),
        pytest.param(
            [(1.0, "onset"), (3.0, "stop")],
            [(1.0, "pause"), (1.5, "confirm")],
            id="long speech: confirmed after confirm_ms of voice",
        ),
        pytest.param(
            [(1.0, "onset"), (1.2, "words", "okay yeah"), (2.5, "stop")],
            [(1.0, "pause"), (2.21, "resume")],
            id="backchannels never confirm; resume_after_ms ends the pause",
        ),
        pytest.param(
            [(1.0, "onset"), (1.25, "stop"), (1.7, "words", "no")],
            [(1.0, "pause"), (1.25, "resume"), (1.7, "confirm")],
            id="a short 'no' recognised after the resume still confirms",
        ),
        pytest.param(
            [(1.0, "onset"), (1.25, "stop"), (2.5, "words", "no")],
            [(1.0, "pause"), (1.25, "resume")],
            id="a word after late_word_ms does not",
        ),
        pytest.param(
            [(1.0, "onset-idle"), (1.3, "words", "hello there"), (2.0, "stop")],
            [],
            id="agent silent: nothing to pause",
        ),
        pytest.param(
            [(1.0, "onset"), (1.1, "agent-done"), (1.3, "words", "stop")],
            [(1.0, "pause")],
            id="reply ended meanwhile: nothing to confirm",
        ),
    ],
)
def test_barge_in(script: list[tuple], actions: list[tuple[float, str]]) -> None:
    assert _barge(script) == actions


def test_barge_in_states() -> None:
    barge = BargeIn(CFG)
    assert barge.on_speech_start(0.0, agent_speaking=True) == "pause"
    assert barge.state is BargeState.PAUSED
    assert barge.on_words("okay", 0.2) is None and barge.state is BargeState.PAUSED
    assert barge.on_speech_stop(0.4) == "resume" and barge.state is BargeState.RESUMED
    assert barge.poll(1.39) is None and barge.poll(1.4) is None
    assert barge.state is BargeState.IDLE


def _silence(script: list[tuple], *, until: float = 40.0) -> list[tuple[float, str]]:
    watcher, out = SilenceWatcher(CFG), []
    events = sorted(script, key=lambda e: e[0])
    t, i = 0.0, 0
    while t <= until:
        while i < len(events) and events[i][0] <= t + 1e-9:
            at, kind = events[i]
            i += 1
            if kind == "busy":
                watcher.on_agent_busy()
            elif kind == "idle":
                watcher.on_agent_idle(at)
            else:
                watcher.on_caller_speech(SpeechEvent(kind == "speech", at, at))
        action = watcher.poll(t)
        if action:
            out.append((round(t, 1), action))
        t = round(t + 0.1, 1)
    return out


@pytest.mark.parametrize(
    ("script", "actions"),
    [
        pytest.param(
            [(0.0, "busy"), (2.0, "idle"), (9.1, "busy"), (11.0, "idle")],
            [(9.0, "reprompt"), (18.0, "hangup")],
            id="silent caller: reprompt, then end the call",
        ),
        pytest.param(
            [(0.0, "idle"), (5.0, "speech"), (5.8, "quiet"), (12.9, "busy"), (14.0, "idle")],
            [(12.8, "reprompt"), (21.0, "hangup")],
            id="speech that makes no turn (a cough) restarts the count",
        ),
        pytest.param(
            [
                (0.0, "idle"),
                (7.1, "busy"),
                (9.0, "idle"),
                (12.0, "speech"),
                (12.5, "quiet"),
                (13.0, "busy"),
                (15.0, "idle"),
                (22.1, "busy"),
                (24.0, "idle"),
            ],
            [(7.0, "reprompt"), (22.0, "reprompt"), (31.0, "hangup")],
            id="caller speech resets the strikes",
        ),
        pytest.param(
            [(0.0, "idle"), (3.0, "speech")],
            [],
            id="no reprompt while the caller is speaking",
        ),
    ],
)
def test_silence_watcher(script: list[tuple], actions: list[tuple[float, str]]) -> None:
    assert _silence(script) == actions


def _call(script: list[tuple], *, until: float = 8.0) -> list[tuple[str, str]]:
    """Drive TurnTaking: windows every 32 ms (voice between ``voice`` events' bounds).

    Kinds: ``reply`` (a reply starts), ``done`` (heard in full; arg: its text),
    ``cut`` (interrupted), ``voice`` (arg: seconds of caller voice),
    ``partial``/``final`` (arg: text). Returns (kind, text) of every action; an
    ``interrupt`` also cuts the reply, as the session would.
    """
    tt, out = TurnTaking(CFG), []
    voice = [(at, at + arg[0]) for at, kind, *arg in script if kind == "voice"]
    events = sorted((e for e in script if e[1] != "voice"), key=lambda e: e[0])
    t, i = 0.0, 0
    while t <= until:
        while i < len(events) and events[i][0] <= t + 1e-9:
            at, kind, *arg = events[i]
            i += 1
            if kind == "reply":
                tt.on_reply_started(at)
            elif kind == "done" and tt.agent_busy:
                out += [(a.kind, a.text) for a in tt.on_reply_finished(at, arg[0])]
            elif kind in ("partial", "final"):
                t_ = Transcript(arg[0], is_final=kind == "final")
                out += [(a.kind, a.text) for a in tt.on_transcript(t_, at)]
        p = 0.95 if any(a <= t < b for a, b in voice) else 0.02
        for action in tt.on_caller_audio(SILENT, p, t):
            out.append((action.kind, action.text))
            if action.kind == "interrupt":
                tt.on_reply_interrupted(t)
        t = round(t + W, 3)
    return out


@pytest.mark.parametrize(
    ("script", "actions"),
    [
        pytest.param(
            [(0.0, "reply"), (1.0, "voice", 0.3), (6.0, "done", "We open at nine.")],
            [("pause", ""), ("resume", "")],
            id="cough over the agent: pause, resume, no turn",
        ),
        pytest.param(
            [
                (0.0, "reply"),
                (1.0, "voice", 0.35),
                (1.9, "final", "mhm"),
                (6.0, "done", "We open at nine and close at five."),
            ],
            [("pause", ""), ("resume", "")],
            id="mhm over the agent: resumed, and not a turn",
        ),
        pytest.param(
            [
                (0.0, "reply"),
                (5.0, "voice", 0.3),
                (5.9, "final", "yes"),
                (6.0, "done", "A checkup on Tuesday at three, is that right?"),
            ],
            [("pause", ""), ("resume", ""), ("turn", "yes")],
            id="yes over the end of a question: resumed, then it answers",
        ),
        pytest.param(
            [
                (0.0, "reply"),
                (1.0, "voice", 0.9),
                (1.3, "partial", "wait"),
                (2.4, "final", "wait stop"),
            ],
            [("pause", ""), ("interrupt", ""), ("turn", "wait stop")],
            id="wait stop: pause, interrupt on the first word, then the turn",
        ),
        pytest.param(
            [(0.0, "reply"), (1.0, "voice", 1.5), (3.0, "final", "could you repeat the times")],
            [("pause", ""), ("interrupt", ""), ("turn", "could you repeat the times")],
            id="long speech: interrupt by duration before any word",
        ),
        pytest.param(
            [
                (0.0, "reply"),
                (1.0, "done", "How can I help?"),
                (2.0, "voice", 1.0),
                (3.5, "final", "okay"),
            ],
            [("turn", "okay")],
            id="a backchannel while the agent is silent is a turn",
        ),
        pytest.param(
            [
                (0.0, "reply"),
                (1.0, "done", "How can I help?"),
                (2.0, "voice", 1.0),
                (3.4, "final", "book a checkup and"),
            ],
            [("turn", "book a checkup and")],
            id="caller turn with the agent silent",
        ),
    ],
)
def test_turn_taking(script: list[tuple], actions: list[tuple[str, str]]) -> None:
    assert _call(script) == actions


def test_pause_is_immediate_and_resume_follows_the_end_of_the_cough() -> None:
    tt = TurnTaking(CFG)
    tt.on_reply_started(0.0)
    times: dict[str, float] = {}
    for k in range(100):
        t = round(k * W, 3)
        p = 0.95 if 1.0 <= t < 1.2 else 0.02
        for action in tt.on_caller_audio(SILENT, p, t):
            times[action.kind] = t
    assert times["pause"] - 1.0 <= 0.07  # start_ms: two windows
    assert 1.2 - W + 0.192 <= times["resume"] <= 1.2 + 0.192 + W  # stop_ms after the voice


def test_silent_caller_is_reprompted_then_the_call_ends() -> None:
    tt, out = TurnTaking(CFG), []
    tt.on_reply_started(0.0)
    out += tt.on_reply_finished(2.0, "How can I help?")
    for k in range(int(30 / W)):
        t = round(k * W, 3)
        actions = tt.on_caller_audio(SILENT, 0.02, t)
        out += actions
        if any(a.kind == "reprompt" for a in actions):
            tt.on_reply_started(t)
            out += tt.on_reply_finished(t + 3.0, "Are you still there?")
    assert [(a.kind, round(a.at)) for a in out] == [("reprompt", 9), ("hangup", 19)]
    assert tt.deadline() is None


def _voice(seconds: float, f0: float, formants: tuple[float, ...], seed: int) -> np.ndarray:
    """A synthetic talker: harmonics with random phases through formants, in syllables."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 8000)
    t = np.arange(n) / 8000
    pitch = f0 * (1 + 0.06 * np.sin(2 * np.pi * 0.8 * t + seed) + 0.01 * rng.standard_normal())
    phase = 2 * np.pi * np.cumsum(pitch) / 8000
    x = np.zeros(n)
    for k in range(1, int(3800 / f0)):
        gain = sum(1 / (1 + ((k * f0 - f) / 90) ** 2) for f in formants) / k**0.5
        x += gain * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    envelope, i = np.zeros(n), int(rng.integers(0, 800))
    while i < n:
        length = min(int(rng.uniform(0.09, 0.25) * 8000), n - i)
        envelope[i : i + length] = np.sin(np.pi * np.arange(length) / length) ** 0.6
        i += length + int(rng.uniform(0.03, 0.15) * 8000)
    x *= envelope
    return (x / np.abs(x).max() * 0.3 * 32767).astype(np.int16)


def _line(pcm: np.ndarray) -> np.ndarray:  # through G.711, as every inbound frame is
    return ulaw_to_pcm(pcm_to_ulaw(np.clip(pcm, -32768, 32767).astype(np.int16)))


def _delayed(pcm: np.ndarray, ms: int, gain_db: float) -> np.ndarray:
    out = np.zeros(pcm.size)
    out[ms * 8 :] = pcm[: pcm.size - ms * 8] * 10 ** (gain_db / 20)
    return out


AGENT = _voice(4.0, 110, (700, 1200, 2600), seed=1)
CALLER = _voice(2.5, 185, (400, 2000, 2900), seed=2)


def _echo_checks(far: np.ndarray, near: np.ndarray) -> list[tuple[float, bool]]:
    """(time, is_echo) for every inbound frame with sound, frames fed as a call would."""
    echo, out = EchoSuppressor(EchoConfig()), []
    for k in range(near.size // 160):
        at = 10.0 + (k + 1) * 0.02
        frame = slice(k * 160, (k + 1) * 160)
        if frame.start < far.size:
            echo.far_end(far[frame], at)
        echo.near_end(near[frame], at)
        if np.abs(near[frame]).max() > 1000:  # sound a VAD would call speech
            out.append(((k + 1) * 0.02, echo.is_echo()))
    return out


def test_own_audio_delayed_120ms_at_minus_12db_is_echo() -> None:
    checks = _echo_checks(AGENT, _line(_delayed(AGENT, 120, -12)))
    assert len(checks) > 50
    assert all(is_echo for _, is_echo in checks), "echo must be suppressed from its first frame"


def test_another_voice_over_the_agent_is_not_echo() -> None:
    near = np.zeros(AGENT.size)
    near[8000 : 8000 + CALLER.size] = CALLER * 0.7
    checks = _echo_checks(AGENT, _line(near))
    assert len(checks) > 50
    assert not any(is_echo for _, is_echo in checks)


def test_a_noise_burst_over_the_agent_is_not_echo() -> None:
    rng = np.random.default_rng(3)
    near = np.zeros(AGENT.size)
    near[12000:13200] = rng.standard_normal(1200) * 4000 * np.exp(-np.arange(1200) / 400)
    checks = _echo_checks(AGENT, _line(near))
    assert checks and not any(is_echo for _, is_echo in checks)


def test_caller_talking_over_the_echo_gets_through() -> None:
    near = _delayed(AGENT, 120, -12)
    near[16000:] += CALLER[: near.size - 16000] * 0.5  # 6 dB above the echo
    checks = _echo_checks(AGENT, _line(near))
    before = [e for at, e in checks if at < 2.0]
    first_pass = min(at for at, e in checks if at >= 2.0 and not e)
    assert all(before)
    assert first_pass - 2.0 <= 0.12


@pytest.mark.parametrize(
    ("near_of", "paused"),
    [
        pytest.param(lambda: _line(_delayed(AGENT, 120, -12)), False, id="own echo"),
        pytest.param(
            lambda: _line(np.concatenate([np.zeros(8000), CALLER * 0.7])), True, id="caller"
        ),
    ],
)
def test_echo_never_pauses_the_agent_a_caller_does(near_of, paused: bool) -> None:
    near = near_of()
    tt = TurnTaking(CFG, echo=EchoSuppressor())
    tt.on_reply_started(10.0)
    kinds = []
    for k in range(min(near.size, AGENT.size) // 160):
        at = 10.0 + (k + 1) * 0.02
        tt.on_agent_audio(AGENT[k * 160 : (k + 1) * 160], at)
        frame = near[k * 160 : (k + 1) * 160]
        loud = np.abs(frame).max() > 500  # a stand-in VAD: voice wherever loud, echo or not
        probability = (0.95 if loud else 0.02) if k % 8 in (1, 3, 4, 6, 7) else None  # 5 per 8
        kinds += [a.kind for a in tt.on_caller_audio(frame, probability, at)]
    assert ("pause" in kinds) is paused
    assert "interrupt" not in kinds or paused


class _LateEcho:
    """Recognises the echo from its third window (reverberant, delay not yet learnt)."""

    windows = 0

    def near_end(self, pcm: np.ndarray, at: float) -> None: ...

    def agent_audible(self) -> bool:
        return True

    def is_echo(self) -> bool:
        self.windows += 1
        return self.windows > 2


def test_echo_caught_late_is_retracted_and_its_words_dropped() -> None:
    tt = TurnTaking(CFG, echo=_LateEcho())  # type: ignore[arg-type]
    tt.on_reply_started(0.0)
    out = []
    for k in range(100):
        t = round(1.0 + k * W, 3)
        out += [(a.kind, round(a.at - 1.0, 3)) for a in tt.on_caller_audio(SILENT, 0.95, t)]
        if k == 30:  # the recogniser transcribes the echo of our own words
            out += [(a.kind, 0.0) for a in tt.on_transcript(Transcript("we open at nine", True), t)]
    assert [kind for kind, _ in out] == ["pause", "resume"]
    assert out[1][1] - out[0][1] <= 4 * W  # retracted within a few windows, not stop_ms later
    assert tt.turns.dropped == 1


def test_a_turn_carries_the_recognisers_lowest_confidence() -> None:
    taking = TurnTaking(CFG, vad=False)
    taking.on_transcript(Transcript("my zip is", is_final=True, confidence=0.91), 1.0)
    actions = taking.on_transcript(
        Transcript("five five one oh three", is_final=True, end_of_turn=True, confidence=0.62), 1.2
    )
    turn = next(a for a in actions if a.kind == "turn")
    assert turn.text == "my zip is five five one oh three"
    assert turn.confidence == 0.62  # the weakest part decides how sure the turn is
    silent = TurnTaking(CFG, vad=False)
    actions = silent.on_transcript(Transcript("yes", is_final=True, end_of_turn=True), 2.0)
    assert next(a for a in actions if a.kind == "turn").confidence is None  # not given
