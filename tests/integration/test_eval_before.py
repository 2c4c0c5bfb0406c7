"""Scenarios with earlier calls: the calls share one flow state, and only the last is judged."""

from __future__ import annotations

from pathlib import Path

from graphs.runtime.loader import load_flow
from telephony.eval.runner import RunOptions, run_suite
from telephony.eval.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]


async def test_earlier_calls_share_the_state_and_the_last_is_judged(tmp_path: Path) -> None:
    scenarios = [
        load_scenario(ROOT / "tests/evals_before/same_number_twice.yaml"),
        load_scenario(ROOT / "graphs/clinic/evals/withheld_callers_share_nothing.yaml"),
        load_scenario(ROOT / "graphs/clinic/evals/second_caller_not_the_first.yaml"),
    ]
    flow = load_flow("clinic", root=ROOT)
    same, withheld, other = await run_suite(
        scenarios, flow, RunOptions(out=tmp_path), progress=lambda _: None
    )
    # The same number twice: the booking from the first call is remembered, and said.
    (earlier,) = same.call.earlier
    assert any(e.caller.startswith("say 'yes") for e in earlier.exchanges)
    (failure,) = same.failures
    assert "the agent said 'Priya'" in failure.reason and failure.turn == 1
    # Another caller, withheld or not, hears nothing of her.
    assert withheld.passed, withheld.failures
    assert other.passed, other.failures
    assert len(withheld.call.earlier) == 1 and withheld.call.earlier[0].exchanges
