"""Turn-taking: who has the floor, decided from voice activity, transcripts and time.

How it works. Four small machines take events stamped with clock time and say
what must happen now: :class:`SpeechGate` (VAD hysteresis), :class:`TurnDetector`
(end of the caller's turn), :class:`BargeIn` (pause, then confirm or resume),
:class:`SilenceWatcher` (reprompt, then hang up). :class:`TurnTaking` wires them
for one call; the session executes its :class:`TurnAction` items. Pure: no
asyncio, no I/O; times are clock seconds, settings milliseconds.

Backchannels ("mhm", "uh huh", "okay", "right", "yeah", "yes", "sure") never
interrupt. "yes" is one on purpose: said over a read-back ("Tuesday at
three" - "yes" - "with the doctor") it is agreement, and cutting the read-back
would confirm what the caller never heard. It is not lost: said over a reply
that ends with a question, within ``early_answer_ms`` of its end, it becomes
the answer; otherwise it is dropped. "no", "wait", "hello" interrupt. Echo
(:mod:`telephony.call.echo`) is silence to the gate; an utterance that turns out to
be mostly echo is retracted: resumed at once, its transcript dropped.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from spoken.numbers import NUMBER_WORDS
from telephony.call.echo import EchoSuppressor
from telephony.speech.base import Transcript

__all__ = [
    "BACKCHANNELS",
    "FILLERS",
    "BargeAction",
    "BargeIn",
    "BargeState",
    "SilenceAction",
    "SilenceWatcher",
    "SpeechEvent",
    "SpeechGate",
    "TurnAction",
    "TurnConfig",
    "TurnDetector",
    "TurnEnd",
    "TurnTaking",
    "interrupts",
    "is_unfinished",
]

VAD_WINDOW_MS = 32  # Silero's window at 8 kHz; the gate counts audio time in these
_MIN_ECHO_WINDOWS = 3  # echo windows before an utterance may be retracted as echo
EndReason = Literal["silence", "unfinished", "engine", "hold"]  # hold: VAD never went quiet
BargeAction = Literal["pause", "resume", "confirm"]
"""pause: stop sending agent audio (keep it); resume: send from where it paused;
confirm: clear, cancel the reply and its graph run, record what was heard."""
SilenceAction = Literal["reprompt", "hangup"]


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _due(deadline: float | None, now: float) -> bool:
    return deadline is not None and now >= deadline


FILLERS = _wordset("um umm uh uhm er erm ah eh hm hmm mm")  # neither interrupt nor end a turn

BACKCHANNELS = _wordset(
    "mhm mmhmm uhhuh okay ok kay right alright yeah yep yup yes sure gotcha gotit isee "
    "cool great thanks thankyou oh"
)  # listener feedback: never interrupts the agent (two-word forms are joined first)

_JOINED = {("uh", "huh"): "uhhuh", ("mm", "hmm"): "mhm", ("got", "it"): "gotit"}
_JOINED |= {("i", "see"): "isee", ("all", "right"): "alright", ("thank", "you"): "thankyou"}
_UNFINISHED = (
    FILLERS
    | _wordset(
        "and or but so because cause then plus the a an my your our at on in for to with of "
        "from about by until after before around like is are was"
    )
    | NUMBER_WORDS  # "my number is four one five": more digits are coming
)  # a speaker who stops on one of these (or on digits) is usually not done
_WORD = re.compile(r"[a-z0-9']+")


def _words(text: str) -> list[str]:
    """Lower-case words with two-word backchannels joined ("uh huh" -> "uhhuh")."""
    out: list[str] = []
    for word in _WORD.findall(text.lower().replace("-", " ")):
        joined = _JOINED.get((out[-1], word)) if out else None
        if joined:
            out[-1] = joined
        else:
            out.append(word)
    return out


def interrupts(text: str) -> bool:
    """Whether ``text`` holds a word that takes the floor (not a backchannel or filler)."""
    return any(w not in BACKCHANNELS and w not in FILLERS for w in _words(text))


def is_unfinished(text: str) -> bool:
    """Whether ``text`` ends where a speaker usually goes on ("... and", "at three")."""
    words = _words(text)
    return bool(words) and (words[-1] in _UNFINISHED or words[-1].isdigit())


@dataclass(frozen=True, slots=True)
class TurnConfig:
    """Every turn-taking threshold; durations in ms (settings ``DIALGRAPH_...``)."""

    start_threshold: float = 0.5  # VAD probability that counts as voice (Silero's default)
    stop_threshold: float = 0.35  # below it a window is silence; the gap is the hysteresis
    start_ms: int = 64  # voice before speech starts: two windows, so one click cannot pause
    stop_ms: int = 192  # silence before speech stops: holds through gaps between words
    end_silence_ms: int = 300  # silence after the speech that ends a turn with a final
    unfinished_silence_ms: int = 800  # the same when the words end unfinished ("at three")
    final_hold_ms: int = 2000  # longest wait for VAD silence after the last new words
    confirm_ms: int = 500  # voice that confirms a barge-in: longer than "mhm" (250-450 ms)
    resume_after_ms: int = 1200  # longest pause of the agent without confirmation
    late_word_ms: int = 1000  # after a resume, a recognised word still interrupts this long
    early_answer_ms: int = 1500  # a backchannel this near the end of a question answers it
    reprompt_after_ms: int = 7000  # caller silence after a reply before a reprompt
    silence_reprompts: int = 1  # reprompts before the call is ended politely
    echo_dominates: float = 0.75  # echo share retracting an utterance (double talk: 30-70 %)

    def __post_init__(self) -> None:
        if not 0.0 <= self.stop_threshold <= self.start_threshold <= 1.0:
            raise ValueError("TurnConfig needs 0 <= stop_threshold <= start_threshold <= 1")
        if self.end_silence_ms > self.unfinished_silence_ms:
            raise ValueError("TurnConfig unfinished_silence_ms must be >= end_silence_ms")
        if self.confirm_ms > self.resume_after_ms:
            raise ValueError("TurnConfig resume_after_ms must be >= confirm_ms")
        if min(self.start_ms, self.stop_ms, self.reprompt_after_ms) <= 0:
            raise ValueError("TurnConfig start_ms, stop_ms and reprompt_after_ms must be > 0")


@dataclass(frozen=True, slots=True)
class SpeechEvent:
    """Speech started (``speaking``) or stopped: decided at ``at``, really at ``edge``."""

    speaking: bool
    at: float
    edge: float


class SpeechGate:
    """VAD probabilities -> speech start/stop events, with hysteresis.

    Windows at or above ``start_threshold`` count towards a start, windows below
    ``stop_threshold`` reset the count, others do neither; in speech, ``stop_ms`` of
    windows below ``stop_threshold`` stop it. Time is counted in windows (audio time).
    """

    def __init__(self, config: TurnConfig | None = None, *, window_ms: int = VAD_WINDOW_MS):
        self.config = config = config or TurnConfig()
        self._window_s = window_ms / 1000
        self._need_start = max(1, math.ceil(config.start_ms / window_ms))
        self._need_stop = max(1, math.ceil(config.stop_ms / window_ms))
        self.reset()

    def reset(self) -> None:
        """Back to silence, forgetting any count."""
        self.speaking = False
        self.voiced = False  # the newest window reached start_threshold
        self._run = self._quiet = 0
        self._run_from = self._sound_until = 0.0

    def update(self, probability: float, now: float) -> SpeechEvent | None:
        """Feed one window's probability (``now``: when the window ended)."""
        cfg = self.config
        self.voiced = probability >= cfg.start_threshold
        if probability >= cfg.stop_threshold:
            self._quiet, self._sound_until = 0, now
        else:
            self._quiet += 1
        if self.speaking:
            if self._quiet < self._need_stop:
                return None
            self.speaking, self._quiet = False, 0
            return SpeechEvent(False, now, self._sound_until)
        if self.voiced:
            if self._run == 0:
                self._run_from = now - self._window_s
            self._run += 1
            if self._run >= self._need_start:
                self.speaking, self._run = True, 0
                return SpeechEvent(True, now, self._run_from)
        elif probability < cfg.stop_threshold:
            self._run = 0
        return None


@dataclass(frozen=True, slots=True)
class TurnEnd:
    """The caller's turn is over: its finals joined, when, why (``EndReason``), its onset,
    and the recogniser's confidence (the lowest of its finals'; ``None`` if not given)."""

    text: str
    at: float
    reason: EndReason
    onset: float | None = None
    confidence: float | None = None


class TurnDetector:
    """Transcripts + speech events + time -> the end of the caller's turn.

    With ``vad``, transcripts arriving when the VAD heard no speech since the last turn
    are dropped (recogniser noise, our echo); without, a final counts as end_silence_ms.
    """

    def __init__(self, config: TurnConfig | None = None, *, vad: bool = True) -> None:
        self.config = config or TurnConfig()
        self.vad = vad
        self.dropped = 0  # transcripts dropped for lack of heard speech
        self._speaking = False
        self._silent_since: float | None = None
        self._words_at = 0.0
        self.discard()

    def discard(self) -> None:
        """Forget the turn in progress, and that speech was heard (it was echo)."""
        self._finals: list[str] = []
        self._confidences: list[float] = []
        self._partial = ""
        self._onset: float | None = None
        self._speech_seen = self._speaking

    @property
    def text(self) -> str:
        """The turn's final transcripts so far."""
        return " ".join(self._finals)

    def on_speech(self, event: SpeechEvent) -> None:
        """Note a speech start or stop from the gate."""
        self._speaking = event.speaking
        if event.speaking:
            self._speech_seen, self._silent_since = True, None
            if self._onset is None:
                self._onset = event.edge
        else:
            self._silent_since = event.edge

    def on_transcript(self, transcript: Transcript, now: float) -> TurnEnd | None:
        """Take a partial or final transcript; return the turn's end if this completes it."""
        text = " ".join(transcript.text.split())
        if self.vad and not self._speech_seen:
            self.dropped += bool(text)
            return None
        if not (transcript.is_final or transcript.end_of_turn):
            if text != self._partial:
                self._partial, self._words_at = text, now
            return None
        self._partial = ""
        if text:
            self._finals.append(text)
            self._words_at = now
            if transcript.confidence is not None:
                self._confidences.append(transcript.confidence)
        if not self.vad:  # the engine's own endpointer already waited out a silence
            self._silent_since = now - self.config.end_silence_ms / 1000
        if transcript.end_of_turn and self._finals:
            return self._end(now, "engine")
        return self.poll(now)

    def _holding(self) -> bool:  # the caller may still be talking
        return self._speaking or bool(self._partial) or self._silent_since is None

    def deadline(self) -> float | None:
        """When :meth:`poll` may next end the turn, or ``None`` if it cannot yet."""
        if not self._finals:
            return None
        if self._holding():
            return self._words_at + self.config.final_hold_ms / 1000
        cfg, unfinished = self.config, is_unfinished(self._finals[-1])
        wait = cfg.unfinished_silence_ms if unfinished else cfg.end_silence_ms
        return self._silent_since + wait / 1000  # type: ignore[operator]

    def poll(self, now: float) -> TurnEnd | None:
        """Return the turn's end if its silence has lasted long enough by ``now``."""
        if not _due(self.deadline(), now):
            return None
        if self._holding():
            return self._end(now, "hold")
        return self._end(now, "unfinished" if is_unfinished(self._finals[-1]) else "silence")

    def _end(self, now: float, reason: EndReason) -> TurnEnd:
        confidence = min(self._confidences) if self._confidences else None
        end = TurnEnd(self.text, now, reason, self._onset, confidence)
        self.discard()
        return end


class BargeState(enum.Enum):
    """Where a barge-in decision stands."""

    IDLE = "idle"  # nothing to judge
    PAUSED = "paused"  # caller sound over the agent: sending stopped, judging
    RESUMED = "resumed"  # judged no interruption; a late word may still confirm
    CONFIRMED = "confirmed"  # an interruption: the reply is cut (until the speech ends)


# Rule 1 (as in h11): every transition is here; an event without an entry changes nothing.
_BARGE: dict[tuple[BargeState, str], tuple[BargeState, BargeAction | None]] = {
    (BargeState.IDLE, "onset"): (BargeState.PAUSED, "pause"),
    (BargeState.RESUMED, "onset"): (BargeState.PAUSED, "pause"),
    (BargeState.PAUSED, "word"): (BargeState.CONFIRMED, "confirm"),
    (BargeState.PAUSED, "long"): (BargeState.CONFIRMED, "confirm"),
    (BargeState.PAUSED, "stop"): (BargeState.RESUMED, "resume"),
    (BargeState.PAUSED, "timeout"): (BargeState.RESUMED, "resume"),
    (BargeState.PAUSED, "echo"): (BargeState.IDLE, "resume"),
    (BargeState.RESUMED, "word"): (BargeState.CONFIRMED, "confirm"),
    (BargeState.RESUMED, "expire"): (BargeState.IDLE, None),
    (BargeState.RESUMED, "echo"): (BargeState.IDLE, None),
    (BargeState.CONFIRMED, "stop"): (BargeState.IDLE, None),
}


class BargeIn:
    """The two-step barge-in decision (module docstring; transitions in ``_BARGE``)."""

    def __init__(self, config: TurnConfig | None = None) -> None:
        self.config = config or TurnConfig()
        self.state = BargeState.IDLE
        self._onset = self._since = 0.0  # speech edge; when the state was entered
        self._backchannel = False  # only backchannels recognised: no confirm by duration

    def _fire(self, event: str, now: float) -> BargeAction | None:
        step = _BARGE.get((self.state, event))
        if step is None:
            return None
        self.state, action = step
        self._since = now
        return action

    def on_speech_start(
        self, now: float, *, agent_speaking: bool, onset: float | None = None
    ) -> BargeAction | None:
        """Speech began (``onset``: its edge): PAUSE if the agent holds the floor."""
        if not agent_speaking:
            return None
        self._onset = now if onset is None else onset
        self._backchannel = False
        return self._fire("onset", now)

    def on_voice(self, now: float) -> BargeAction | None:
        """A voiced window during speech: CONFIRM once voiced for ``confirm_ms``."""
        if self._backchannel or now - self._onset < self.config.confirm_ms / 1000:
            return None
        return self._fire("long", now)

    def on_speech_stop(self, now: float) -> BargeAction | None:
        """Speech ended: RESUME if unconfirmed."""
        return self._fire("stop", now)

    def on_words(self, text: str, now: float) -> BargeAction | None:
        """Recognised words (partial or final): CONFIRM on a word that takes the floor."""
        if interrupts(text):
            return self._fire("word", now)
        self._backchannel = self._backchannel or bool(_words(text))  # feedback only
        return None

    def on_echo(self, now: float) -> BargeAction | None:
        """The speech was our own echo: RESUME at once, no late words."""
        return self._fire("echo", now)

    def on_agent_done(self) -> None:
        """The reply ended (heard or cut): nothing is left to pause or resume."""
        self.state = BargeState.IDLE

    def deadline(self) -> float | None:
        """When :meth:`poll` may act next."""
        if self.state is BargeState.PAUSED:
            return self._since + self.config.resume_after_ms / 1000
        if self.state is BargeState.RESUMED:
            return self._since + self.config.late_word_ms / 1000
        return None

    def poll(self, now: float) -> BargeAction | None:
        """RESUME a pause left unconfirmed too long; close the late-word window."""
        if not _due(self.deadline(), now):
            return None
        return self._fire("timeout" if self.state is BargeState.PAUSED else "expire", now)


class SilenceWatcher:
    """Counts caller silence after the agent finished: reprompt, then hang up."""

    def __init__(self, config: TurnConfig | None = None) -> None:
        self.config = config or TurnConfig()
        self.strikes = 0
        self._since: float | None = None
        self._agent_busy = self._caller_speaking = False

    def on_agent_busy(self) -> None:
        """A reply started: no silence is counted while the agent has the floor."""
        self._agent_busy, self._since = True, None

    def on_agent_idle(self, now: float) -> None:
        """The reply ended: the caller's silence counts from ``now``."""
        self._agent_busy = False
        if not self._caller_speaking:
            self._since = now

    def on_caller_speech(self, event: SpeechEvent) -> None:
        """Caller speech resets the count; silence counts again when it stops."""
        self._caller_speaking = event.speaking
        if event.speaking:
            self.strikes, self._since = 0, None
        elif not self._agent_busy:
            self._since = event.at

    def on_caller_input(self, now: float) -> None:
        """Keypad digits, or words without a VAD: the caller is there."""
        self.strikes = 0
        if not self._agent_busy and not self._caller_speaking:
            self._since = now

    def deadline(self) -> float | None:
        """When :meth:`poll` may act next."""
        return None if self._since is None else self._since + self.config.reprompt_after_ms / 1000

    def poll(self, now: float) -> SilenceAction | None:
        """REPROMPT (after ``silence_reprompts`` of them: HANGUP) once silent long enough."""
        if not _due(self.deadline(), now):
            return None
        self._since = None  # counting resumes once the reprompt has been spoken
        self.strikes += 1
        return "hangup" if self.strikes > self.config.silence_reprompts else "reprompt"


@dataclass(frozen=True, slots=True)
class TurnAction:
    """Something the session must do now: ``pause``/``resume`` sending agent audio,
    ``interrupt`` the reply (as ``confirm``), give ``text`` to the agent as the caller's
    ``turn``, ``reprompt`` (the agent responds to silence), ``hangup`` politely."""

    kind: Literal["pause", "resume", "interrupt", "turn", "reprompt", "hangup"]
    at: float
    text: str = ""
    reason: str = ""
    confidence: float | None = None  # a turn's recogniser confidence, if the engine gave one


class TurnTaking:
    """One call's turn-taking: feed audio, transcripts and reply events; do the actions.

    ``echo``: a suppressor fed by the two audio methods, or ``None`` to trust the
    line; ``vad``: whether VAD probabilities are fed (see :class:`TurnDetector`).
    """

    def __init__(
        self,
        config: TurnConfig | None = None,
        *,
        echo: EchoSuppressor | None = None,
        vad: bool = True,
    ) -> None:
        self.config = config = config or TurnConfig()
        self.gate = SpeechGate(config)
        self.turns = TurnDetector(config, vad=vad)
        self.barge = BargeIn(config)
        self.silence = SilenceWatcher(config)
        self.echo = echo
        self.agent_busy = False
        self.dropped_backchannels = 0
        self._overlap = False  # the pending turn began over the agent, unconfirmed
        self._held: TurnEnd | None = None  # a backchannel said over a reply still playing
        self._asked_at: float | None = None  # end of the last reply, if it asked a question
        self._windows = self._echo_windows = 0  # speech windows of this utterance; echo ones

    def on_caller_audio(
        self, pcm: np.ndarray, probability: float | None, now: float
    ) -> list[TurnAction]:
        """One inbound frame and its VAD result (``None``: no window completed)."""
        if self.echo is not None:
            self.echo.near_end(pcm, now)
        actions = [] if probability is None else self._on_window(probability, now)
        return actions + self.poll(now)

    def on_agent_audio(self, pcm: np.ndarray, plays_at: float) -> None:
        """One outbound frame; ``plays_at``: when its last sample plays (echo reference)."""
        if self.echo is not None:
            self.echo.far_end(pcm, plays_at)

    def on_transcript(self, transcript: Transcript, now: float) -> list[TurnAction]:
        """A partial or final transcript from the recogniser."""
        actions: list[TurnAction] = []
        if transcript.text.strip():
            if not self.turns.vad:
                self.silence.on_caller_input(now)
            if self.barge.state in (BargeState.PAUSED, BargeState.RESUMED):
                actions += self._barge(self.barge.on_words(transcript.text, now), now, "word")
        end = self.turns.on_transcript(transcript, now)
        return actions if end is None else actions + self._on_turn_end(end, now)

    def on_dtmf(self, now: float) -> None:
        """The caller pressed a key (the session delivers the digit itself)."""
        self.silence.on_caller_input(now)

    def on_reply_started(self, now: float) -> None:
        """A reply began: the agent holds the floor until it is heard or cut."""
        self.agent_busy = True
        self.silence.on_agent_busy()

    def on_reply_finished(self, now: float, heard: str) -> list[TurnAction]:
        """The caller heard the whole reply (``heard``); may deliver a held answer."""
        self._reply_over(now)
        self._asked_at = now if heard.rstrip().endswith("?") else None
        held, self._held = self._held, None
        return [] if held is None else self._backchannel_turn(held, now)

    def on_reply_interrupted(self, now: float) -> None:
        """The reply was cut (barge-in or new input); a held backchannel is dropped."""
        self._reply_over(now)
        self.dropped_backchannels += self._held is not None
        self._held = None

    def poll(self, now: float) -> list[TurnAction]:
        """Timers: resume an unconfirmed pause, end a turn, reprompt or hang up."""
        actions = self._barge(self.barge.poll(now), now, "timeout")
        end = self.turns.poll(now)
        if end is not None:
            actions += self._on_turn_end(end, now)
        silent = self.silence.poll(now)
        return actions + ([TurnAction(silent, now, reason="caller silent")] if silent else [])

    def deadline(self) -> float | None:
        """The earliest time :meth:`poll` may act (for a timer when no audio flows)."""
        due = (self.barge.deadline(), self.turns.deadline(), self.silence.deadline())
        return min((d for d in due if d is not None), default=None)

    def _reply_over(self, now: float) -> None:
        self.agent_busy, self._asked_at = False, None
        self.barge.on_agent_done()
        self.silence.on_agent_idle(now)

    def _on_window(self, probability: float, now: float) -> list[TurnAction]:
        echo = self.echo
        heard = probability >= self.config.stop_threshold
        if heard and echo is not None and echo.agent_audible() and echo.is_echo():
            probability = 0.0  # our own voice: silence to the gate
            self._echo_windows += 1
        self._windows += heard and self.gate.speaking
        event = self.gate.update(probability, now)
        if event is not None:
            return self._on_speech(event)
        if not self.gate.speaking:
            return []
        if self._echo_windows >= max(_MIN_ECHO_WINDOWS, self.config.echo_dominates * self._windows):
            return self._retract(now)
        if self.gate.voiced:
            return self._barge(self.barge.on_voice(now), now, "duration")
        return []

    def _retract(self, now: float) -> list[TurnAction]:
        """The utterance was our echo: close the gate, resume, forget its words."""
        self.gate.reset()
        event = SpeechEvent(False, now, now)
        self.turns.on_speech(event)
        self.silence.on_caller_speech(event)
        self.turns.discard()
        self._overlap = False
        return self._barge(self.barge.on_echo(now), now, "echo")

    def _on_speech(self, event: SpeechEvent) -> list[TurnAction]:
        self.turns.on_speech(event)
        self.silence.on_caller_speech(event)
        if not event.speaking:
            return self._barge(self.barge.on_speech_stop(event.at), event.at, "speech ended")
        self._windows, self._echo_windows = 1, 0
        busy = self.agent_busy
        action = self.barge.on_speech_start(event.at, agent_speaking=busy, onset=event.edge)
        # A pending turn keeps its overlap; a fresh one overlaps only if it paused the agent.
        self._overlap = action == "pause" or (self._overlap and bool(self.turns.text))
        return self._barge(action, event.at, "speech onset")

    def _barge(self, action: BargeAction | None, now: float, why: str) -> list[TurnAction]:
        if action is None:
            return []
        if action == "confirm":
            self._overlap = False
            return [TurnAction("interrupt", now, reason=f"barge-in ({why})")]
        return [TurnAction(action, now, reason=why)]

    def _on_turn_end(self, end: TurnEnd, now: float) -> list[TurnAction]:
        overlap, self._overlap = self._overlap, False
        if not overlap or interrupts(end.text):
            return [TurnAction("turn", now, end.text, end.reason, end.confidence)]
        if self.agent_busy:  # a backchannel over a reply still playing: judge it at the end
            self._held = end
            return []
        return self._backchannel_turn(end, now)

    def _backchannel_turn(self, end: TurnEnd, now: float) -> list[TurnAction]:
        """Deliver a backchannel as the answer to a question just asked, else drop it."""
        said = end.onset if end.onset is not None else end.at
        asked = self._asked_at
        if asked is not None and said >= asked - self.config.early_answer_ms / 1000:
            return [TurnAction("turn", now, end.text, "early answer", end.confidence)]
        self.dropped_backchannels += 1
        return []
