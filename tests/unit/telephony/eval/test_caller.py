"""The scripted caller: finding a phrase in what the agent said, and answering by the rules.

Text mode compares exact words (:data:`EXACT`); audio mode compares what an
independent recogniser heard, which now and then writes "shell i book" for
"shall I book" (:data:`HEARD`). Either way the caller answers by the first
rule that matches, each at most ``times`` times, then its fallbacks in turn,
and then gives up, and :attr:`ScriptedCaller.matched` says why at each step.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.eval.caller import EXACT, GAVE_UP, HEARD, ScriptedCaller, contains
from telephony.eval.scenario import Action, Scenario, parse_scenario

# (the agent's reply, the scenario's phrase, found exactly, found as heard)
CONTAINS = [
    ("Shall I book it for you?", "shall i book", True, True),
    # recogniser slips: one letter in a short phrase, a dropped letter, a dropped word
    ("shell i book it for you", "shall i book", False, True),
    ("is there anythin else", "anything else", False, True),
    ("and what nam should i put it under", "what name should i", False, True),
    ("dr pattel can see you", "Dr. Patel", False, True),
    # case and punctuation never matter
    ("WHAT NAME, should I put it under?", "what name should i", True, True),
    ("Dr. Patel can see you", "dr patel", True, True),
    ("It's booked.", "its booked", True, True),
    # times as typed and as a recogniser writes them
    ("a checkup at 3pm on Tuesday", "3 pm", True, True),
    ("a checkup at 3 p.m. on Tuesday", "3pm", True, True),
    ("at three p m", "three p.m.", True, True),
    ("at 3:30", "3:30", True, True),
    # whole words only, and a different question is not the one asked
    ("that was helpful", "help", False, False),
    ("I can help", "help", True, True),
    ("what day would suit you", "what name", False, False),
    ("Which time would you like?", "what name", False, False),
    ("Doctor Lee", "dr lee", False, False),
    ("", "hello", False, False),
    ("Hello!", "", False, False),
]


@pytest.mark.parametrize(("reply", "phrase", "exact", "heard"), CONTAINS)
def test_a_phrase_is_found_as_words_exactly_or_as_heard(
    reply: str, phrase: str, exact: bool, heard: bool
) -> None:
    assert contains(reply, phrase) is exact
    assert contains(reply, phrase, similarity=EXACT) is exact
    assert contains(reply, phrase, similarity=HEARD) is heard


_WORD = st.from_regex(r"[a-z]{2,8}|[0-9]{1,3}", fullmatch=True)  # no lone "p m" or "o clock"
_WORDS = st.lists(_WORD, max_size=8)


@given(
    before=_WORDS,
    phrase=st.lists(_WORD, min_size=1, max_size=5),
    after=_WORDS,
    ending=st.sampled_from(["", ".", "?", "!", ","]),
    shout=st.booleans(),
    similarity=st.floats(min_value=0.5, max_value=1.0),
)
def test_a_phrase_in_the_reply_is_always_found_at_any_similarity(
    before: list[str],
    phrase: list[str],
    after: list[str],
    ending: str,
    shout: bool,
    similarity: float,
) -> None:
    reply = " ".join([*before, *phrase, *after]) + ending
    reply = reply.upper() if shout else reply.capitalize()
    assert contains(reply, " ".join(phrase), similarity=similarity)


def _scenario(text: str) -> Scenario:
    return parse_scenario(text, source="caller.yaml", default_name="caller")


BOOKING = _scenario(
    """
rules:
  - when: ["anything else"]
    say: "no thanks, goodbye"
  - when: ["shall i book", "should i book"]
    say: "yes please"
  - when: ["your name", "what name"]
    say: "John Miller"
    times: 2
otherwise:
  - say: "sorry, could you say that again?"
  - silence: true
"""
)


def test_the_first_rule_in_the_file_wins_not_the_first_phrase_in_the_reply() -> None:
    caller = ScriptedCaller(BOOKING)
    action = caller.answer("Shall I book it? Or is there anything else?")
    assert action == Action("say", "no thanks, goodbye")
    assert caller.matched == ["rules[0]: 'anything else'"]


def test_a_rule_fires_at_most_times_then_fallbacks_in_turn_then_the_caller_gives_up() -> None:
    caller = ScriptedCaller(BOOKING)
    replies = [
        "And what name should I put it under?",
        "Sorry, what was your name?",
        "Sorry, your name again?",  # twice is all the rule allows
        "Shall I book it?",
        "Should I book it?",  # the rule fired once: no other phrase revives it
        "Sorry, I didn't catch that.",
    ]
    actions = [caller.answer(reply) for reply in replies]
    assert actions == [
        Action("say", "John Miller"),
        Action("say", "John Miller"),
        Action("say", "sorry, could you say that again?"),
        Action("say", "yes please"),
        Action("silence"),
        Action("hangup"),
    ]
    assert caller.matched == [
        "rules[2]: 'what name'",
        "rules[2]: 'your name'",
        "otherwise[0]",
        "rules[1]: 'shall i book'",
        "otherwise[1]",
        GAVE_UP,
    ]
    assert caller.answer("Hello? Are you there?") == Action("hangup")


def test_a_caller_with_only_fallbacks_uses_each_once() -> None:
    caller = ScriptedCaller(_scenario("otherwise: [{say: hmm}, {press: '0'}]"))
    assert [caller.answer("Anything at all") for _ in range(3)] == [
        Action("say", "hmm"),
        Action("press", "0"),
        Action("hangup"),
    ]


def test_a_caller_hears_a_misrecognised_prompt_only_in_audio_mode() -> None:
    heard = "shell i book it for you"
    assert ScriptedCaller(BOOKING, similarity=EXACT).answer(heard) == Action(
        "say", "sorry, could you say that again?"
    )
    caller = ScriptedCaller(BOOKING, similarity=HEARD)
    assert caller.answer(heard) == Action("say", "yes please")
    assert caller.matched == ["rules[1]: 'shall i book'"]


def test_two_callers_of_one_scenario_keep_their_own_counts() -> None:
    first, second = ScriptedCaller(BOOKING), ScriptedCaller(BOOKING)
    first.answer("Shall I book it?")
    assert second.answer("Shall I book it?") == Action("say", "yes please")


_PROMPTS = [
    "How can I help you today?",
    "And what name should I put the appointment under?",
    "Shall I book it?",
    "Is there anything else I can help you with?",
    "Sorry, I didn't catch that.",
    "Your name, and shall I book it?",
]


@given(st.lists(st.sampled_from(_PROMPTS), max_size=20))
def test_whatever_the_agent_says_every_answer_is_explained_and_no_rule_overfires(
    replies: list[str],
) -> None:
    caller = ScriptedCaller(BOOKING)
    fired = [0] * len(BOOKING.rules)
    fallbacks: list[int] = []
    for reply in replies:
        action = caller.answer(reply)
        why = caller.matched[-1]
        if why.startswith("rules["):
            index = int(why[len("rules[") : why.index("]")])
            phrase = why.split(": ", 1)[1].strip("'")
            assert action == BOOKING.rules[index].action
            assert phrase in BOOKING.rules[index].when and contains(reply, phrase)
            fired[index] += 1
        elif why.startswith("otherwise["):
            fallbacks.append(int(why[len("otherwise[") : -1]))
            assert action == BOOKING.otherwise[fallbacks[-1]]
        else:
            assert why == GAVE_UP and action == Action("hangup")
            assert len(fallbacks) == len(BOOKING.otherwise)
    assert len(caller.matched) == len(replies)
    assert all(n <= rule.times for n, rule in zip(fired, BOOKING.rules, strict=True))
    assert fallbacks == list(range(len(fallbacks)))  # in turn, each once
