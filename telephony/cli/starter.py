"""``dialgraph new NAME``: a runnable starter flow for a team's own repository.

It writes a folder ``NAME/`` with the flow as a package of its own (named
``NAME_flow`` so it never clashes with Dialgraph's ``graphs``, ``tools`` or
``memory``), its phone settings beside the graph, a softphone script, a
``langgraph.json`` for Studio, and tests: one conversation as text and one
whole call through the softphone. The tests pass on the first run::

    uv run dialgraph new acme_support
    uv run pytest acme_support
    uv run dialgraph demo --graph acme_support/acme_support_flow/graph.py:graph \\
        --script acme_support/acme_support_flow/demo.toml
"""

from __future__ import annotations

import json
import keyword
import re
from pathlib import Path

__all__ = ["StarterError", "write_starter"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
_TAKEN = {"dialgraph", "telephony", "graphs", "tools", "memory", "tests", "docs", "langgraph"}

_GRAPH = '''"""{title}: a starter flow written by ``dialgraph new``. Make it yours.

One graph run per caller turn. The call-start turn is greeted; every other
turn is answered by ``answer``, which reads the turn with ``caller_turn``
(speech, keys or silence) and replies, transfers or hangs up. Studio shows
the call's messages; see docs/graph-contract.md in Dialgraph for the rules.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph

from dialgraph import PhoneSettings, SpeechHints, call_action, caller_turn, is_call_start

HOURS = "We are open Monday to Friday, from nine in the morning to five in the evening."
OFFER = "You can ask for our opening hours, or for a person."


def greet(state: MessagesState) -> dict[str, Any]:
    """Answer the call."""
    return {{"messages": [AIMessage(f"Thanks for calling {title}. {{OFFER}}")]}}


def answer(state: MessagesState) -> dict[str, Any]:
    """Answer one caller turn."""
    turn = caller_turn(state["messages"][-1]) or {{"text": "", "source": "speech"}}
    words = turn["text"].lower()
    if turn["source"] == "silence":
        return {{"messages": [AIMessage(f"Are you still there? {{OFFER}}")]}}
    if any(w in words for w in ("bye", "thank you", "thanks")):
        goodbye = "Thanks for calling. Goodbye!"
        return {{"messages": call_action("hangup", say=goodbye, reason="caller said goodbye")}}
    if any(w in words for w in ("person", "someone", "human", "agent", "operator")):
        put_through = "Of course, putting you through now."
        return {{"messages": call_action("transfer", say=put_through, reason="asked for a person")}}
    if any(w in words for w in ("open", "hours", "close", "time")):
        return {{"messages": [AIMessage(f"{{HOURS}} Is there anything else?")]}}
    return {{"messages": [AIMessage(f"Sorry, I did not get that. {{OFFER}}")]}}


def route(state: MessagesState) -> str:
    """Greet at call start, otherwise answer."""
    return "greet" if is_call_start(state["messages"]) else "answer"


builder = StateGraph(MessagesState)
builder.add_node("greet", greet)
builder.add_node("answer", answer)
builder.add_conditional_edges(START, route, ["greet", "answer"])
builder.add_edge("greet", END)
builder.add_edge("answer", END)
graph = builder.compile(name="{name}")

phone = PhoneSettings(
    name="{title}",
    timezone="America/New_York",
    transfer_targets={{"front desk": "+15550100200"}},
    speech=SpeechHints(
        phrases=(
            "what are your opening hours",
            "when do you open",
            "what time do you close",
            "can i talk to a person",
            "i would like to speak to someone",
            "thank you goodbye",
            "thanks bye",
        ),
    ),
)
'''

_DEMO = """# A whole call to {title}:
#   uv run dialgraph demo --graph {flow} --script {script}
description = "Hear the greeting, ask the opening hours, say goodbye"

[[step]]
wait_for_agent = true   # the greeting

[[step]]
say = "What are your opening hours?"

[[step]]
wait_for_agent = true

[[step]]
say = "Thank you, goodbye."

[[step]]
wait_for_agent = true
timeout_ms = 8000
"""

_TESTS = '''"""{title}: the flow as text, and one whole call through the softphone."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialgraph.testing import TextCall, softphone_call

HERE = Path(__file__).resolve().parents[1]
FLOW = f"{{HERE / '{package}' / 'graph.py'}}:graph"
SCRIPT = HERE / "{package}" / "demo.toml"


async def test_opening_hours_then_goodbye(tmp_path: Path) -> None:
    async with TextCall(FLOW, var_dir=tmp_path) as call:
        assert "Thanks for calling" in await call.start()
        assert "nine in the morning" in await call.say("what are your opening hours")
        await call.say("thank you goodbye")
        assert call.action == {{"kind": "hangup", "reason": "caller said goodbye"}}


async def test_a_person_on_request(tmp_path: Path) -> None:
    async with TextCall(FLOW, var_dir=tmp_path) as call:
        await call.start()
        await call.say("can i talk to a person")
        assert call.action["kind"] == "transfer"


@pytest.mark.slow
async def test_a_whole_call_through_the_softphone(tmp_path: Path) -> None:
    pytest.importorskip("piper")  # the offline voice (Dialgraph's piper extra)
    call = await softphone_call(FLOW, SCRIPT, var_dir=tmp_path)
    assert call.ok, call.result.summary()
    agent = " ".join(line["text"] for line in call.report["transcript"] if line["who"] == "agent")
    assert "Thanks for calling" in agent
    assert "nine in the morning" in agent, call.report["transcript"]
    assert call.result.closed_by == "app"  # the flow hung up after its goodbye
'''

_PYPROJECT = """[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
markers = ["slow: a whole call in real time"]
"""

_README = """# {title}

A Dialgraph flow written by `dialgraph new {name}`: the graph and its phone
settings in `{package}/graph.py`, a softphone script in `{package}/demo.toml`,
tests in `tests/`.

```bash
uv run pytest {name}                                  # the tests (one whole call included)
uv run dialgraph demo --graph {flow} --script {script}   # hear a call (var/demo/call.wav)
uv run dialgraph serve --graph {flow}                 # answer Twilio calls
```

Studio: `langgraph dev --config {name}/langgraph.json`.
"""


class StarterError(ValueError):
    """The starter cannot be written (a bad name, or the folder exists)."""


def write_starter(name: str, *, where: Path | None = None) -> Path:
    """Write the starter ``name/`` under ``where`` (the working directory); return it.

    Raises:
        StarterError: ``name`` is not a lower-case Python name, clashes with a
            Dialgraph package, or the folder exists already.
    """
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise StarterError(
            f"{name!r} is not a usable name: lower case letters, digits and _ "
            "(starting with a letter), e.g. acme_support"
        )
    if name in _TAKEN:
        raise StarterError(f"{name!r} is taken by Dialgraph itself; choose another name")
    root = (where or Path.cwd()) / name
    if root.exists():
        raise StarterError(f"{root} exists already; choose another name or remove it")
    package = f"{name}_flow"
    title = name.replace("_", " ").title()
    flow = f"{name}/{package}/graph.py:graph"
    script = f"{name}/{package}/demo.toml"
    values = {
        "name": name,
        "package": package,
        "title": title,
        "flow": flow,
        "script": script,
    }
    files = {
        f"{package}/__init__.py": f'"""{title}: a Dialgraph flow."""\n',
        f"{package}/graph.py": _GRAPH.format(**values),
        f"{package}/demo.toml": _DEMO.format(**values),
        "tests/__init__.py": "",
        f"tests/test_{name}.py": _TESTS.format(**values),
        "pyproject.toml": _PYPROJECT,
        "README.md": _README.format(**values),
        "langgraph.json": json.dumps(
            {"dependencies": ["."], "graphs": {name: f"./{package}/graph.py:graph"}}, indent=2
        )
        + "\n",
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
