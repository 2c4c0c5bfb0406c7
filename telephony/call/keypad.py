"""Keypad entries: keys pressed one by one, collected into one caller turn.

How it works. Like Twilio's ``<Gather input="dtmf">``. With a reply, the agent
may ask for an entry (a :class:`DigitRequest`: how many digits, which key
finishes, how long a pause ends it). The session arms a
:class:`KeypadCollector` with it (:meth:`~KeypadCollector.expect`) as soon as
the reply's text is produced, so keys pressed during the prompt count. Every
key then goes to :meth:`~KeypadCollector.on_key`. The entry ends:

- on the finish key (``#`` by default; not part of the entry);
- at ``max_digits`` (``0``: no limit);
- after a pause of ``timeout_s`` since the last key (:meth:`~KeypadCollector.poll`,
  driven by the session's timer loop at :meth:`~KeypadCollector.deadline`).

An entry has at least ``min_digits`` digits, so the agent never has to check:
a finish key pressed before then is ignored (a stray ``#``), and a pause that
ends a shorter entry drops it. The wait for the first key is ``timeout_s`` too,
counted from the end of the prompt (:meth:`~KeypadCollector.on_prompt_ended`);
if no key comes, the collector disarms and returns nothing, and turn-taking's
silence handling applies as usual (the agent reprompts). :meth:`cancel` drops
the entry (the caller spoke instead). When not armed, every key is returned at
once: single-key menus work as they always did.

Pure: no asyncio, no I/O; times are clock seconds passed in, as in
:mod:`telephony.call.turns`. Nothing here logs: the digits may be a card number.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

__all__ = [
    "KEYPAD_KEYS",
    "MAX_ENTRY_KEYS",
    "MAX_TIMEOUT_S",
    "DigitRequest",
    "EntryEnd",
    "KeypadCollector",
    "KeypadState",
    "parse_request",
]

KEYPAD_KEYS = frozenset("0123456789*#")  # the keys Twilio reports in dtmf events
MAX_ENTRY_KEYS = 64  # longer than any number a caller types (cards 19, IBANs 34): a stuck key
MAX_TIMEOUT_S = 60.0  # a longer pause between keys is a caller who has gone, not one typing

EntryEnd = Literal["finish_key", "max_digits", "timeout", "too_short", "no_key", "cancelled"]
"""Why a collection ended: with an entry (the first three) or without one."""


@dataclass(frozen=True, slots=True)
class DigitRequest:
    """What the agent expects the caller to key next.

    Attributes:
        max_digits: The entry ends when this many digits were keyed (0: no limit).
        min_digits: The fewest digits an entry has; a finish key pressed earlier
            is ignored and a pause ending a shorter entry drops it.
        finish_on_key: The key that ends the entry (``""``: none). It is not
            part of the entry; a digit key may be chosen, as with ``<Gather>``.
        timeout_s: The pause after a key that ends the entry; also how long the
            first key may take once the prompt ended.

    Raises:
        ValueError: A value is out of range (see :func:`parse_request` for the
            lenient way in from an agent's plain mapping).
    """

    max_digits: int = 0
    min_digits: int = 1
    finish_on_key: str = "#"
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("max_digits", "min_digits"):
            value = getattr(self, name)
            if not _is_int(value) or not 0 <= value <= MAX_ENTRY_KEYS:
                raise ValueError(f"{name} must be a whole number from 0 to {MAX_ENTRY_KEYS}")
        if self.max_digits and self.min_digits > self.max_digits:
            raise ValueError("min_digits must not exceed max_digits")
        if not isinstance(self.finish_on_key, str) or (
            self.finish_on_key and self.finish_on_key not in KEYPAD_KEYS
        ):
            raise ValueError("finish_on_key must be one key of 0-9, * and #, or empty")
        timeout = self.timeout_s
        if not _is_number(timeout) or not 0 < timeout <= MAX_TIMEOUT_S:
            raise ValueError(f"timeout_s must be a number of seconds in (0, {MAX_TIMEOUT_S:g}]")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_FIELDS = tuple(f.name for f in fields(DigitRequest))
# Keys of an ``Expect`` mapping that are for the recogniser, not the keypad.
_SPEECH_KEYS = frozenset({"kind", "hints", "choices"})


def parse_request(spec: Mapping[str, Any]) -> tuple[DigitRequest, tuple[str, ...]]:
    """Build a request from an agent's plain mapping, falling back to defaults.

    Agents (``graphs``) do not import this module, so they describe the entry
    as ``{"kind": "digits", "max_digits": 6, ...}``. Missing keys take their
    defaults; a bad value takes its default too, and its key is reported.

    Returns:
        The request, and the keys that were rejected (bad values, unknown keys),
        for one warning line.
    """
    values: dict[str, Any] = {}
    rejected = [str(key)[:40] for key in spec if key not in _FIELDS and key not in _SPEECH_KEYS]
    for name in _FIELDS:
        if name not in spec:
            continue
        try:
            DigitRequest(**{name: spec[name]})  # this value alone, with the other defaults
        except ValueError:
            rejected.append(name)
            continue
        values[name] = float(spec[name]) if name == "timeout_s" else spec[name]
    try:
        return DigitRequest(**values), tuple(rejected)
    except ValueError:  # each valid alone, not together: min_digits > max_digits
        del values["min_digits"]
        return DigitRequest(**values), (*rejected, "min_digits")


class KeypadState(enum.Enum):
    """Where a collection stands."""

    IDLE = "idle"  # not armed: every key is its own input
    PROMPTING = "prompting"  # armed while the prompt plays: no timer yet
    WAITING = "waiting"  # the prompt ended: timeout_s for the first key
    KEYING = "keying"  # keys came: each restarts the timeout_s pause


_ARMED = (KeypadState.PROMPTING, KeypadState.WAITING, KeypadState.KEYING)

# Rule 1 (as in h11): every transition is here; an event without an entry changes nothing.
_KEYPAD: dict[tuple[KeypadState, str], KeypadState] = {
    **{(state, "expect"): KeypadState.PROMPTING for state in KeypadState},
    (KeypadState.PROMPTING, "prompt_ended"): KeypadState.WAITING,
    **{(state, "key"): KeypadState.KEYING for state in _ARMED},
    (KeypadState.KEYING, "entry"): KeypadState.IDLE,  # finish key or max_digits
    (KeypadState.WAITING, "timeout"): KeypadState.IDLE,
    (KeypadState.KEYING, "timeout"): KeypadState.IDLE,
    **{(state, "cancel"): KeypadState.IDLE for state in _ARMED},
}


class KeypadCollector:
    """One call's keypad: keys in, finished entries out (module docstring).

    Attributes:
        state: Where the collection stands (:class:`KeypadState`).
        request: The request being collected for, or ``None`` when idle.
        pressed: Keys taken for the current (or last) entry, finish keys included.
        ended_by: Why the last collection ended (:data:`EntryEnd`), for logs.
    """

    def __init__(self) -> None:
        self.state = KeypadState.IDLE
        self.request: DigitRequest | None = None
        self.pressed = 0
        self.ended_by: EntryEnd | None = None
        self._digits: list[str] = []
        self._since: float | None = None  # the prompt's end or the last key
        # After an entry ended at max_digits, the finish key the caller adds out of
        # habit ("517240#") is swallowed until this time, not a turn of its own.
        self._trailing: tuple[str, float] | None = None

    @property
    def active(self) -> bool:
        """Whether keys are collected into an entry (else each is its own input)."""
        return self.state is not KeypadState.IDLE

    @property
    def keying(self) -> bool:
        """Whether the caller has started keying the entry."""
        return self.state is KeypadState.KEYING

    @property
    def digits(self) -> int:
        """How many digits the entry holds so far (a count: never log the digits)."""
        return len(self._digits)

    def _fire(self, event: str) -> None:
        self.state = _KEYPAD.get((self.state, event), self.state)

    def expect(self, request: DigitRequest) -> None:
        """Arm for an entry; the prompt asking for it is still playing (no timer yet)."""
        self._fire("expect")
        self.request, self.pressed, self.ended_by = request, 0, None
        self._digits, self._since = [], None

    def on_prompt_ended(self, now: float) -> None:
        """The prompt was heard (or cut): the wait for the first key starts ``now``."""
        if self.state is KeypadState.PROMPTING:
            self._fire("prompt_ended")
            self._since = now

    def on_key(self, digit: str, now: float) -> str | None:
        """Take one key; return the finished entry, or the key itself when not armed.

        Returns:
            When idle: ``digit`` at once. When armed: the entry's digits once
            the finish key or ``max_digits`` ends it, else ``None``. A key that
            is not a keypad key is ignored while armed.
        """
        request = self.request
        if not self.active or request is None:
            trailing, self._trailing = self._trailing, None
            if trailing is not None and digit == trailing[0] and now <= trailing[1]:
                return None
            return digit
        if digit not in KEYPAD_KEYS:
            return None
        self._fire("key")
        self.pressed += 1
        self._since = now
        if digit == request.finish_on_key:
            return self._end("finish_key") if self.digits >= request.min_digits else None
        self._digits.append(digit)
        if self.digits >= (request.max_digits or MAX_ENTRY_KEYS):
            if request.finish_on_key:
                self._trailing = (request.finish_on_key, now + request.timeout_s)
            return self._end("max_digits")
        return None

    def deadline(self) -> float | None:
        """When :meth:`poll` may end the collection, or ``None`` (idle, prompt playing)."""
        waiting = self.state in (KeypadState.WAITING, KeypadState.KEYING)
        if not waiting or self.request is None or self._since is None:
            return None
        return self._since + self.request.timeout_s

    def poll(self, now: float) -> str | None:
        """End the collection if ``timeout_s`` has passed without a key.

        Returns:
            The entry if at least ``min_digits`` (and one) digits were keyed;
            otherwise ``None``, and the collector is disarmed all the same.
        """
        due = self.deadline()
        if due is None or now < due:
            return None
        self._fire("timeout")
        if not self._digits:
            self.ended_by = "no_key" if self.pressed == 0 else "too_short"
        elif self.request is not None and self.digits < self.request.min_digits:
            self.ended_by = "too_short"
        else:
            return self._finish("timeout")
        self._reset()
        return None

    def cancel(self) -> None:
        """Drop the entry and disarm (the caller spoke instead, or a new turn began)."""
        if self.active:
            self._fire("cancel")
            self.ended_by = "cancelled"
            self._reset()

    def _end(self, why: EntryEnd) -> str:
        self._fire("entry")
        return self._finish(why)

    def _finish(self, why: EntryEnd) -> str:
        entry = "".join(self._digits)
        self.ended_by = why
        self._reset()
        return entry

    def _reset(self) -> None:
        self.request, self._digits, self._since = None, [], None
