"""Log-line redaction: only interpolated values are replaced, tracebacks are
redacted but stay readable, and every handler (uvicorn's too) gets the filter."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from memory.redaction import Redactor, get_redactor
from memory.redaction_logging import RedactingFilter, format_with_spans, install_redaction


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return get_redactor()


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def capture(redactor: Redactor) -> Iterator[tuple[logging.Logger, _Capture]]:
    logger = logging.getLogger("test_redaction_logging")
    handler = _Capture()
    handler.addFilter(RedactingFilter(redactor))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    ("msg", "args", "expected"),
    [
        ("plain", (), ("plain", [])),
        ("a %s b", ("x",), ("a x b", [(2, 3)])),
        (
            "%d%% of %5.1f ms, %r",
            (50, 3.14159, "q"),
            ("50% of   3.1 ms, 'q'", [(0, 2), (7, 12), (17, 20)]),
        ),
        ("%(who)s at %(when)s", {"who": "Ann", "when": "3"}, ("Ann at 3", [(0, 3), (7, 8)])),
        ("width %*d", (3, 4), None),  # '*' widths: not taken apart
        ("too few %s %s", ("a",), None),
        ("too many %s", ("a", "b"), None),
        ("bad %d", ("text",), None),
    ],
)
def test_format_with_spans(msg: str, args: object, expected: object) -> None:
    assert format_with_spans(msg, args) == expected
    if expected is not None:
        assert expected[0] == msg % args  # type: ignore[index]


def test_only_interpolated_values_are_redacted(capture) -> None:
    logger, handler = capture
    logger.info(
        "engines ready: agent=%s model=%s tts=%s stt=%s vad=%s",
        "clinic",
        "local",
        "piper",
        "pocketsphinx",
        "silero",
    )
    logger.info("booking for %s, callback %s", "Maria Gonzalez", "+1 415 555 0134")
    logger.info("Dr. %s said the name %s", "Patel", "john miller")  # staff stay, the caller goes
    assert [r.getMessage() for r in handler.records] == [
        "engines ready: agent=clinic model=local tts=piper stt=pocketsphinx vad=silero",
        "booking for [PERSON], callback [PHONE]",
        "Dr. Patel said the name [PERSON]",
    ]
    # The format stays; only values with PII were replaced (by their redacted text).
    assert handler.records[0].args == ("clinic", "local", "piper", "pocketsphinx", "silero")
    assert handler.records[1].msg == "booking for %s, callback %s"
    assert handler.records[1].args == ("[PERSON]", "[PHONE]")


def test_formatters_that_unpack_args_keep_working(capture) -> None:
    """uvicorn's access formatter unpacks five args and converts the status to int."""
    from uvicorn.logging import AccessFormatter

    logger, handler = capture
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    fmt = '%s - "%s %s HTTP/%s" %d'
    logger.info(fmt, "127.0.0.1:5000", "GET", "/healthz", "1.1", 200)
    logger.info(fmt, "127.0.0.1:5000", "GET", "/lookup?phone=+14155550134", "1.1", 404)
    logger.info(fmt, "127.0.0.1:5000", "GET", "/healthz?phone=4155550134&name=john", "1.1", 200)
    assert handler.lines == [
        '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200 OK',
        '127.0.0.1:5000 - "GET /lookup?phone=[PHONE] HTTP/1.1" 404 Not Found',
        '127.0.0.1:5000 - "GET /healthz?phone=[PHONE]&name=[PERSON] HTTP/1.1" 200 OK',
    ]


def test_mapping_args_keep_their_keys(capture) -> None:
    logger, handler = capture
    logger.info("%(who)s rang %(times)d times", {"who": "Maria Gonzalez", "times": 3})
    [record] = handler.records
    assert record.args == {"who": "[PERSON]", "times": 3}
    assert record.getMessage() == "[PERSON] rang 3 times"


def test_a_line_without_arguments_is_redacted_whole(capture) -> None:
    logger, handler = capture
    card = "4111 1111 1111 1111"
    logger.warning(f"caller Maria Gonzalez read card {card}")  # noqa: G004 - third-party style
    logger.info("broken %d format", "not a number")  # falls back to the whole line
    assert handler.records[0].getMessage() == "caller [PERSON] read card [CARD]"
    assert "broken" in handler.records[1].getMessage()


def test_exception_text_is_redacted_and_the_traceback_kept(capture) -> None:
    logger, handler = capture
    handler.setFormatter(logging.Formatter("%(message)s"))

    def book(name: str, card: str) -> None:
        raise ValueError(f"card {card} declined for {name}")

    caller = {"name": "Maria Gonzalez", "card": "4111 1111 1111 1111"}
    try:
        book(caller["name"], caller["card"])
    except ValueError:
        logger.exception("booking failed")
    [line] = handler.lines
    assert "4111" not in line and "Gonzalez" not in line  # the source lines hold no values
    assert "ValueError: card [CARD] declined for [PERSON]" in line
    assert 'File "' in line and 'raise ValueError(f"card {card} declined for {name}")' in line
    assert handler.records[0].exc_info is None  # nothing left for another formatter


def test_install_covers_every_handler_once(redactor: Redactor) -> None:
    root_handler, named_handler = logging.NullHandler(), logging.NullHandler()
    named = logging.getLogger("test_redaction_logging.uvicorn_like")
    logging.getLogger().addHandler(root_handler)
    named.addHandler(named_handler)
    try:
        filt = install_redaction(RedactingFilter(redactor))
        install_redaction(RedactingFilter(redactor))  # idempotent
        assert root_handler.filters == [filt]
        assert named_handler.filters == [filt]
    finally:
        logging.getLogger().removeHandler(root_handler)
        named.removeHandler(named_handler)


def test_values_that_cannot_hold_pii_skip_the_analysis(redactor: Redactor, monkeypatch) -> None:
    from memory import redaction_logging

    calls: list[str] = []
    real = Redactor.spans

    def counting(self, text, **kwargs):
        calls.append(text)
        return real(self, text, **kwargs)

    monkeypatch.setattr(Redactor, "spans", counting)
    sid = "CA" + "1" * 32
    fast = [
        ("turn %d: first audio %s ms", (3, 640)),
        ("[%s] stream %s", (sid, "MZ" + "2" * 32)),
        ("took %.1f ms", (3.14159,)),
        ("turn %d (%s): first audio %s ms", (3, "speech", 640)),
        ('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "POST", "/twilio/voice", "1.1", 200)),
        ("call ended: %s", ("caller hung up (stop)",)),
    ]
    slow = [
        ("digits %s-%s-%s", ("415", "555", "0134")),  # one phone number across values
        ("callback %d", (4155550134,)),
        ("name %s", ("john",)),
        ("turn %d (%s)", (3, "speech by john")),  # one unknown word: analysed
    ]
    for msg, args in fast + slow:
        assert redaction_logging._redact_values(msg, args, redactor) is not None
    assert len(calls) == len(slow)
    assert redaction_logging._redact_values(
        "digits %s-%s-%s", ("415", "555", "0134"), redactor
    ) == (
        "digits %s-%s-%s",
        ("[PHONE]", "[PHONE]", "[PHONE]"),
    )


def test_clean_lines_are_remembered_and_dirty_ones_are_not(capture, monkeypatch) -> None:
    logger, handler = capture
    analysed: list[str] = []
    real = Redactor.spans

    def counting(self, text, **kwargs):
        analysed.append(text)
        return real(self, text, **kwargs)

    monkeypatch.setattr(Redactor, "spans", counting)
    for _ in range(3):
        logger.info("stream started")
        logger.info("caller Maria Gonzalez called")
    assert analysed.count("stream started") == 1
    assert analysed.count("caller Maria Gonzalez called") == 3
    assert {r.getMessage() for r in handler.records} == {
        "stream started",
        "caller [PERSON] called",
    }


def test_installing_the_flows_redactor_switches_every_filter_to_its_rules(monkeypatch) -> None:
    from graphs.runtime.phone import Redaction
    from memory import redaction_logging

    monkeypatch.setattr(redaction_logging, "_installed", None)  # restored after the test
    logger = logging.getLogger("test_redaction_logging.flow_rules")
    handler = _Capture()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        default = RedactingFilter()  # installed before the flow was loaded, as the CLI does
        handler.addFilter(default)
        logger.warning("no-arg line: ticket number 482913 for Maria Gonzalez")
        helpdesk = get_redactor(
            Redaction(
                keep_patterns=(r"\bticket number \d{6}\b",),
                extra_patterns={"ACCOUNT": r"\bACC\d{8}\b"},
            )
        )
        install_redaction(redactor=helpdesk)
        logger.warning("no-arg line: ticket number 482913 for Maria Gonzalez")
        logger.warning("account %s on ticket number %s", "ACC12345678", "482913")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert handler.lines == [
        "no-arg line: ticket number [NUMBER] for [PERSON]",  # the clean-line cache is per rules
        "no-arg line: ticket number 482913 for [PERSON]",
        "account [ACCOUNT] on ticket number 482913",
    ]
    assert handler.filters == [default], "switched in place, not added twice"


class _ProtocolError(Exception):
    """Stands in for telephony.wire.protocol.ProtocolError (memory/ never imports telephony/)."""


SID = "CA" + "3" * 32
STREAM = "MZ" + "4" * 32

# Log calls the service makes (telephony/call/session.py, protocol.py, web/*.py,
# services.py...) with the values they carry, errors included: none holds
# personal data, so each line must come out exactly as formatted.
SERVICE_LINES = [
    ("closing stream, protocol error: %s", (_ProtocolError("Invalid UTF-8 sequence"),)),
    (
        "closing stream, protocol error: %s",
        (_ProtocolError("invalid stop message: Expected `object`, got `int` - at `$.stop`"),),
    ),
    (
        "closing stream, protocol error: %s",
        (
            _ProtocolError(
                "invalid start message: Object missing required field `accountSid` - at `$.start`"
            ),
        ),
    ),
    (
        "closing stream, protocol error: %s",
        (
            _ProtocolError(
                "invalid media message: Invalid base64 encoded string - at `$.media.payload`"
            ),
        ),
    ),
    (
        "closing stream, protocol error: %s",
        (_ProtocolError("invalid message: Expected `str`, got `int` - at `$.event`"),),
    ),
    ("closing stream, protocol error: %s", (_ProtocolError("invalid JSON: nested too deeply"),)),
    (
        "closing stream, protocol error: %s",
        (_ProtocolError("invalid JSON: Input data was truncated"),),
    ),
    ("closing stream, protocol error: %s", (_ProtocolError("binary frame (expected JSON text)"),)),
    (
        "closing stream, protocol error: %s",
        (_ProtocolError("message of 70000 bytes, limit 65536"),),
    ),
    (
        "call ended: %s (code %d, %d turns, %d interruptions)",
        ("protocol error: invalid JSON: Invalid UTF-8 sequence", 1007, 0, 0),
    ),
    ("media stream refused: %s", ("malformed call token",)),
    ("media stream refused: %s", ("call token does not match this call or its parameters",)),
    ("media stream refused: %s", ("call token expired",)),
    ("refused %s %s: %s", ("POST", "/twilio/voice", "invalid signature")),
    ("voice webhook: refused %s (%s)", (SID, "caller_concurrent")),
    ("voice webhook: connecting %s (%s) to the media stream", (SID, "inbound")),
    ("call started (stream %s)", (STREAM,)),
    ("dialogue thread %s", ("5e3c12d0-a79e-5445-ba6c-5f0fb4b3592c",)),
    ("turn %d (%s): first token %.1f ms, first audio %s ms", (1, "start", 49.3, None)),
    ("reply %d interrupted (%s); caller heard %d chars", (2, "barge-in", 40)),
    ("keypad entry of %d digits (%s)", (4, "finish key")),
    ("agent did not close cleanly: %s", ("TimeoutError",)),
    ("agent failed during turn %d: %s", (3, "RecursionError")),
    ("speech recognition failed, keypad only from now: %s", (ConnectionResetError(104, "reset"),)),
    ("closing media socket failed: %s", ("ConnectionClosedError",)),
    ("engines ready: graph=%s tts=%s stt=%s vad=%s", ("graph", "piper", "none", "silero")),
    ("drain: %d calls still live after their goodbye; cutting", (2,)),
    ("Redis limits are back; limits are shared again", ()),
    ("Invalid UTF-8 sequence", ()),  # a third-party line, no arguments
]


@pytest.mark.parametrize(("msg", "args"), SERVICE_LINES)
def test_the_services_own_lines_and_error_words_pass_unchanged(capture, msg, args) -> None:
    logger, handler = capture
    logger.warning(msg, *args)
    assert handler.records[0].getMessage() == msg % args


@pytest.mark.parametrize(
    ("msg", "args", "expected"),
    [
        (
            "closing stream, protocol error: %s",
            (_ProtocolError("invalid caller Maria Gonzalez at `$.start`"),),
            "closing stream, protocol error: invalid caller [PERSON] at `$.start`",
        ),
        ("booking for %s", ("Maria Gonzalez",), "booking for [PERSON]"),
        ("callback %s", ("+1 415 555 0134",), "callback [PHONE]"),
        ("card %s declined", ("4111 1111 1111 1111",), "card [CARD] declined"),
        (
            "call ended: %s",
            ("protocol error: invalid token for +14155550134",),
            "call ended: protocol error: invalid token for [PHONE]",
        ),
        ("said %s", ("four one one one one one one one",), "said [PHONE]"),
    ],
)
def test_values_with_pii_are_still_redacted(capture, msg, args, expected) -> None:
    logger, handler = capture
    logger.warning(msg, *args)
    assert handler.records[0].getMessage() == expected


def test_a_failing_redactor_never_breaks_the_log_call(capture, monkeypatch) -> None:
    logger, handler = capture

    def broken(self, text, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(Redactor, "analyze", broken)  # spans falls back to patterns
    logger.warning("booking for %s, callback %s", "my name is priya", "+1 415 555 0134")
    logger.warning("a line with no arguments")
    assert [r.getMessage() for r in handler.records] == [
        "booking for my name is [PERSON], callback [NUMBER]",
        "a line with no arguments",
    ]
