"""The model-played caller's pure parts: its answers as actions, and scenarios with a goal."""

from __future__ import annotations

import re

import pytest

from telephony.eval.model_caller import CallerTurn, _action
from telephony.eval.scenario import Action, ScenarioError, parse_scenario


@pytest.mark.parametrize(
    ("turn", "action"),
    [
        (CallerTurn(action="say", text=" yes please "), Action("say", "yes please")),
        (CallerTurn(action="say", text=""), Action("silence")),  # no words: a silence
        (CallerTurn(action="press", text="1, 2 3#"), Action("press", "123#")),  # keys only
        (CallerTurn(action="silence", text="ignored"), Action("silence")),
        (CallerTurn(action="hangup"), Action("hangup")),
    ],
)
def test_the_models_turn_is_an_action(turn: CallerTurn, action: Action) -> None:
    assert _action(turn) == action


def test_a_press_without_keys_or_an_unparsed_answer_is_an_error() -> None:
    with pytest.raises(ValueError, match="press needs keys, got 'one two'"):
        _action(CallerTurn(action="press", text="one two"))
    with pytest.raises(ValueError, match="expected a CallerTurn, got dict"):
        _action({"action": "say"})


def test_a_scenario_with_a_goal_needs_no_rules() -> None:
    scenario = parse_scenario("goal: book a checkup\npersona: a nurse\n", default_name="g")
    assert (scenario.goal, scenario.persona, scenario.rules) == ("book a checkup", "a nurse", ())
    assert parse_scenario("rules: [{when: hi, say: hello}]", default_name="r").goal == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("persona: a nurse\nrules: [{when: hi, say: hello}]", "persona: a persona needs a goal"),
        ("description: nothing", "rules: the caller needs at least one rule (or a goal)"),
    ],
)
def test_a_caller_without_rules_or_goal_is_refused(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(message)):
        parse_scenario(text, default_name="x")
