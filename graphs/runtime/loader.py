"""Find the graph to put on the phone: ``DIALGRAPH_GRAPH`` / ``--graph``.

A graph is named in one of three ways:

- an id from ``langgraph.json`` (``clinic``, ``helpdesk``): the same graph
  ``langgraph dev`` and Studio run;
- ``path/to/file.py:attr``;
- ``package.module:attr``.

``attr`` is a compiled graph, a ``StateGraph`` builder, or a factory called
once per call with the call's facts that returns either. Dialgraph attaches
its own checkpointer and store to whatever it gets. The flow's phone
settings are the ``phone`` attribute of the same module
(:class:`~graphs.runtime.phone.PhoneSettings`), if it has one.

Every mistake is one :class:`GraphLoadError` line saying what was wrong and
what is accepted; nothing here prints a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from graphs.runtime.contract import CallFacts
from graphs.runtime.phone import PhoneSettings

__all__ = ["Flow", "GraphLoadError", "load_flow", "module_file"]

FORMS = "a langgraph.json id, path/to/file.py:attr, or package.module:attr"


class GraphLoadError(ValueError):
    """The graph setting names nothing usable; the message says why."""


@dataclass(frozen=True)
class Flow:
    """A loaded graph with its phone settings.

    Attributes:
        id: The graph's name (the langgraph.json id, else the attribute).
        target: What it was loaded from (``file.py:attr`` / ``module:attr``).
        graph: A compiled graph, a builder, or a per-call factory.
        phone: The flow's phone settings.
    """

    id: str
    target: str
    graph: Any
    phone: PhoneSettings = field(default_factory=PhoneSettings)

    @property
    def per_call(self) -> bool:
        """Whether the graph is built per call by a factory."""
        return not isinstance(self.graph, Pregel | StateGraph)

    def compile(
        self, checkpointer: Any, store: Any, facts: CallFacts | None = None
    ) -> Pregel[Any, Any, Any, Any]:
        """The graph compiled (or copied) with Dialgraph's checkpointer and store."""
        graph = self.graph
        if self.per_call:
            try:
                graph = graph(facts or CallFacts())
            except Exception as exc:
                raise GraphLoadError(
                    f"{self.target}: the graph factory failed: {type(exc).__name__}: {exc}"
                ) from None
        if isinstance(graph, StateGraph):
            return _check(graph.compile(checkpointer=checkpointer, store=store, name=self.id), self)
        if isinstance(graph, Pregel):
            return _check(graph.copy(update={"checkpointer": checkpointer, "store": store}), self)
        raise GraphLoadError(
            f"{self.target}: the factory returned {type(graph).__name__}, "
            "not a compiled graph or a StateGraph"
        )


def _check(graph: Pregel[Any, Any, Any, Any], flow: Flow) -> Pregel[Any, Any, Any, Any]:
    if "messages" not in graph.channels:
        raise GraphLoadError(
            f"{flow.target}: the graph has no 'messages' channel; phone turns enter as "
            "messages (use MessagesState or a state with a 'messages' list)"
        )
    return graph


def _langgraph_ids(root: Path) -> dict[str, str]:
    config = root / "langgraph.json"
    if not config.is_file():
        return {}
    try:
        graphs = json.loads(config.read_text()).get("graphs") or {}
    except (OSError, ValueError) as exc:
        raise GraphLoadError(f"{config}: cannot read it ({exc})") from None
    found: dict[str, str] = {}
    for name, target in graphs.items():
        if isinstance(target, str):
            found[name] = target
        elif isinstance(target, dict) and isinstance(target.get("path"), str):
            found[name] = target["path"]
    return found


def _module_from_file(path: Path, root: Path) -> ModuleType:
    """Import a file, by its package name when it lies inside an importable package."""
    path = path.resolve()
    try:
        relative = path.relative_to(root.resolve())
    except ValueError:
        relative = None
    if relative is not None and all(
        (root / Path(*relative.parts[:i]) / "__init__.py").is_file()
        for i in range(1, len(relative.parts))
    ):
        if str(root.resolve()) not in [str(Path(p).resolve()) for p in sys.path if p]:
            sys.path.insert(0, str(root.resolve()))
        return importlib.import_module(".".join(relative.with_suffix("").parts))
    name = f"dialgraph_flow_{path.stem}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise GraphLoadError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _import(target: str, root: Path) -> ModuleType:
    where, _, _ = target.partition(":")
    try:
        if where.endswith(".py"):
            path = (root / where) if not Path(where).is_absolute() else Path(where)
            if not path.is_file():
                raise GraphLoadError(f"{target}: no such file {path}")
            return _module_from_file(path, root)
        if str(root.resolve()) not in [str(Path(p).resolve()) for p in sys.path if p]:
            sys.path.insert(0, str(root.resolve()))
        return importlib.import_module(where)
    except GraphLoadError:
        raise
    except ModuleNotFoundError as exc:
        raise GraphLoadError(f"{target}: cannot import {exc.name!r}") from None
    except Exception as exc:  # the user's module raised while importing
        raise GraphLoadError(
            f"{target}: importing it failed: {type(exc).__name__}: {exc}"
        ) from None


def load_flow(spec: str, *, root: Path | None = None) -> Flow:
    """Load the graph ``spec`` names, with its phone settings.

    Args:
        spec: A langgraph.json id, ``path/to/file.py:attr`` or ``package.module:attr``;
            ``""`` for the first graph ``langgraph.json`` lists.
        root: Where ``langgraph.json`` and relative paths are looked up
            (default: the working directory).

    Raises:
        GraphLoadError: Nothing usable is named; the message says why.
    """
    root = root or Path.cwd()
    spec = spec.strip()
    ids = _langgraph_ids(root)
    if not spec and ids:
        spec = next(iter(ids))  # the first graph langgraph.json lists
    if not spec:
        raise GraphLoadError(f"no graph named and no langgraph.json graph here: give {FORMS}")
    graph_id = ""
    target = spec
    if spec in ids:
        graph_id, target = spec, ids[spec]
    elif ":" not in spec:
        known = ", ".join(sorted(ids)) or "none"
        raise GraphLoadError(
            f"unknown graph {spec!r}: give {FORMS} (langgraph.json ids here: {known})"
        )
    module = _import(target, root)
    attr = target.partition(":")[2] or "graph"
    if not hasattr(module, attr):
        raise GraphLoadError(f"{target}: the module has no attribute {attr!r}")
    graph = getattr(module, attr)
    if not isinstance(graph, Pregel | StateGraph) and not callable(graph):
        raise GraphLoadError(
            f"{target}: {attr} is a {type(graph).__name__}; expected a compiled graph, "
            "a StateGraph or a factory"
        )
    phone = getattr(module, "phone", None)
    if phone is None:
        phone = PhoneSettings()
    elif not isinstance(phone, PhoneSettings):
        raise GraphLoadError(f"{target}: 'phone' must be a dialgraph.PhoneSettings")
    return Flow(graph_id or attr, target, graph, phone)


def describe(flow: Flow) -> str:
    """One line for the start-up log."""
    return f"{flow.id} ({flow.target}{', built per call' if flow.per_call else ''})"


FlowFactory = Callable[[CallFacts], Any]


def module_file(flow: Flow) -> Path | None:
    """The file of the module the flow's graph was loaded from, if any.

    The loader imports a ``.py`` path under a name of its own, relative to
    its root: the module is found by the graph it holds, the one named like
    the target first (another module may have imported the same graph).
    """
    where, _, attr = flow.target.partition(":")
    holders = []
    for name, module in list(sys.modules.items()):
        names = getattr(module, "__dict__", {})  # not getattr(): no module __getattr__ runs
        if attr and names.get(attr) is flow.graph and names.get("__file__"):
            file = Path(names["__file__"])
            holders.append((name != where and file.name != Path(where).name, file))
    if holders:
        return min(holders)[1]
    return Path(where) if where.endswith(".py") else None
