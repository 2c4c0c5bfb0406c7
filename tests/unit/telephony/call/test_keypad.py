"""The keypad collector: keys and clock times in, entries out (no sleeps)."""

from __future__ import annotations

import math

import pytest

from telephony.call.keypad import (
    MAX_ENTRY_KEYS,
    MAX_TIMEOUT_S,
    DigitRequest,
    KeypadCollector,
    KeypadState,
    parse_request,
)

DEFAULT = DigitRequest()


def run(request: DigitRequest | None, steps: str) -> tuple[KeypadCollector, list[str]]:
    """Play ``steps`` ("what@seconds" tokens: a key, ``heard``, ``poll`` or ``cancel``).

    The collector is armed with ``request`` first (``None``: never armed);
    returns it and every entry (or key) it handed out, in order.
    """
    keypad = KeypadCollector()
    if request is not None:
        keypad.expect(request)
    out: list[str] = []
    for token in steps.split():
        what, _, at = token.partition("@")
        now = float(at)
        if what == "heard":
            keypad.on_prompt_ended(now)
        elif what == "cancel":
            keypad.cancel()
        elif what == "poll":
            got = keypad.poll(now)
            out += [] if got is None else [got]
        else:
            got = keypad.on_key(what, now)
            out += [] if got is None else [got]
    return keypad, out


@pytest.mark.parametrize(
    ("request_", "steps", "handed_out", "ended_by"),
    [
        # What a caller does -> what the agent gets, and why the entry ended.
        (DEFAULT, "heard@0 4@1 8@1.3 2@1.6 #@1.9", ["482"], "finish_key"),
        (DEFAULT, "4@0.5 8@0.8 #@1.1", ["48"], "finish_key"),  # keyed during the prompt
        (DigitRequest(max_digits=4), "1@1 2@2 3@3 4@4 5@4.5", ["1234", "5"], "max_digits"),
        (DEFAULT, "heard@0 4@1 8@2 poll@6.99 poll@7", ["48"], "timeout"),
        (DEFAULT, "heard@0 4@1 8@5 poll@9.99 poll@10", ["48"], "timeout"),  # from the last key
        (DEFAULT, "heard@0 poll@4.99 poll@5 2@6", ["2"], "no_key"),  # then single keys again
        (DEFAULT, "poll@100 4@101 #@102", ["4"], "finish_key"),  # no timer while the prompt plays
        (DEFAULT, "heard@0 #@1 4@2 #@3", ["4"], "finish_key"),  # a stray # first is ignored
        (DigitRequest(min_digits=4), "1@1 2@2 #@3 3@4 4@5 #@6", ["1234"], "finish_key"),
        (DigitRequest(min_digits=4), "heard@0 1@1 2@2 poll@7", [], "too_short"),
        (DEFAULT, "heard@0 #@1 poll@6", [], "too_short"),
        (DigitRequest(min_digits=0), "heard@0 #@1", [""], "finish_key"),  # "press # to skip"
        (DigitRequest(finish_on_key=""), "1@1 #@2 poll@7", ["1#"], "timeout"),  # # is a key
        (DigitRequest(finish_on_key="*"), "1@1 #@2 *@3", ["1#"], "finish_key"),
        (DigitRequest(timeout_s=2.0), "heard@0 7@1 poll@2.99 poll@3", ["7"], "timeout"),
        (DEFAULT, "4@1 cancel@2 5@3", ["5"], "cancelled"),  # spoke instead; keys single again
        (DEFAULT, "A@1 4@2 #@3", ["4"], "finish_key"),  # not a keypad key: ignored
        (None, "1@0 #@1 poll@99", ["1", "#"], None),  # not armed: every key at once
    ],
)
def test_keys_become_entries(
    request_: DigitRequest | None, steps: str, handed_out: list[str], ended_by: str | None
) -> None:
    keypad, out = run(request_, steps)
    assert out == handed_out
    assert keypad.ended_by == ended_by
    assert not keypad.active and keypad.deadline() is None


def test_an_entry_stops_at_the_longest_a_caller_types() -> None:
    keypad, out = run(DigitRequest(max_digits=0, finish_on_key=""), " ".join(["9@1"] * 70))
    assert out == ["9" * MAX_ENTRY_KEYS] + ["9"] * (70 - MAX_ENTRY_KEYS)
    assert keypad.ended_by == "max_digits"


def test_states_and_deadlines_follow_the_call() -> None:
    keypad = KeypadCollector()
    assert (keypad.state, keypad.deadline()) == (KeypadState.IDLE, None)
    keypad.expect(DigitRequest(timeout_s=5.0))
    assert keypad.active and keypad.state is KeypadState.PROMPTING
    assert keypad.deadline() is None  # the prompt is still playing
    keypad.on_prompt_ended(10.0)
    assert (keypad.state, keypad.deadline()) == (KeypadState.WAITING, 15.0)
    keypad.on_prompt_ended(12.0)  # only the first end counts
    assert keypad.deadline() == 15.0
    assert keypad.on_key("4", 13.0) is None
    assert keypad.keying and (keypad.pressed, keypad.digits) == (1, 1)
    assert keypad.deadline() == 18.0
    keypad.on_prompt_ended(14.0)  # a cut prompt after the first key changes nothing
    assert keypad.deadline() == 18.0
    assert keypad.on_key("#", 14.0) == "4"
    assert keypad.state is KeypadState.IDLE and keypad.pressed == 2


def test_a_new_request_starts_a_fresh_entry() -> None:
    keypad = KeypadCollector()
    keypad.expect(DEFAULT)
    keypad.on_key("1", 1.0)
    keypad.expect(DigitRequest(max_digits=2))
    assert (keypad.state, keypad.pressed, keypad.digits) == (KeypadState.PROMPTING, 0, 0)
    assert keypad.on_key("2", 2.0) is None
    assert keypad.on_key("3", 3.0) == "23"


@pytest.mark.parametrize(
    ("spec", "request_", "rejected"),
    [
        ({"kind": "digits"}, DEFAULT, ()),
        # What Expect.digits() writes for the recogniser is not a bad keypad key.
        ({"kind": "digits", "hints": ["ticket"], "choices": []}, DEFAULT, ()),
        (
            {
                "kind": "digits",
                "max_digits": 6,
                "min_digits": 6,
                "finish_on_key": "",
                "timeout_s": 3,
            },
            DigitRequest(max_digits=6, min_digits=6, finish_on_key="", timeout_s=3.0),
            (),
        ),
        ({"max_digits": -1}, DEFAULT, ("max_digits",)),
        ({"max_digits": True}, DEFAULT, ("max_digits",)),
        ({"max_digits": "6"}, DEFAULT, ("max_digits",)),
        ({"min_digits": MAX_ENTRY_KEYS + 1}, DEFAULT, ("min_digits",)),
        ({"finish_on_key": "##"}, DEFAULT, ("finish_on_key",)),
        ({"finish_on_key": "x"}, DEFAULT, ("finish_on_key",)),
        ({"finish_on_key": None}, DEFAULT, ("finish_on_key",)),
        ({"timeout_s": 0}, DEFAULT, ("timeout_s",)),
        ({"timeout_s": "5"}, DEFAULT, ("timeout_s",)),
        ({"timeout_s": math.nan}, DEFAULT, ("timeout_s",)),
        ({"timeout_s": MAX_TIMEOUT_S + 1}, DEFAULT, ("timeout_s",)),
        ({"max_digits": 4, "min_digits": 6}, DigitRequest(max_digits=4), ("min_digits",)),
        (
            {"max_digit": 4, "timeout_s": -1, "finish_on_key": "*"},
            DigitRequest(finish_on_key="*"),
            ("max_digit", "timeout_s"),
        ),
    ],
)
def test_an_agents_mapping_falls_back_to_defaults(
    spec: dict, request_: DigitRequest, rejected: tuple[str, ...]
) -> None:
    assert parse_request(spec) == (request_, rejected)


@pytest.mark.parametrize(
    "fields",
    [
        {"max_digits": -1},
        {"min_digits": 3, "max_digits": 2},
        {"finish_on_key": "5#"},
        {"timeout_s": math.inf},
        {"timeout_s": False},
    ],
)
def test_a_bad_request_built_in_code_is_refused(fields: dict) -> None:
    with pytest.raises(ValueError):
        DigitRequest(**fields)


def test_a_finish_key_after_a_full_entry_is_not_a_turn_of_its_own() -> None:
    keypad = KeypadCollector()
    keypad.expect(DigitRequest(max_digits=3, finish_on_key="#", timeout_s=5.0))
    keypad.on_prompt_ended(0.0)
    assert [keypad.on_key(k, 1.0 + i * 0.3) for i, k in enumerate("517")] == [None, None, "517"]
    assert keypad.on_key("#", 2.2) is None  # "517#": the habit key is swallowed
    assert keypad.on_key("#", 2.5) == "#"  # a second one is a key again
    keypad.expect(DigitRequest(max_digits=3, finish_on_key="#", timeout_s=5.0))
    keypad.on_prompt_ended(3.0)
    for i, k in enumerate("123"):
        keypad.on_key(k, 4.0 + i * 0.3)
    assert keypad.on_key("#", 10.0) == "#"  # long after: a key of its own
