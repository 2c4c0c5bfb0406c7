"""A caller played by a chat model: the real OpenAI SDK against a local fake, the real clinic.

The scenario gives the caller a persona and a goal and one rule (the name,
answered by the rule, not the model). The fake Chat Completions server plays
the model's side: its structured answers (function calls to ``CallerTurn``)
are scripted, and every request it received is checked: the persona and goal
in the system prompt, what the agent said as the caller's input, the caller's
own earlier words. The clinic runs offline (its ``local`` model), so every
request the fake gets is the caller's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from graphs.runtime.loader import load_flow
from telephony.cli.main import main
from telephony.eval.caller import MODEL_FAILED
from telephony.eval.judges import judge
from telephony.eval.model_caller import load_caller_model
from telephony.eval.runner import RunOptions, run_suite
from telephony.eval.scenario import parse_scenario
from tests.openai_fake import FakeOpenAI, HttpError, ToolCalls

CLINIC = "graphs.clinic.graph:graph"
SCENARIO = """
name: persona_books_a_checkup
description: A caller played by a model books a checkup
today: "2026-12-03T10:00"
persona: John Miller, a retired teacher, polite and brief
goal: Book a checkup next Tuesday at three in the afternoon, under the name John Miller
rules:
  - when: ["what name", "your name"]
    say: "John Miller"
expect:
  ended_by: agent
  tool_calls:
    - {name: book_appointment, ok: true, args: {day: "2026-12-08", time: "15:00"}}
"""


def _turn(action: str, text: str = "") -> ToolCalls:
    return ToolCalls((("CallerTurn", {"action": action, "text": text}),))


@pytest.fixture(autouse=True)
def _offline_clinic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DIALGRAPH_MODEL", "local")
    monkeypatch.delenv("DIALGRAPH_DATABASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    yield


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        # Both names: langchain-openai keys its cached HTTP client (bound to one event
        # loop) by OPENAI_API_BASE, so each test's loop gets a client of its own.
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_BASE", fake.base_url)
        yield fake


async def test_a_model_plays_the_caller_after_the_rules_and_the_call_is_judged(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    server.replies.extend(
        [
            _turn("say", "Hi, I'd like to book a checkup next Tuesday at three"),
            _turn("say", "Yes, that's right"),
            _turn("say", "No, that's all, thank you. Goodbye"),
        ]
    )
    scenario = parse_scenario(SCENARIO)
    options = RunOptions(out=tmp_path, caller_model=load_caller_model("openai:gpt-4.1-mini"))
    (result,) = await run_suite([scenario], load_flow(CLINIC), options, progress=lambda _: None)

    assert result.passed, result.failures
    rules = [e.rule for e in result.call.exchanges]
    assert rules[:4] == [
        'model: say "Hi, I\'d like to book a checkup next Tuesday at three"',
        "rules[0]: 'what name'",  # the rule answered: the model was not asked
        'model: say "Yes, that\'s right"',
        'model: say "No, that\'s all, thank you. Goodbye"',
    ]
    assert len(server.requests) == 3
    first, last = server.requests[0], server.requests[-1]
    system = first["messages"][0]["content"]
    assert "John Miller, a retired teacher" in system and "next Tuesday at three" in system
    assert first["tools"][0]["function"]["name"] == "CallerTurn"
    assert first["messages"][-1] == {"role": "user", "content": result.call.exchanges[0].agent}
    # the model sees the whole call: the agent's replies and the caller's answers, the rule's too
    said = [m["content"] for m in last["messages"] if m["role"] == "assistant"]
    assert said == [
        'say "Hi, I\'d like to book a checkup next Tuesday at three"',
        "say 'John Miller'",
        'say "Yes, that\'s right"',
    ]


async def test_a_failing_model_ends_the_call_with_the_reason(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    server.replies.extend([HttpError(400, "model not found")])
    scenario = parse_scenario(SCENARIO)
    options = RunOptions(out=tmp_path, caller_model=load_caller_model("openai:gpt-4.1-mini"))
    (result,) = await run_suite([scenario], load_flow(CLINIC), options, progress=lambda _: None)

    assert result.call.ended_by == "caller"
    reason = str(judge(scenario, result.call)[0])
    assert reason.startswith(f"turn 1: ended by caller ({MODEL_FAILED}: ")
    assert reason.endswith("400 - model not found), expected agent") and "\n" not in reason


def test_without_a_caller_model_the_scenario_is_skipped_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIALGRAPH_EVAL_CALLER_MODEL", raising=False)
    (tmp_path / "persona.yaml").write_text(SCENARIO)
    (tmp_path / "scripted.yaml").write_text(
        'today: "2026-12-03T10:00"\nrules: [{when: "how can i help", say: "goodbye"}]\n'
    )
    args = ["eval", str(tmp_path), "--graph", CLINIC, "--out", str(tmp_path / "out")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        "  skipping 1 scenario(s) a chat model plays (persona_books_a_checkup): no caller "
        "model (--caller-model or DIALGRAPH_EVAL_CALLER_MODEL)"
    ) in out.splitlines()
    assert "| text | 1 |" in out  # the scripted one ran


def test_an_unknown_caller_model_is_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "persona.yaml").write_text(SCENARIO)
    args = ["eval", str(tmp_path), "--graph", CLINIC, "--caller-model", "nosuch:model"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dialgraph eval: --caller-model: caller model 'nosuch:model': ")
    assert err.count("\n") == 1
