"""Redaction of log lines: a filter for every handler, tracebacks included.

A log call is a constant format written by a developer plus values that can be
anything a caller said::

    logger.info("booking for %s on %s", name, when)

:class:`RedactingFilter` analyses the whole formatted line (the constant text
gives the recogniser context: "booking for ...") but replaces PII only inside
the interpolated values, so the developer's own words ("stt=%s vad=%s") are
never mistaken for a name. A line logged without arguments (an f-string, a
third-party library) is redacted whole. An exception's text is redacted too,
line by line, leaving the traceback's file and code lines as they are.

Values are often the code's own words too: an exception interpolated into
"protocol error: %s" reads "Invalid UTF-8 sequence" or "Expected `object`,
got `int` - at `$.stop`", and the small NER model takes "Invalid UTF" and
"stop" for people. So a name found in any redacted text is kept when it is
code (inside backticks, a JSON path such as ``$.media.payload``, an
exception class name) or made only of the words errors and the service are
written in (:data:`_CODE_WORDS`: "invalid", "utf", "expected", "payload"...;
no word on that list is also a given name). Digits, e-mail addresses and
names made of any other word are redacted as before.

The rules are the flow's (its allow-list, keep and extra patterns, see
:mod:`memory.redaction`): the service installs the flow's redactor once it
has loaded the flow, and every filter, already installed or added later,
uses it from then on.

Usage::

    install_redaction()   # after logging (and uvicorn) configured their handlers
    install_redaction(redactor=get_redactor(flow.phone.redaction_rules()))  # the flow's rules
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from memory.redaction import (
    IDENTIFIERS,
    PLACEHOLDERS,
    Finding,
    Redactor,
    get_redactor,
    loading_in_this_thread,
)

__all__ = ["RedactingFilter", "format_with_spans", "install_redaction"]

# The NLP libraries' own lines (and no deadlock while they load), and the
# redactor's own warning (an exception's type name; redacting it could recurse).
_MODEL_LOGGERS = ("presidio", "spacy", "tldextract", "thinc", "memory.redaction")

# One printf-style conversion: %s, %5.1f, %(name)r, %% ...
_SPEC = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?(?P<rest>[#0\- +]*\d*(?:\.\d+)?[hlL]?[diouxXeEfFgGcrsa%])"
)


@dataclass(frozen=True, slots=True)
class _Value:
    """One interpolated value: its conversion in the format, its text in the line."""

    conversion: tuple[int, int]  # where ``%...`` sits in ``msg``
    key: int | str  # index into a tuple of args, or a mapping key
    span: tuple[int, int]  # where its text landed in the formatted line


def _take_apart(msg: str, args: Any) -> tuple[str, list[_Value]] | None:
    """Format ``msg % args`` as logging does, noting where each value landed."""
    if "*" in msg:
        return None
    out: list[str] = []
    values: list[_Value] = []
    length = cursor = index = 0
    positional = not isinstance(args, Mapping)
    try:
        for match in _SPEC.finditer(msg):
            literal = msg[cursor : match.start()]
            out.append(literal)
            length += len(literal)
            cursor = match.end()
            rest = match.group("rest")
            if rest == "%":
                out.append("%")
                length += 1
                continue
            key: int | str = index if positional else match.group("key")
            index += positional
            text = ("%" + rest) % (args[key],)
            out.append(text)
            values.append(_Value(match.span(), key, (length, length + len(text))))
            length += len(text)
        out.append(msg[cursor:])
        if positional and index != len(args):
            return None
    except (IndexError, KeyError, TypeError, ValueError):
        return None
    return "".join(out), values


def format_with_spans(msg: str, args: Any) -> tuple[str, list[tuple[int, int]]] | None:
    """Format ``msg % args`` as logging does, and say where each value landed.

    Returns ``(message, spans)`` or ``None`` when the format is one this does
    not take apart (``*`` widths, a mismatch): the caller then treats the
    whole line as data.
    """
    taken = _take_apart(msg, args)
    if taken is None:
        return None
    message, values = taken
    return message, [v.span for v in values]


_WORD = re.compile(r"[A-Za-z]+")
_ADDRESS = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b")  # a peer's IPv4[:port]
# Words the service's own log values are made of (turn sources, end reasons,
# routes, HTTP): a value of only these and short numbers holds no PII.
_SERVICE_WORDS = frozenset(
    """
    speech dtmf start silence event caller agent hangup hung up stop stopped transfer
    interrupted barge in socket closed before internal error refused protocol failed
    call token duplicate ok none true false completed ringing busy answered
    get post head http https ws wss websocket accepted rejected connection open
    twilio voice status media healthz readyz metrics
    piper pocketsphinx silero assemblyai elevenlabs openai local sqlite postgres redis
    """.split()
)
# Digits that could be one number read across several values ("%s-%s-%s").
_DIGIT_RUN = re.compile(r"\d(?:[\d\s().+-]*\d)?")
_MAX_HARMLESS_DIGITS = 5  # the redactor takes 6+ digits in a row as a number


def _harmless(message: str, values: list[_Value]) -> bool:
    """Whether no value can hold PII, so the (costly) analysis can be skipped.

    A value is harmless when it is a CallSid, stream SID or UUID, or its words
    all come from the service's own vocabulary (turn sources, end reasons,
    routes; never a name or an e-mail) and its digits cannot form a phone,
    card or ID number, alone or run together with a neighbour's.
    """
    for value in values:
        text = message[value.span[0] : value.span[1]]
        if IDENTIFIERS.fullmatch(text.strip("'\"")) or _ADDRESS.fullmatch(text):
            continue
        if any(w.lower() not in _SERVICE_WORDS for w in _WORD.findall(text)):
            return False
    masked = _ADDRESS.sub(  # SIDs and socket addresses are not numbers
        lambda m: "x" * len(m.group()), IDENTIFIERS.sub(lambda m: "x" * len(m.group()), message)
    )
    for run in _DIGIT_RUN.finditer(masked):
        digits = sum(c.isdigit() for c in run.group())
        if digits > _MAX_HARMLESS_DIGITS and any(
            run.start() < v.span[1] and v.span[0] < run.end() for v in values
        ):
            return False
    return True


# Code inside a value: `quoted` names, JSON paths ($.stop, $[0].media), exception classes.
_CODE = re.compile(r"`[^`\n]*`|\$(?:[.\[][\w\]\[.\-\"']*)?|\b[A-Z]\w*(?:Error|Exception|Warning)\b")
# Words that errors (ours, the standard library's, msgspec's, websockets') and
# the service's log values are written in. A "name" made only of these is not
# one. Kept free of given names and surnames: no "mark", "will", "long", "key".
_CODE_WORDS = _SERVICE_WORDS | frozenset(
    """
    invalid valid utf ascii unicode latin codec decode decoding encode encoding sequence
    byte bytes character characters continuation position offset start end expected got
    missing required field fields object array string str int float bool boolean null
    integer number dict list tuple type value values index attribute length size limit
    exceeded maximum minimum recursion depth nested malformed unexpected unknown
    unsupported error errors exception timeout timed refused denied reset failed failure
    bad wrong illegal incomplete truncated overflow padding incorrect base64 token tokens
    signature expired expiry header headers frame frames payload message messages
    stream streams connected json data key keys format syntax parse parsing not allowed
    permitted cannot must be is are was of in at for to from with by and or no an the
    connection peer policy violation server client request response method path url
    query form body content sequencenumber streamsid callsid accountsid
    customparameters mediaformat track tracks chunk timestamp digit digits binary text
    empty extra trailing leading control escape surrogate surrogates decimal hex
    """.split()
)


def _is_code(text: str, finding: Finding, code: list[tuple[int, int]]) -> bool:
    """Whether a PERSON finding is the code's own words, not somebody's name."""
    if finding.entity != "PERSON":
        return False
    if any(lo <= finding.start and finding.end <= hi for lo, hi in code):
        return True
    words = _WORD.findall(text[finding.start : finding.end])
    return bool(words) and all(w.lower() in _CODE_WORDS for w in words)


def _spans(
    text: str, redactor: Redactor, within: list[tuple[int, int]] | None = None
) -> list[Finding]:
    """The redactor's spans in ``text``, minus names that are code or error words."""
    found = redactor.spans(text, within=within)
    if not any(f.entity == "PERSON" for f in found):
        return found
    code = [m.span() for m in _CODE.finditer(text)]
    return [f for f in found if not _is_code(text, f, code)]


def _redact_line(text: str, redactor: Redactor) -> str:
    """``text`` with its PII replaced (a line logged without arguments, or one of a traceback)."""
    pieces: list[str] = []
    cursor = 0
    for finding in _spans(text, redactor):
        pieces += [
            text[cursor : finding.start],
            PLACEHOLDERS.get(finding.entity, f"[{finding.entity}]"),
        ]
        cursor = finding.end
    pieces.append(text[cursor:])
    return "".join(pieces)


class _CleanLines:
    """The last few thousand lines found to hold no PII (repeated lines skip analysis).

    Only clean text is kept, and it is exactly what was logged anyway.
    """

    def __init__(self, size: int = 4096) -> None:
        self._lines: OrderedDict[str, None] = OrderedDict()
        self._redactor: Redactor | None = None  # the one that found them clean
        self._size = size
        self._lock = threading.Lock()

    def redact(self, text: str, redactor: Redactor) -> str:
        with self._lock:
            if redactor is not self._redactor:  # other rules: what was clean may not be
                self._lines.clear()
                self._redactor = redactor
            if text in self._lines:
                self._lines.move_to_end(text)
                return text
        redacted = _redact_line(text, redactor)
        if redacted == text:
            with self._lock:
                self._lines[text] = None
                if len(self._lines) > self._size:
                    self._lines.popitem(last=False)
        return redacted


def _redact_values(msg: str, args: Any, redactor: Redactor) -> tuple[str, Any] | None:
    """``(msg, args)`` with PII replaced inside the values only; ``None`` if not taken apart.

    The record keeps its shape: values without PII stay the objects they were
    (a formatter such as uvicorn's access log unpacks and converts them), a
    value with PII becomes its redacted text behind a ``%s``.
    """
    taken = _take_apart(msg, args)
    if taken is None:
        return None
    message, values = taken
    if _harmless(message, values):
        return msg, args
    found = _spans(message, redactor, within=[v.span for v in values])
    if not found:
        return msg, args
    new_args: Any = list(args) if not isinstance(args, Mapping) else dict(args)
    pieces: list[str] = []
    cursor = 0
    for value in values:
        start, end = value.span
        inside = [f for f in found if f.start < end and start < f.end]
        if not inside:
            continue
        redacted, at = [], start
        for f in inside:
            lo, hi = max(f.start, start), min(f.end, end)
            redacted += [message[at:lo], PLACEHOLDERS.get(f.entity, f"[{f.entity}]")]
            at = hi
        redacted.append(message[at:end])
        if (
            isinstance(value.key, str)
            and value.key in new_args
            and new_args[value.key] is not args[value.key]
        ):
            return None  # one key used twice, differently: flatten instead
        new_args[value.key] = "".join(redacted)
        pieces += [
            msg[cursor : value.conversion[0]],
            "%s" if isinstance(value.key, int) else f"%({value.key})s",
        ]
        cursor = value.conversion[1]
    pieces.append(msg[cursor:])
    return "".join(pieces), tuple(new_args) if isinstance(new_args, list) else new_args


_TRACE_CODE = re.compile(r"^\s+(File \"|\^|~)")


def _redact_traceback(text: str, redactor: Redactor) -> str:
    """Redact an exception's messages; keep ``File ...`` lines and the code under them."""
    lines = text.split("\n")
    kept: list[str] = []
    after_file = False
    for line in lines:
        if _TRACE_CODE.match(line) or (after_file and line.startswith("    ")):
            kept.append(line)
            after_file = line.lstrip().startswith('File "')
            continue
        after_file = False
        kept.append(_redact_line(line, redactor) if line.strip() else line)
    return "\n".join(kept)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record in place.

    Attach it to every handler (:func:`install_redaction` does). A value with
    PII in ``args`` is replaced by its redacted text (the other values and the
    format stay, so formatters that read ``args`` keep working); a line
    without arguments becomes its redacted text. An exception's formatted text
    (``exc_text``) is redacted and ``exc_info`` dropped. Later handlers and
    formatters see only redacted text.

    Args:
        redactor: The redactor to use. ``None``: the one last installed with
            :func:`install_redaction` (the flow's), else the process-wide
            default (created on the first record, not at construction).
    """

    def __init__(self, redactor: Redactor | None = None, name: str = "") -> None:
        super().__init__(name)
        self._redactor = redactor
        self._clean = _CleanLines()

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` and let it through."""
        if getattr(record, "_dialgraph_redacted", False):
            return True  # already done by a filter on another handler
        if record.name.startswith(_MODEL_LOGGERS):
            return True
        if self._redactor is None and _installed is None and loading_in_this_thread():
            return True  # a line logged while this thread loads the redactor itself
        redactor = self._redactor or _installed or get_redactor()
        try:
            self._redact_message(record, redactor)
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = _redact_traceback(record.exc_text, redactor)
                record.exc_info = None  # a formatter must not render the raw exception again
        except Exception as exc:  # a filter that raises breaks the caller's log call
            record.msg = f"(log line withheld: redaction failed with {type(exc).__name__})"
            record.args, record.exc_info, record.exc_text = (), None, None
        record._dialgraph_redacted = True
        return True

    def _redact_message(self, record: logging.LogRecord, redactor: Redactor) -> None:
        if record.args:
            redacted = _redact_values(str(record.msg), record.args, redactor)
            if redacted is not None:
                record.msg, record.args = redacted
                return
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format: log something rather than nothing
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self._clean.redact(message, redactor), ()


_installed: Redactor | None = None  # the flow's, once the service loaded it


def install_redaction(
    filter_: RedactingFilter | None = None, *, redactor: Redactor | None = None
) -> RedactingFilter:
    """Add one :class:`RedactingFilter` to every handler of every logger.

    Call it after logging is configured (``logging.basicConfig``, uvicorn's
    ``Config``): handlers created later are not covered. Idempotent.

    Args:
        filter_: The filter to add (default: a new :class:`RedactingFilter`).
        redactor: From now on, the redactor of every filter that was not
            given its own, already installed or not (the flow's rules).
    """
    global _installed  # noqa: PLW0603 - one set of rules per process: the flow's
    if redactor is not None:
        _installed = redactor
    redacting = filter_ or RedactingFilter()
    loggers = [logging.getLogger()] + [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(redacting)
    return redacting
