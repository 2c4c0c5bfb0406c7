"""Which caller script ``dialgraph demo`` plays for which graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphs.runtime.loader import load_flow
from telephony.cli.demo import script_for
from telephony.softphone import Say, ScriptError

REPO = Path(__file__).resolve().parents[4]

FLOW = """
from langgraph.graph import END, START, MessagesState, StateGraph

builder = StateGraph(MessagesState)
builder.add_node("reply", lambda state: {"messages": [("ai", "Hi.")]})
builder.add_edge(START, "reply")
builder.add_edge("reply", END)
graph = builder.compile()
"""

OWN_SCRIPT = """
description = "Our own demo call"

[[step]]
wait_for_agent = true

[[step]]
say = "Is my parcel on its way?"
"""


def _said(script) -> list[str]:
    return [step.text for step in script.steps if isinstance(step, Say)]


def test_a_flow_ships_its_own_demo_call_next_to_its_module(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    (tmp_path / "demo.toml").write_text(OWN_SCRIPT)
    flow = load_flow("flow.py:graph", root=tmp_path)
    script, source = script_for(flow)
    assert _said(script) == ["Is my parcel on its way?"]
    assert Path(source) == tmp_path / "demo.toml"


def test_a_graph_without_a_script_gets_the_generic_call() -> None:
    script, source = script_for(load_flow("echo"))
    assert source == "the generic demo call"
    said = " ".join(_said(script)).lower()
    assert "hello" in said and "?" in said and "goodbye" in said
    for word in ("clinic", "riverside", "appointment", "checkup", "patient"):
        assert word not in said and word not in script.description.lower()


def test_the_clinic_ships_its_demo_call_and_a_script_flag_wins(tmp_path: Path) -> None:
    default = load_flow("clinic", root=REPO)
    assert script_for(default)[1] == str(REPO / "graphs" / "clinic" / "demo.toml")
    (tmp_path / "mine.toml").write_text(OWN_SCRIPT)
    assert script_for(default, tmp_path / "mine.toml")[1] == str(tmp_path / "mine.toml")
    with pytest.raises(ScriptError):
        script_for(default, tmp_path / "missing.toml")
