"""The loader finds a team's graph by every documented name, and says why not in one line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from dialgraph import CallFacts, GraphLoadError, PhoneSettings, load_flow

GRAPH_MODULE = textwrap.dedent(
    """
    from langchain_core.messages import AIMessage
    from langgraph.graph import END, START, MessagesState, StateGraph

    from dialgraph import PhoneSettings

    def reply(state):
        return {"messages": [AIMessage("hi")]}

    builder = StateGraph(MessagesState)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    graph = builder.compile()
    built_per_call = []

    def make_graph(facts):
        built_per_call.append(facts.call_sid)
        return builder

    phone = PhoneSettings(name="Acme", greeting="Acme, hello.")
    not_a_graph = 42
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A team's repository: a flow file and a langgraph.json naming it."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "acme_support.py").write_text(GRAPH_MODULE)
    (tmp_path / "langgraph.json").write_text(
        json.dumps({"graphs": {"acme": "./flows/acme_support.py:graph"}})
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_by_langgraph_json_id_with_the_phone_settings_beside_it(project: Path) -> None:
    flow = load_flow("acme", root=project)
    assert flow.id == "acme"
    assert flow.phone.name == "Acme" and flow.phone.greeting == "Acme, hello."
    compiled = flow.compile(InMemorySaver(), None)
    assert isinstance(compiled.checkpointer, InMemorySaver)  # Dialgraph's own attached


def test_by_file_and_by_module(project: Path) -> None:
    by_file = load_flow("flows/acme_support.py:graph", root=project)
    assert by_file.id == "graph" and not by_file.per_call
    (project / "flows" / "__init__.py").write_text("")
    by_module = load_flow("flows.acme_support:builder", root=project)
    assert by_module.compile(InMemorySaver(), None).checkpointer is not None


def test_a_factory_is_built_per_call_with_the_call_facts(project: Path) -> None:
    flow = load_flow("flows/acme_support.py:make_graph", root=project)
    assert flow.per_call
    flow.compile(InMemorySaver(), None, CallFacts(call_sid="CA9"))
    assert flow.graph.__globals__["built_per_call"] == ["CA9"]


def test_a_graph_without_phone_settings_gets_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "bare.py").write_text(GRAPH_MODULE.replace("phone = ", "unused = "))
    flow = load_flow("bare.py:graph", root=tmp_path)
    assert flow.phone == PhoneSettings()


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("nope", "unknown graph 'nope'"),
        ("flows/missing.py:graph", "no such file"),
        ("flows/acme_support.py:absent", "has no attribute 'absent'"),
        ("flows/acme_support.py:not_a_graph", "expected a compiled graph"),
        ("no_such_package.flow:graph", "cannot import 'no_such_package'"),
    ],
)
def test_bad_names_fail_with_one_line_that_says_what_is_accepted(
    project: Path, spec: str, says: str
) -> None:
    with pytest.raises(GraphLoadError) as caught:
        load_flow(spec, root=project)
    message = str(caught.value)
    assert says in message and "\n" not in message


def test_no_name_is_the_first_graph_of_langgraph_json(project: Path, tmp_path: Path) -> None:
    assert load_flow("", root=project).id == "acme"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GraphLoadError, match=r"no graph named and no langgraph\.json graph"):
        load_flow("", root=empty)


def test_a_graph_without_messages_is_refused(tmp_path: Path) -> None:
    (tmp_path / "counter.py").write_text(
        textwrap.dedent(
            """
            from typing import TypedDict
            from langgraph.graph import END, START, StateGraph

            class Count(TypedDict):
                n: int

            builder = StateGraph(Count)
            builder.add_node("inc", lambda s: {"n": s["n"] + 1})
            builder.add_edge(START, "inc")
            builder.add_edge("inc", END)
            """
        )
    )
    flow = load_flow("counter.py:builder", root=tmp_path)
    with pytest.raises(GraphLoadError, match="no 'messages' channel"):
        flow.compile(InMemorySaver(), None)


def test_a_module_that_fails_to_import_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('missing API key')\n")
    with pytest.raises(GraphLoadError, match="importing it failed: RuntimeError: missing API key"):
        load_flow("broken.py:graph", root=tmp_path)
