"""Scenario files: one simulated caller, what they say and do, and what must be true at the end.

A scenario is a YAML file. The caller does not follow a fixed script: each
time the agent finishes speaking, the caller looks at what it just said and
answers by the first rule whose phrases it heard, so a scenario survives a
rephrased prompt. Loading validates everything up front: a typo fails before
any call is placed, with the file and the key that is wrong.

Example::

    name: book-checkup
    description: A new patient books a checkup for next Tuesday at three
    caller:
      number: "+14155550134"      # "withheld" for no caller ID
      voice: espeak-us            # optional; `dialgraph eval --voices` overrides
    today: "2026-12-03T10:00"     # the flow's date and time for this call
    rules:                        # the first that matches answers; each once unless `times`
      - when: ["help you", "how can i help"]
        say: "I'd like to book a checkup next Tuesday at three"
      - when: ["your name", "what name"]
        say: "John Miller"
      - when: ["shall i book", "should i book"]
        say: "yes please"
      - when: ["anything else"]
        say: "no thanks, goodbye"
    otherwise:                    # when no rule matches, in turn; then the caller hangs up
      - say: "sorry, could you say that again?"
    expect:
      ended_by: agent             # agent, caller, transfer or any
      tool_calls:
        - name: book_appointment
          ok: true
          args: {day: "2026-12-08", time: "15:00"}
      said: ["checkup", "three p m"]
      never_said: ["Maria"]
      within_s: 120

A scenario may instead (or as well) give the caller a ``goal`` and a
``persona``: with a chat model configured, the model plays the caller for
what no rule answers (:mod:`telephony.eval.model_caller`); without one, the
run skips the scenario and says so.

Earlier calls (``before:``, a list of ``caller``/``rules``/``otherwise``
mappings) are played first in the same flow state and not judged: a second
caller who must hear nothing of the first is written this way.

Pure: parsing and validation only.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from spoken.words import fold

__all__ = [
    "ACTIONS",
    "ENDINGS",
    "Action",
    "CallerSpec",
    "Expectations",
    "Rule",
    "Scenario",
    "ScenarioError",
    "ToolCallExpectation",
    "load_scenario",
    "load_suite",
    "parse_scenario",
]

ACTIONS = ("say", "press", "silence", "hangup")
ENDINGS = ("agent", "caller", "transfer", "any")
DEFAULT_MAX_SECONDS = 120.0
WITHHELD = "withheld"
DEFAULT_CALLER = "+14155550134"  # a valid US number: memory is kept for it

Ending = Literal["agent", "caller", "transfer", "any"]
_ACTION_KEYS = {"barge_in_ms", "hangup_after", *ACTIONS}  # keys of a rule's action or a fallback


class _ScenarioLoader(yaml.SafeLoader):
    """Safe YAML that says what plain YAML 1.1 lets pass without a word.

    Only plain decimals are whole numbers: YAML 1.1 reads an unquoted
    ``time: 15:00`` as 900 (base 60) and ``press: 0123`` as 83 (octal), so a
    scenario would expect the wrong time and key the wrong digits. And a key
    written twice is an error: a second ``expect:`` would silently replace
    the first, and the call would pass with expectations never checked.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may repeat keys
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"found {key!r} twice", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


_INT_TAG = "tag:yaml.org,2002:int"
_ScenarioLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _INT_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ScenarioLoader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")
)


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class Action:
    """One thing the caller does.

    Attributes:
        kind: ``say`` (speak ``text``), ``press`` (key ``text``), ``silence``
            (say nothing: the agent's silence handling is tested) or ``hangup``.
        text: The words or keys.
        barge_in_ms: Talk over the reply the rule matches: in audio mode the
            caller listens to the first ``barge_in_ms`` of each reply and, if
            the rule's phrase is heard by then, says this while the agent is
            still talking (the agent should stop at once). If the phrase comes
            later in the reply, or in text mode, it is an ordinary answer.
        hangup_after: Hang up once this is done.
    """

    kind: Literal["say", "press", "silence", "hangup"]
    text: str = ""
    barge_in_ms: int | None = None
    hangup_after: bool = False

    def describe(self) -> str:
        """One line: ``say 'yes please'``, ``press 1234#``, ``silence``, ``hangup``."""
        if self.kind == "say":
            return f"say {self.text!r}"
        if self.kind == "press":
            return f"press {self.text}"
        return self.kind


@dataclass(frozen=True, slots=True)
class Rule:
    """When the agent's last reply contains one of ``when``, the caller does ``action``.

    Attributes:
        when: Phrases, any of which triggers the rule (compared as folded words).
        action: What the caller does.
        times: How often the rule may fire in one call.
    """

    when: tuple[str, ...]
    action: Action
    times: int = 1


@dataclass(frozen=True, slots=True)
class CallerSpec:
    """Who calls and how they sound.

    Attributes:
        number: The caller ID (``""``: withheld).
        voice: A caller voice name (:mod:`telephony.eval.voices`), ``""``: the run's.
        noise: Noise kind (``white``, ``babble``, ``street``) or ``""`` for none.
        snr_db: Speech-to-noise ratio when there is noise.
        loss: Share of 20 ms frames lost on the line.
        jitter_ms: Largest extra delay of a frame on the line.
    """

    number: str = DEFAULT_CALLER
    voice: str = ""
    noise: str = ""
    snr_db: float | None = None
    loss: float = 0.0
    jitter_ms: int = 0


@dataclass(frozen=True, slots=True)
class ToolCallExpectation:
    """A tool the agent must (or must not) have called, found in the call's final state.

    Attributes:
        name: The tool's name.
        ok: When set, the tool's result artifact must have ``ok`` equal to it.
        args: Arguments that must match (strings compared folded).
    """

    name: str
    ok: bool | None = None
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Expectations:
    """What must be true at the end of the call.

    Attributes:
        ended_by: Who ended the call: ``agent`` (it hung up), ``caller``,
            ``transfer`` (put through to a person) or ``any``.
        tool_calls: Tools that must have been called (with these arguments).
        no_tool_calls: Tools that must not have been called.
        state: Final state values by dotted path (``caller_name``, ``slots.day``).
        said: Phrases the agent must have said, in some reply. An entry may be
            a list of alternatives, any one of which will do (``[noon, twelve]``):
            in audio mode the caller's ear may hear a word one of several ways.
        never_said: Phrases the agent must never say (another caller's name).
        within_s: The call must end within this many seconds.
    """

    ended_by: Ending = "any"
    tool_calls: tuple[ToolCallExpectation, ...] = ()
    no_tool_calls: tuple[str, ...] = ()
    state: Mapping[str, Any] = field(default_factory=dict)
    said: tuple[tuple[str, ...], ...] = ()
    never_said: tuple[str, ...] = ()
    within_s: float = DEFAULT_MAX_SECONDS


@dataclass(frozen=True, slots=True)
class Scenario:
    """One simulated caller.

    Attributes:
        name: Short id (the file name without ``.yaml`` unless given).
        description: One line saying what the caller wants.
        source: The file it came from.
        caller: Who calls and how they sound.
        today: The flow's date and time for the call (``""``: now).
        rules: How the caller answers what the agent says.
        otherwise: What the caller does, in turn, when no rule matches.
        expect: What must be true at the end.
        tags: Free labels (``smoke`` marks the fast subset ``make test`` runs).
        before: Earlier calls, played first in the same flow state (the same
            database: bookings, caller memory) and not judged: the call
            under test is the last one. A second caller who must not hear the
            first caller's name, a returning caller, are written this way.
        goal: What the caller wants, for a chat model to play them (``""``:
            the rules alone play the caller).
        persona: Who the caller is, for the model (optional).
    """

    name: str
    description: str
    source: str
    caller: CallerSpec
    today: str
    rules: tuple[Rule, ...]
    otherwise: tuple[Action, ...]
    expect: Expectations
    tags: tuple[str, ...] = ()
    before: tuple[Scenario, ...] = ()
    goal: str = ""
    persona: str = ""

    def lines(self) -> list[str]:
        """Every sentence the caller may say (to synthesise before the call)."""
        actions = [rule.action for rule in self.rules] + list(self.otherwise)
        return list(dict.fromkeys(a.text for a in actions if a.kind == "say"))


# -- loading -----------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file.

    Raises:
        ScenarioError: The file is unreadable or invalid.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    return parse_scenario(text, source=str(path), default_name=path.stem)


def load_suite(folder: str | Path) -> list[Scenario]:
    """Every ``*.yaml`` scenario under ``folder``, sorted by file name.

    Raises:
        ScenarioError: The folder holds no scenario, one is invalid, or two share a name.
    """
    folder = Path(folder)
    if folder.is_file():
        return [load_scenario(folder)]
    if not folder.is_dir():
        raise ScenarioError(f"{folder}: no such folder or file")
    paths = sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")])
    if not paths:
        raise ScenarioError(f"{folder}: no scenario files (*.yaml)")
    scenarios = [load_scenario(p) for p in paths]
    seen: dict[str, str] = {}
    for s in scenarios:
        if s.name in seen:
            raise ScenarioError(f"{s.source}: name {s.name!r} is also used by {seen[s.name]}")
        seen[s.name] = s.source
    return scenarios


def parse_scenario(text: str, *, source: str = "<string>", default_name: str = "") -> Scenario:
    """Parse and validate a scenario from YAML text.

    Raises:
        ScenarioError: The YAML is invalid or does not describe a scenario.
    """
    try:
        data = yaml.load(text, Loader=_ScenarioLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: {_yaml_problem(exc)}") from None
    reader = _Reader(source)
    top = reader.mapping(data, "the file")
    reader.known(
        top,
        "the file",
        {
            "name",
            "description",
            "caller",
            "today",
            "rules",
            "otherwise",
            "expect",
            "tags",
            "before",
            "goal",
            "persona",
        },
    )
    name = reader.text(top.get("name", default_name), "name") or default_name
    if not name:
        raise ScenarioError(f"{source}: name: missing")
    today = reader.today(top.get("today"))
    before = []
    for i, raw in enumerate(reader.seq(top, "before")):
        where = f"before[{i}]"
        earlier = reader.mapping(raw, where)
        reader.known(earlier, where, {"description", "caller", "today", "rules", "otherwise"})
        before.append(
            _call(reader, earlier, f"{name}.{where}", where, today=today, expect=Expectations())
        )
    goal = reader.text(top.get("goal", ""), "goal").strip()
    persona = reader.text(top.get("persona", ""), "persona").strip()
    if persona and not goal:
        raise reader.fail("persona", "a persona needs a goal (what the caller wants)")
    scenario = _call(
        reader,
        top,
        name,
        "",
        today=today,
        expect=reader.expectations(top.get("expect", {})),
        played_by_model=bool(goal),
    )
    return replace(
        scenario,
        tags=tuple(reader.text(t, "tags") for t in reader.seq(top, "tags")),
        before=tuple(before),
        goal=goal,
        persona=persona,
    )


def _call(
    reader: _Reader,
    raw: Mapping[str, Any],
    name: str,
    where: str,
    *,
    today: str,
    expect: Expectations,
    played_by_model: bool = False,
) -> Scenario:
    """One call of a scenario (the judged one, or an earlier one under ``where``)."""
    at = f"{where}." if where else ""
    rules = tuple(reader.rule(r, f"{at}rules[{i}]") for i, r in enumerate(reader.seq(raw, "rules")))
    otherwise = tuple(
        reader.fallback(r, f"{at}otherwise[{i}]")
        for i, r in enumerate(reader.seq(raw, "otherwise"))
    )
    if not rules and not otherwise and not played_by_model:
        raise reader.fail(f"{at}rules", "the caller needs at least one rule (or a goal)")
    return Scenario(
        name=name,
        description=reader.text(raw.get("description", ""), f"{at}description"),
        source=reader.source,
        caller=reader.caller(raw.get("caller", {})),
        today=reader.today(raw["today"]) if "today" in raw and where else today,
        rules=rules,
        otherwise=otherwise,
        expect=expect,
    )


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line, where and what (PyYAML's own message spans several)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}: "
    return f"{where}not valid YAML: {problem}"


class _Reader:
    """Typed access to the parsed YAML, with errors that name the file and key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {where}: {problem}")

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        return value

    def known(self, value: Mapping[str, Any], where: str, keys: set[str]) -> None:
        # str(): YAML keys may be numbers or booleans (`yes:`), which do not sort with text
        if unknown := sorted(str(k) for k in set(value) - keys):
            raise self.fail(where, f"unknown key {unknown[0]!r} (known: {', '.join(sorted(keys))})")

    def seq(self, parent: Mapping[str, Any], key: str, where: str = "") -> Sequence[Any]:
        value = parent.get(key)
        if value is None:
            return ()
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise self.fail(where or key, "expected a list")
        return value

    def text(self, value: Any, where: str) -> str:
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(where, f"expected text, got {type(value).__name__}")
        return str(value).strip()

    def number(self, value: Any, where: str, *, low: float, high: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"expected a number, got {value!r}")
        if not low <= value <= high:
            raise self.fail(where, f"must be between {low:g} and {high:g}, got {value!r}")
        return float(value)

    def whole(self, value: Any, where: str, *, low: int, high: int) -> int:
        """A count or milliseconds: ``times: 1.5`` is a typo, not one and a half."""
        number = self.number(value, where, low=low, high=high)
        if not number.is_integer():
            raise self.fail(where, f"expected a whole number, got {value!r}")
        return int(number)

    def today(self, value: Any) -> str:
        """The flow's "now" as ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM`` (what the flow is given).

        A bad date fails here, before any call, not as an error in every call;
        an unquoted ``2026-12-03`` (a YAML date) is taken as written.
        """
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            return value.isoformat()
        else:
            text = self.text(value, "today")
            if not text:
                return ""
            try:
                if len(text) == len("2026-12-03"):
                    return date.fromisoformat(text).isoformat()
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise self.fail(
                    "today", f"expected YYYY-MM-DD or YYYY-MM-DDTHH:MM, got {text!r}"
                ) from None
        if moment.tzinfo is not None:
            raise self.fail("today", "the flow's local date and time, without a time zone")
        return moment.isoformat(timespec="minutes")

    def phrases(self, value: Any, where: str) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, Sequence) or not items:
            raise self.fail(where, "expected a phrase or a list of phrases")
        phrases = tuple(self.text(p, where) for p in items)
        if not all(fold(p) for p in phrases):  # "" or "?!": no words to look for
            raise self.fail(where, "a phrase needs words (an empty one would match everything)")
        return phrases

    def alternatives(self, value: Any, where: str) -> tuple[tuple[str, ...], ...]:
        """Phrases, each a phrase or a list of alternatives to it."""
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, Sequence) or not items:
            raise self.fail(where, "expected a phrase or a list of phrases")
        return tuple(
            self.phrases(item, f"{where}[{i}]")
            if not isinstance(item, str)
            else self.phrases(item, where)
            for i, item in enumerate(items)
        )

    def action(self, raw: Mapping[str, Any], where: str) -> Action:
        kinds = [k for k in ACTIONS if k in raw]
        if len(kinds) != 1:
            raise self.fail(where, f"needs exactly one of {', '.join(ACTIONS)}")
        kind = kinds[0]
        text = ""
        if kind in ("say", "press"):
            text = self.text(raw[kind], f"{where}.{kind}")
            if not text:
                raise self.fail(f"{where}.{kind}", "empty")
            if kind == "press" and set(text) - set("0123456789*#"):
                raise self.fail(f"{where}.press", f"keys are 0-9, * and #, got {text!r}")
        elif raw[kind] is not True:
            raise self.fail(f"{where}.{kind}", "write it as `true`")
        barge_in = raw.get("barge_in_ms")
        if barge_in is not None:
            if kind != "say":
                raise self.fail(f"{where}.barge_in_ms", "only a `say` can talk over the agent")
            barge_in = self.whole(barge_in, f"{where}.barge_in_ms", low=0, high=30_000)
        hangup_after = raw.get("hangup_after", False)
        if not isinstance(hangup_after, bool):
            raise self.fail(f"{where}.hangup_after", "expected true or false")
        return Action(kind=kind, text=text, barge_in_ms=barge_in, hangup_after=hangup_after)  # type: ignore[arg-type]

    def rule(self, raw: Any, where: str) -> Rule:
        raw = self.mapping(raw, where)
        self.known(raw, where, {"when", "times", *_ACTION_KEYS})
        if "when" not in raw:
            raise self.fail(where, "needs `when` (the phrases that trigger it)")
        times = self.whole(raw.get("times", 1), f"{where}.times", low=1, high=100)
        return Rule(self.phrases(raw["when"], f"{where}.when"), self.action(raw, where), times)

    def fallback(self, raw: Any, where: str) -> Action:
        raw = self.mapping(raw, where)
        self.known(raw, where, _ACTION_KEYS)  # `when` or `times` here would silently do nothing
        return self.action(raw, where)

    def caller(self, raw: Any) -> CallerSpec:
        raw = self.mapping(raw, "caller")
        self.known(raw, "caller", {"number", "voice", "noise", "snr_db", "loss", "jitter_ms"})
        number = raw.get("number", DEFAULT_CALLER)
        if isinstance(number, int | float) and not isinstance(number, bool):
            # unquoted, YAML reads +14155550134 as a number, and the + is gone
            raise self.fail("caller.number", f'write it in quotes ("+1..."), got {number!r}')
        number = self.text(number, "caller.number")
        noise = self.text(raw.get("noise", ""), "caller.noise")
        snr = raw.get("snr_db")
        if noise and snr is None:
            raise self.fail("caller.snr_db", "noise needs an SNR (e.g. 20 or 10)")
        return CallerSpec(
            number="" if number.lower() == WITHHELD else number,
            voice=self.text(raw.get("voice", ""), "caller.voice"),
            noise=noise,
            snr_db=None if snr is None else self.number(snr, "caller.snr_db", low=-10, high=60),
            loss=self.number(raw.get("loss", 0.0), "caller.loss", low=0, high=0.5),
            jitter_ms=self.whole(raw.get("jitter_ms", 0), "caller.jitter_ms", low=0, high=500),
        )

    def expectations(self, raw: Any) -> Expectations:
        raw = self.mapping(raw, "expect")
        self.known(raw, "expect", {f.name for f in fields(Expectations)})
        ended_by = self.text(raw.get("ended_by", "any"), "expect.ended_by")
        if ended_by not in ENDINGS:
            raise self.fail("expect.ended_by", f"one of {', '.join(ENDINGS)}, got {ended_by!r}")
        calls = []
        for i, raw_item in enumerate(self.seq(raw, "tool_calls", "expect.tool_calls")):
            where = f"expect.tool_calls[{i}]"
            item = self.mapping(raw_item, where)
            self.known(item, where, {"name", "ok", "args"})
            name = self.text(item.get("name"), f"{where}.name")
            if not name:
                raise self.fail(f"{where}.name", "missing")
            ok = item.get("ok")
            if ok is not None and not isinstance(ok, bool):
                raise self.fail(f"{where}.ok", "expected true or false")
            args = self.mapping(item.get("args"), f"{where}.args")
            calls.append(ToolCallExpectation(name, ok, args))
        return Expectations(
            ended_by=ended_by,  # type: ignore[arg-type]
            tool_calls=tuple(calls),
            no_tool_calls=tuple(
                self.text(n, "expect.no_tool_calls")
                for n in self.seq(raw, "no_tool_calls", "expect.no_tool_calls")
            ),
            state=self.mapping(raw.get("state"), "expect.state"),
            said=self.alternatives(raw["said"], "expect.said") if "said" in raw else (),
            never_said=(
                self.phrases(raw["never_said"], "expect.never_said") if "never_said" in raw else ()
            ),
            within_s=self.number(
                raw.get("within_s", DEFAULT_MAX_SECONDS), "expect.within_s", low=1, high=3600
            ),
        )
