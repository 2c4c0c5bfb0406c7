"""The bundled flows pass their smoke scenarios (text mode), as `dialgraph eval --tag smoke`.

The whole suites are measurements (`make eval`): some scenarios fail until
the flows understand more. The smoke scenarios are the calls each flow must
always get right; this is the fast subset `make test` runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from graphs.runtime.loader import load_flow
from telephony.eval.runner import RunOptions, run_suite
from telephony.eval.scenario import load_suite

ROOT = Path(__file__).resolve().parents[2]
SUITES = {"clinic": "graphs/clinic/evals", "helpdesk": "graphs/helpdesk/evals"}


@pytest.mark.parametrize("flow_id", sorted(SUITES))
async def test_the_smoke_scenarios_pass(flow_id: str, tmp_path: Path) -> None:
    suite = load_suite(ROOT / SUITES[flow_id])
    smoke = [s for s in suite if "smoke" in s.tags]
    assert len(suite) >= 30 and len(smoke) >= 3
    results = await run_suite(
        smoke, load_flow(flow_id, root=ROOT), RunOptions(out=tmp_path), progress=lambda _: None
    )
    failed = {r.call.scenario: r.reason for r in results if not r.passed}
    assert not failed, failed
