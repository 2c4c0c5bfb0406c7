"""Caller scripts: what the softphone says and does during a call.

A script is a TOML file with a list of ``[[step]]`` tables, run in order (the
format is documented in :mod:`telephony.softphone`). Loading validates every
step up front, so a typo fails before the call is placed, with the file,
the step number and what is wrong.

Pure: parsing and validation only; audio is prepared by the call runner.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_DTMF_GAP_MS",
    "DEFAULT_QUIET_MS",
    "DEFAULT_WAIT_TIMEOUT_MS",
    "Dtmf",
    "Hangup",
    "Pause",
    "Play",
    "Say",
    "Script",
    "ScriptError",
    "Step",
    "WaitForAgent",
    "load_script",
    "parse_script",
]

DEFAULT_QUIET_MS = 1000  # longer than the pauses between the phrases of one reply
DEFAULT_WAIT_TIMEOUT_MS = 20_000  # a reply that has not started by then is not coming
DEFAULT_DTMF_GAP_MS = 200  # between the keys of one dtmf step, like a person typing
DTMF_DIGITS = frozenset("0123456789*#")  # the keys Twilio reports in dtmf events


class ScriptError(ValueError):
    """A script file is unreadable or invalid; the message names file and step."""


@dataclass(frozen=True, slots=True)
class Say:
    """Speak ``text`` in the caller's synthetic voice.

    Attributes:
        number: 1-based position in the script (for messages).
        text: What the caller says.
        barge_in_after_ms: If set, start speaking this long after the agent's
            next audio arrives (interrupting it) instead of at once.
        timeout_ms: With ``barge_in_after_ms``: how long to wait for the agent
            to start speaking before speaking anyway.
    """

    number: int
    text: str
    barge_in_after_ms: int | None = None
    timeout_ms: int = DEFAULT_WAIT_TIMEOUT_MS


@dataclass(frozen=True, slots=True)
class Play:
    """Play a WAV file as the caller's audio (any rate, width, channel count).

    Attributes are those of :class:`Say`, with ``path`` (resolved against the
    script's folder) instead of ``text``.
    """

    number: int
    path: Path
    barge_in_after_ms: int | None = None
    timeout_ms: int = DEFAULT_WAIT_TIMEOUT_MS


@dataclass(frozen=True, slots=True)
class Pause:
    """Send ``ms`` milliseconds of silence."""

    number: int
    ms: int


@dataclass(frozen=True, slots=True)
class Dtmf:
    """Press keys: one Twilio ``dtmf`` event per digit.

    Attributes:
        number: 1-based position in the script (for messages).
        digits: The keys, in order (0-9, ``*``, ``#``).
        gap_ms: Time from one key to the next (rounded to the 20 ms frame).
    """

    number: int
    digits: str
    gap_ms: int = DEFAULT_DTMF_GAP_MS


@dataclass(frozen=True, slots=True)
class WaitForAgent:
    """Wait until the agent has spoken and then stayed quiet for ``quiet_ms``.

    "Spoken" means agent audio played after the caller's last utterance or
    key press (or after the call started, before the first one). After
    ``timeout_ms`` the script goes on and the call result carries a warning.
    """

    number: int
    quiet_ms: int = DEFAULT_QUIET_MS
    timeout_ms: int = DEFAULT_WAIT_TIMEOUT_MS


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call: send ``stop`` and close the socket (always the last step)."""

    number: int


Step = Say | Play | Pause | Dtmf | WaitForAgent | Hangup


@dataclass(frozen=True, slots=True)
class Script:
    """A validated caller script.

    Attributes:
        steps: The steps in order.
        source: Where it came from (a path, or ``"<string>"``), for messages.
        description: The optional top-level ``description``.
    """

    steps: tuple[Step, ...]
    source: str = "<string>"
    description: str = ""

    @property
    def texts(self) -> list[str]:
        """Every distinct ``say`` text, in order (what the TTS must synthesise)."""
        seen: dict[str, None] = {}
        for step in self.steps:
            if isinstance(step, Say):
                seen.setdefault(step.text, None)
        return list(seen)


_ACTIONS = ("say", "play", "pause_ms", "dtmf", "wait_for_agent", "hangup")
_MODIFIERS = {  # modifier key -> the actions it may accompany
    "barge_in_after_ms": ("say", "play"),
    "timeout_ms": ("say", "play", "wait_for_agent"),
    "quiet_ms": ("wait_for_agent",),
    "dtmf_gap_ms": ("dtmf",),
}
_TOP_LEVEL = ("description", "step")


def load_script(path: str | Path) -> Script:
    """Read and validate a script file.

    Args:
        path: A TOML script. ``play`` paths inside it are relative to its folder.

    Raises:
        ScriptError: The file is missing, not TOML, or a step is invalid.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read script: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScriptError(f"{path}: not a UTF-8 text file") from None
    return parse_script(text, source=str(path), base_dir=path.parent)


def parse_script(text: str, *, source: str = "<string>", base_dir: Path | None = None) -> Script:
    """Parse and validate a script given as TOML text.

    Args:
        text: The TOML document.
        source: Name used in error messages.
        base_dir: Folder that relative ``play`` paths are resolved against
            (default: the current directory).

    Raises:
        ScriptError: The text is not TOML or a step is invalid.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScriptError(f"{source}: invalid TOML: {exc}") from None
    return _build(data, source, base_dir or Path.cwd())


def _build(data: Mapping[str, Any], source: str, base_dir: Path) -> Script:
    unknown = sorted(set(data) - set(_TOP_LEVEL))
    if unknown:
        raise ScriptError(
            f"{source}: unknown top-level key {unknown[0]!r} "
            "(expected [[step]] tables and an optional description)"
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ScriptError(f"{source}: description must be a string")
    raw_steps = data.get("step")
    if not raw_steps:
        raise ScriptError(f"{source}: no steps (add at least one [[step]] table)")
    if not isinstance(raw_steps, list) or not all(isinstance(s, dict) for s in raw_steps):
        raise ScriptError(f"{source}: 'step' must be an array of tables ([[step]])")
    steps = []
    for number, raw in enumerate(raw_steps, start=1):
        try:
            steps.append(_build_step(number, raw, base_dir))
        except ScriptError as exc:
            raise ScriptError(f"{source}: step {number}: {exc}") from None
    for step in steps[:-1]:
        if isinstance(step, Hangup):
            raise ScriptError(f"{source}: step {step.number}: hangup must be the last step")
    return Script(steps=tuple(steps), source=source, description=description)


def _build_step(number: int, raw: Mapping[str, Any], base_dir: Path) -> Step:
    allowed = set(_ACTIONS) | set(_MODIFIERS)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ScriptError(
            f"unknown key {unknown[0]!r} (expected one of: {', '.join(sorted(allowed))})"
        )
    actions = [key for key in _ACTIONS if key in raw]
    if len(actions) != 1:
        what = "no action" if not actions else f"several actions ({', '.join(actions)})"
        raise ScriptError(f"{what}: a step takes exactly one of {', '.join(_ACTIONS)}")
    action = actions[0]
    for key, actions_ok in _MODIFIERS.items():
        if key in raw and action not in actions_ok:
            raise ScriptError(
                f"{key} does not go with {action} (only with {' or '.join(actions_ok)})"
            )
    value = raw[action]
    if action == "say":
        if not isinstance(value, str) or not value.strip():
            raise ScriptError("say must be a non-empty string")
        return Say(number, value.strip(), *_barge_in(raw))
    if action == "play":
        if not isinstance(value, str) or not value:
            raise ScriptError("play must be a path to a WAV file")
        path = (base_dir / value).resolve()
        if not path.is_file():
            raise ScriptError(f"play file not found: {path}")
        return Play(number, path, *_barge_in(raw))
    if action == "pause_ms":
        return Pause(number, _positive_int("pause_ms", value))
    if action == "dtmf":
        if not isinstance(value, str) or not value or set(value) - DTMF_DIGITS:
            raise ScriptError(f"dtmf must be a string of keys 0-9, * and #, got {value!r}")
        gap = _positive_int("dtmf_gap_ms", raw.get("dtmf_gap_ms", DEFAULT_DTMF_GAP_MS))
        return Dtmf(number, value, gap)
    if action == "wait_for_agent":
        if value is not True:
            raise ScriptError(f"wait_for_agent must be true, got {value!r}")
        return WaitForAgent(
            number,
            quiet_ms=_positive_int("quiet_ms", raw.get("quiet_ms", DEFAULT_QUIET_MS)),
            timeout_ms=_positive_int("timeout_ms", raw.get("timeout_ms", DEFAULT_WAIT_TIMEOUT_MS)),
        )
    if value is not True:
        raise ScriptError(f"hangup must be true, got {value!r}")
    return Hangup(number)


def _barge_in(raw: Mapping[str, Any]) -> tuple[int | None, int]:
    timeout = _positive_int("timeout_ms", raw.get("timeout_ms", DEFAULT_WAIT_TIMEOUT_MS))
    if "barge_in_after_ms" not in raw:
        if "timeout_ms" in raw:
            raise ScriptError("timeout_ms on say/play only applies with barge_in_after_ms")
        return None, timeout
    return _non_negative_int("barge_in_after_ms", raw["barge_in_after_ms"]), timeout


def _non_negative_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ScriptError(f"{key} must be a whole number of milliseconds >= 0, got {value!r}")
    return value


def _positive_int(key: str, value: Any) -> int:
    number = _non_negative_int(key, value)
    if number == 0:
        raise ScriptError(f"{key} must be a whole number of milliseconds > 0, got {value!r}")
    return number
