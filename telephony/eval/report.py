"""A suite run's reports: JSON for tools, JUnit XML for CI, one HTML page for people.

All three are written next to the calls' databases in the run's folder and
are made from the same view of each call (:func:`_view`):

- what the agent and the caller said, and every other text of the call
  (its final state with the tools' arguments and results, the end reason,
  what the flow heard) go through the project's redactor first, with the
  default rules, as the transcripts do: the agent reads a caller's name and
  number back. Kept as they are: the judges' failure reasons (they quote
  what the scenario file expected, and a reason that read
  ``doctor='[PERSON]'`` would no longer say why the call failed), and what
  names the scenario, the run or the flow (scenario, voice, line, rule,
  tool names, transfer destinations);
- a call's recording is a path relative to the report, so the run's folder
  can be moved or attached to a CI job whole. The HTML page links each WAV
  and never embeds it (80 calls of audio would be 100+ MB of page).

How the redactor is called: each distinct text once per report set (a
greeting is in every call), and should the redactor itself fail (its model
missing), the rest is redacted by patterns alone, as transcripts are: a
report is never lost to redaction and never written raw.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from memory.redaction import redact_by_patterns, redact_text
from telephony.eval.judges import tool_calls
from telephony.eval.results import CallRecord, Exchange, Failure, ScenarioResult
from telephony.eval.runner import summary_rows

__all__ = ["REPORT_NAMES", "write_html", "write_json", "write_junit", "write_reports"]

logger = logging.getLogger(__name__)

Redact = Callable[[str], str]
REPORT_NAMES = ("report.json", "report.xml", "report.html")
# What a call record holds that is the scenario's, the run's or the flow's
# configuration, not anybody's words: written as it is. Every other field is
# redacted, so a text field added to the record later is never written raw.
# (``transfers`` are the flow's own destinations, from Twilio's REST log.)
_KEPT = frozenset({"scenario", "mode", "voice", "line", "ended_by", "transfers"})
_KEPT_IN_EXCHANGE = frozenset({"rule"})  # the scenario file's rule, as the reasons quote it
# A tool call's own fields that the graph names (not the caller): kept as they are.
_TOOL_CALL_NAMES = frozenset({"name", "id", "type"})
# XML 1.0 cannot hold most control characters (or lone surrogates): a model's
# stray "\x00" would make the whole JUnit file unreadable to CI.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def write_reports(
    folder: Path, flow: str, results: Sequence[ScenarioResult], *, redact: Redact = redact_text
) -> list[Path]:
    """Write ``report.json``, ``report.xml`` and ``report.html`` into ``folder``; their paths.

    Args:
        folder: The run's output folder (the recordings' paths are made relative to it).
        flow: The flow's id (its ``langgraph.json`` name).
        results: The judged calls, in run order.
        redact: Applied to what the agent and the caller said (default: the
            project's redactor with the default rules).
    """
    shared = _Redactor(redact)  # the three reports redact each text once between them
    paths = [folder / name for name in REPORT_NAMES]
    for path, write in zip(paths, (write_json, write_junit, write_html), strict=True):
        write(path, flow, results, redact=shared)
    return paths


def write_json(
    path: Path, flow: str, results: Sequence[ScenarioResult], *, redact: Redact = redact_text
) -> None:
    """The run as JSON: the summary, and per call its verdict, conversation and final state."""
    calls = [
        {"passed": view.passed, "failures": view.reasons, "call": _call_dict(view.call)}
        for view in _views(results, path.parent, redact)
    ]
    report = {"flow": flow, "summary": summary_rows(results), "calls": calls}
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_junit(
    path: Path, flow: str, results: Sequence[ScenarioResult], *, redact: Redact = redact_text
) -> None:
    """The run as JUnit XML, the format CI systems show as test results.

    One ``<testsuite>`` per variant (``text``, ``voice / line``), one
    ``<testcase>`` per call (classname ``flow.variant``, name the scenario,
    time the call's duration); a failing call has a ``<failure>`` whose
    message is its first reason and whose body is all of them, and every
    call's conversation is its ``<system-out>``.
    """
    views = _views(results, path.parent, redact)
    root = ET.Element("testsuites", name=_xml(f"dialgraph eval: {flow}"))
    by_variant: dict[str, list[_CallView]] = {}
    for view in views:
        by_variant.setdefault(view.variant, []).append(view)
    for variant, items in by_variant.items():
        suite = ET.SubElement(root, "testsuite", name=_xml(f"{flow}: {variant}"))
        suite.attrib.update(_counts(items))
        for view in items:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=_xml(f"{flow}.{variant}"),
                name=_xml(view.call.scenario),
                time=f"{view.call.duration_s:.3f}",
            )
            if not view.passed:
                failure = ET.SubElement(case, "failure", message=_xml(view.reasons[0]))
                failure.text = _xml("\n".join(view.reasons))
            ET.SubElement(case, "system-out").text = _xml(_conversation(view))
    root.attrib.update(_counts(views))
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def write_html(
    path: Path, flow: str, results: Sequence[ScenarioResult], *, redact: Redact = redact_text
) -> None:
    """The run as one self-contained HTML page: the summary, then each call, failing ones first.

    Inline CSS and no script, font or other file from anywhere (a
    Content-Security-Policy says so to the browser too), every text
    escaped; each call is a collapsible section with its verdict and
    reasons, an audio player for its recording (linked, not embedded), the
    timeline of replies and the tools the flow called.
    """
    views = _views(results, path.parent, redact)
    ordered = [v for v in views if not v.passed] + [v for v in views if v.passed]
    passed = sum(v.passed for v in views)
    rate = f" ({passed / len(views):.0%})" if views else ""
    title = f"dialgraph eval: {flow}"
    page = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>{passed} of {len(views)} calls passed{rate}. Failing calls first.</p>",
        _summary_table(summary_rows(results)),
        "<h2>Calls</h2>",
        *(_call_section(i, v) for i, v in enumerate(ordered, 1)),
        "</body>",
        "</html>",
    ]
    path.write_text("\n".join(page) + "\n", encoding="utf-8")


# -- one call, as every report shows it --------------------------------------------


@dataclass(frozen=True, slots=True)
class _CallView:
    """A call ready to write: its texts redacted, its recording relative to the report.

    Attributes:
        call: A copy of the record: exchanges, end reason and final state
            (as JSON values) redacted, the recording's path relative.
        failures: The judges' verdict, as it is (not redacted).
        tools: The tools the flow called (name, arguments, result), redacted.
        variant: ``text`` or ``voice / line``.
    """

    call: CallRecord
    failures: list[Failure]
    tools: list[dict[str, Any]]
    variant: str

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def reasons(self) -> list[str]:
        """The failures, one line each (``turn 5: ...``)."""
        return [str(f) for f in self.failures]


def _call_dict(call: CallRecord) -> dict[str, Any]:
    """A (redacted) call record as JSON, its earlier calls included."""
    data = {f.name: getattr(call, f.name) for f in fields(call)}
    data["exchanges"] = [asdict(e) for e in call.exchanges]
    data["transfers"] = list(call.transfers)
    data["earlier"] = [_call_dict(e) for e in call.earlier]
    return data


def _views(results: Iterable[ScenarioResult], folder: Path, redact: Redact) -> list[_CallView]:
    shared = redact if isinstance(redact, _Redactor) else _Redactor(redact)
    return [_view(r, folder, shared) for r in results]


def _view(result: ScenarioResult, folder: Path, redact: Redact) -> _CallView:
    """``result`` as the reports show it (``redact`` is applied here, and only here)."""
    c = result.call
    changes: dict[str, Any] = {}
    for f in fields(c):
        value = getattr(c, f.name)
        if f.name in _KEPT:
            continue
        if f.name == "recording":
            changes[f.name] = _relative(value, folder)
        elif f.name == "exchanges":
            changes[f.name] = [_redacted_exchange(e, redact) for e in value]
        elif f.name == "earlier":  # the scenario's earlier calls, redacted the same way
            changes[f.name] = [_view(ScenarioResult(e), folder, redact).call for e in value]
        else:  # the final state, the end reason, what the flow heard, and any new field
            changes[f.name] = _jsonable(value, redact)
    call = replace(c, **changes)
    tools = [
        {
            "name": str(t["name"]),
            "args": _jsonable(t["args"], redact),
            "artifact": _jsonable(t["artifact"], redact),
        }
        for t in tool_calls(c.final_state)
    ]
    variant = "text" if c.mode == "text" else f"{c.voice or 'default'} / {c.line}"
    return _CallView(call, list(result.failures), tools, variant)


def _redacted_exchange(exchange: Exchange, redact: Redact) -> Exchange:
    """A copy of ``exchange`` with the text of every field but the rule redacted."""
    changes = {
        f.name: _jsonable(getattr(exchange, f.name), redact)
        for f in fields(exchange)
        if f.name not in _KEPT_IN_EXCHANGE
    }
    return replace(exchange, **changes)


def _jsonable(value: Any, redact: Redact) -> Any:
    """State values as JSON, every text redacted: messages as type, text, tool calls, result.

    What the graph itself names (message types, tool names, tool call ids,
    the state's keys) is kept: it is the flow's vocabulary, not the caller's.
    """
    if isinstance(value, dict):
        return {str(k): _jsonable(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, redact) for v in value]
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float | bool):
        return value
    if hasattr(value, "type") and hasattr(value, "content"):
        message: dict[str, Any] = {"type": value.type, "content": _jsonable(value.content, redact)}
        if name := getattr(value, "name", None):
            message["name"] = str(name)
        if calls := getattr(value, "tool_calls", None):
            message["tool_calls"] = [
                {k: v if k in _TOOL_CALL_NAMES else _jsonable(v, redact) for k, v in call.items()}
                for call in calls
            ]
        if artifact := getattr(value, "artifact", None):
            message["artifact"] = _jsonable(artifact, redact)
        return message
    return redact(str(value))


def _relative(recording: str, folder: Path) -> str:
    """``recording`` (absolute, or relative to where the run started) relative to ``folder``."""
    if not recording:
        return ""
    return Path(os.path.relpath(Path(recording).resolve(), folder.resolve())).as_posix()


class _Redactor:
    """``redact`` with each distinct text redacted once, and patterns should it fail.

    A redactor that cannot run (its spaCy model missing) is not tried again
    for every line: from then on, patterns alone (digit runs, spoken
    numbers, e-mails, "my name is ..."), which over-redact but cannot fail.
    """

    def __init__(self, redact: Redact) -> None:
        self._redact: Redact | None = redact
        self._done: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        if not text.strip():
            return text
        if text not in self._done:
            self._done[text] = self._redacted(text)
        return self._done[text]

    def _redacted(self, text: str) -> str:
        if self._redact is not None:
            try:
                return self._redact(text)
            except Exception as exc:
                logger.warning(
                    "the report's redactor failed (%s); texts are redacted by patterns",
                    type(exc).__name__,
                )
                self._redact = None
        return redact_by_patterns(text)


# -- JUnit -------------------------------------------------------------------------


def _counts(views: Sequence[_CallView]) -> dict[str, str]:
    return {
        "tests": str(len(views)),
        "failures": str(sum(not v.passed for v in views)),
        "errors": "0",
        "skipped": "0",
        "time": f"{sum(v.call.duration_s for v in views):.3f}",
    }


def _conversation(view: _CallView) -> str:
    """The call as lines of text: how it ended, then each reply and what the caller did."""
    c = view.call
    lines = [f"ended by {c.ended_by}" + (f" ({c.end_reason})" if c.end_reason else "")]
    if c.recording:
        lines.append(f"recording: {c.recording}")
    for e in c.exchanges:
        lines.append(f"turn {e.turn} at {e.at_s:.1f} s, agent: {e.agent}")
        if e.understood and e.understood != e.agent:
            lines.append(f"  understood: {e.understood}")
        if e.caller:
            lines.append(f"  caller: {e.caller}" + (f"  [{e.rule}]" if e.rule else ""))
        timing = (
            [] if e.voice_to_voice_ms is None else [f"voice-to-voice {_ms(e.voice_to_voice_ms)}"]
        )
        timing += ["barge-in"] if e.barge_in else []
        if timing:
            lines.append("  " + "; ".join(timing))
    return "\n".join(lines)


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


# -- HTML --------------------------------------------------------------------------

# No script at all; styles only from this page; audio from anywhere the page's
# own scheme reaches (a local file, or the CI server the folder is published on).
_CSP = "default-src 'none'; style-src 'unsafe-inline'; media-src *; base-uri 'none'"
_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em;
  padding: 0 1em; color: #1d1d1f; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border-bottom: 1px solid #ddd; padding: .3em .6em; text-align: left;
  vertical-align: top; }
th { background: #f4f4f6; }
td.num { text-align: right; white-space: nowrap; }
details { border: 1px solid #ddd; border-radius: 6px; margin: .4em 0; padding: .3em .8em; }
details.fail { border-left: 6px solid #c62828; }
details.pass { border-left: 6px solid #2e7d32; }
summary { cursor: pointer; }
.verdict { font-weight: 600; }
.fail .verdict { color: #c62828; }
.pass .verdict { color: #2e7d32; }
.muted { color: #666; }
tr.wrong td { background: #fdecea; }
.barge { background: #fff3cd; border-radius: 3px; padding: 0 .3em; white-space: nowrap; }
pre { margin: 0; white-space: pre-wrap; font-size: 13px; }
audio { width: 100%; max-width: 40em; }
"""


def _e(text: object) -> str:
    """Escaped for HTML text and attribute values (agent and caller words are untrusted)."""
    return html.escape(str(text), quote=True)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} ms"


def _summary_table(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        "<tr><th>variant</th><th>calls</th><th>passed</th><th>success</th>"
        "<th>voice-to-voice p50</th><th>p95</th></tr>"
    )
    body = "".join(
        f"<tr><td>{_e(row['variant'])}</td><td class=num>{row['calls']}</td>"
        f"<td class=num>{row['passed']}</td><td class=num>{row['success']:.0%}</td>"
        f"<td class=num>{_ms(row['voice_to_voice_p50_ms']) or '-'}</td>"
        f"<td class=num>{_ms(row['voice_to_voice_p95_ms']) or '-'}</td></tr>"
        for row in rows
    )
    return f"<h2>Summary</h2>\n<table>{head}{body}</table>"


def _call_section(index: int, view: _CallView) -> str:
    c = view.call
    verdict = "pass" if view.passed else "FAIL"
    first = f" &mdash; {_e(view.reasons[0])}" if view.failures else ""
    parts = [
        f'<details id="call-{index}" class="{verdict.lower()}">',
        f'<summary><span class="verdict">{verdict}</span> <b>{_e(c.scenario)}</b>'
        f' <span class="muted">{_e(view.variant)}, {len(c.exchanges)} replies,'
        f" {c.duration_s:.1f} s</span>{first}</summary>",
    ]
    if view.failures:
        parts.append(
            "<h4>Why it failed</h4><ul>"
            + "".join(f"<li>{_e(reason)}</li>" for reason in view.reasons)
            + "</ul>"
        )
    ending = f"Ended by {_e(c.ended_by)}" + (f" ({_e(c.end_reason)})" if c.end_reason else "")
    if c.transfers:
        ending += "; transferred to " + ", ".join(_e(t) for t in c.transfers)
    if c.mode == "audio":
        ending += f"; barge-ins the agent noticed (Twilio clear): {c.clears}"
    parts.append(f"<p>{ending}.</p>")
    if c.recording:
        src = _e(quote(c.recording))
        parts.append(
            f'<audio controls preload="none" src="{src}"></audio>'
            f'<p class="muted">recording: <a href="{src}">{_e(c.recording)}</a>'
            " (caller left, agent right)</p>"
        )
    parts.append(_timeline(view))
    if c.flow_heard:  # in audio mode, what the server's recogniser made of the caller
        parts.append(
            "<h4>What the flow heard from the caller</h4><ol>"
            + "".join(f"<li>{_e(heard)}</li>" for heard in c.flow_heard)
            + "</ol>"
        )
    parts.append(_tool_table(view.tools))
    parts.append("</details>")
    return "\n".join(parts)


def _timeline(view: _CallView) -> str:
    wrong = {f.turn for f in view.failures if f.turn is not None}
    head = (
        "<tr><th>turn</th><th>at</th><th>the agent said</th><th>the caller did</th>"
        "<th>rule</th><th>voice-to-voice</th><th></th></tr>"
    )
    rows = []
    for e in view.call.exchanges:
        marker = '<span class="barge">barge-in</span>' if e.barge_in else ""
        rows.append(
            f"<tr{' class=wrong' if e.turn in wrong else ''}>"
            f"<td class=num>{e.turn}</td><td class=num>{e.at_s:.1f} s</td>"
            f"<td>{_e(e.agent)}{_understood(e)}</td><td>{_e(e.caller)}</td><td>{_e(e.rule)}</td>"
            f"<td class=num>{_ms(e.voice_to_voice_ms)}</td><td>{marker}</td></tr>"
        )
    return "<h4>Timeline</h4><table>" + head + "".join(rows) + "</table>"


def _understood(e: Exchange) -> str:
    """The recorded words the caller acted on, under what its ear heard, when they differ."""
    if not e.understood or e.understood == e.agent:
        return ""
    return f'<br><span class="muted">understood: {_e(e.understood)}</span>'


def _tool_table(tools: Sequence[dict[str, Any]]) -> str:
    if not tools:
        return '<h4>Tools called</h4><p class="muted">none</p>'
    rows = "".join(
        f"<tr><td>{_e(t['name'])}</td><td><pre>{_e(_json(t['args']))}</pre></td>"
        f"<td><pre>{_e(_json(t['artifact']))}</pre></td></tr>"
        for t in tools
    )
    return (
        "<h4>Tools called</h4><table><tr><th>tool</th><th>arguments</th><th>result</th></tr>"
        + rows
        + "</table>"
    )


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, indent=1)
