"""Test a flow as the phone would drive it, without audio.

:class:`TextCall` opens the flow the way ``dialgraph serve`` does (its
start-up hook, a checkpointer, store, transcripts and side-effect ledger in
a database of its own) and plays one call as text: the call-start turn,
caller words, keys and silence, each answered with what the caller would
hear. It checks the flow, not the ear.

:func:`softphone_call` checks the ear too: one whole call through the real
server, the speech engines and Twilio's wire protocol, played from a
softphone script in real time (what ``dialgraph demo --graph ... --script
...`` does), with the recording, the redacted transcript and the call's
database to look at afterwards.

Example (pytest with pytest-asyncio)::

    async def test_outage_by_zip(tmp_path):
        async with TextCall("my_flows/outage.py:graph", var_dir=tmp_path) as call:
            assert "outage" in await call.start()
            await call.say("yes")
            assert "cable cut" in await call.press("55103")
            assert call.action == {"kind": "hangup", "reason": "answered"}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from graphs.runtime.loader import Flow, load_flow
from graphs.runtime.text_call import TextCall

if TYPE_CHECKING:
    from telephony.cli.demo import DemoCall

__all__ = ["TextCall", "softphone_call"]


async def softphone_call(
    graph: str | Flow,
    script: str | Path | None = None,
    *,
    var_dir: str | Path,
    env: Mapping[str, str] | None = None,
    database_url: str = "",
    root: Path | None = None,
) -> DemoCall:
    """Place one whole call to ``graph`` through the softphone; return what happened.

    Args:
        graph: A graph spec (as ``DIALGRAPH_GRAPH``) or a loaded :class:`Flow`.
        script: The caller's softphone script (TOML); default: the flow's own
            ``demo.toml``, else a short generic call.
        var_dir: Where the call's recording, report, transcripts and database go.
        env: ``DIALGRAPH_*`` settings for this call (the process environment
            is not read, so a test is the same on every machine).
        database_url: Keep the call's state there (several calls in one
            database); default: a fresh SQLite file in ``var_dir``. Calls
            that share a database must share its encryption key: pass
            ``DIALGRAPH_CHECKPOINT_KEY`` in ``env`` (each ``var_dir`` would
            otherwise generate its own, and the second call is refused).
        root: Where ``langgraph.json`` and relative paths are looked up.

    Raises:
        RuntimeError: The server did not start.
    """
    from telephony.cli.demo import place_demo_call
    from telephony.settings import load_settings

    flow = graph if isinstance(graph, Flow) else load_flow(graph, root=root)
    settings = load_settings({**(env or {}), "DIALGRAPH_VAR_DIR": str(var_dir)}, env_file=None)
    call = await place_demo_call(
        settings,
        flow=flow,
        script=Path(script) if script is not None else None,
        out=Path(var_dir) / "call",
        database_url=database_url,
    )
    if call is None:
        raise RuntimeError("the server did not start (see the log above)")
    return call
