"""PII redaction: the annotated corpus, spoken numbers redacted as said, Aadhaar,
the logging filter, thread safety and offline loading.

Spoken-number normalisation itself is tested with its module (``tests/unit/spoken``).
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from graphs.runtime.phone import Redaction
from memory.redaction import Finding, Redactor, get_redactor, verhoeff_valid
from memory.redaction_logging import RedactingFilter
from spoken.digits import normalise
from tests.pii_corpus import CORPUS, INVALID_AADHAAR, VALID_AADHAAR, PiiUtterance

REPO = Path(__file__).resolve().parents[2]
MUST_NOT_SURVIVE = ("CREDIT_CARD", "PHONE_NUMBER", "EMAIL_ADDRESS", "IN_AADHAAR")
# Floors just under what the corpus measured (SSN 0.83, PERSON recall 0.89 and
# precision 1.0); lowering one needs a reason.
RECALL_FLOORS = {"US_SSN": 0.8, "PERSON": 0.8}
PRECISION_FLOORS = {"PERSON": 0.8}


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    started = time.perf_counter()
    instance = Redactor()
    print(f"\nRedactor load: {time.perf_counter() - started:.2f} s")
    return instance


def _digit_groups(text: str) -> list[str]:
    return re.findall(r"\d+", normalise(text).normalised.replace(" ", ""))


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _gold_spans(u: PiiUtterance) -> list[tuple[str, int, int]]:
    spans = []
    for entity, value in u.entities:
        start = u.text.index(value)
        spans.append((entity, start, start + len(value)))
    return spans


def test_corpus_is_big_enough_and_mixed() -> None:
    styles = Counter(u.style for u in CORPUS)
    assert len(CORPUS) >= 40
    assert styles["typed"] >= 15 and styles["asr"] >= 15
    planted = Counter(e for u in CORPUS for e, _ in u.entities)
    for entity in (*MUST_NOT_SURVIVE, "US_SSN", "PERSON"):
        assert planted[entity] >= 3, entity


def test_corpus_precision_recall(redactor: Redactor) -> None:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    leaks: list[str] = []
    redact_seconds = 0.0
    for u in CORPUS:
        predicted = redactor.spans(u.text, known_names=u.known_names)
        started = time.perf_counter()
        output = redactor.redact(u.text, known_names=u.known_names)
        redact_seconds += time.perf_counter() - started
        gold = _gold_spans(u)
        for entity, start, end in gold:
            hit = any(
                p.entity == entity and _overlaps((p.start, p.end), (start, end)) for p in predicted
            )
            (tp if hit else fn)[entity] += 1
            if entity in MUST_NOT_SURVIVE:
                value = u.text[start:end]
                digits = "".join(_digit_groups(value))
                survived = value in output or (
                    len(digits) >= 5
                    and any(
                        digits[i : i + 5] in group
                        for group in _digit_groups(output)
                        for i in range(len(digits) - 4)
                    )
                )
                if survived:
                    leaks.append(f"{entity} {value!r} in {output!r}")
        for p in predicted:
            if p.entity == "NUMBER":
                continue  # the safety net has no gold type
            if not any(g[0] == p.entity and _overlaps((p.start, p.end), g[1:]) for g in gold):
                fp[p.entity] += 1
        for keep in u.keep:
            assert keep in output, f"{keep!r} was redacted: {output!r}"
    per_utterance_ms = redact_seconds * 1000 / len(CORPUS)

    print(f"\n{'entity':<15}{'gold':>6}{'tp':>5}{'fp':>5}{'fn':>5}{'prec':>7}{'recall':>8}")
    precision: dict[str, float] = {}
    recall: dict[str, float] = {}
    for entity in sorted(set(tp) | set(fp) | set(fn)):
        precision[entity] = tp[entity] / ((tp[entity] + fp[entity]) or 1)
        recall[entity] = tp[entity] / ((tp[entity] + fn[entity]) or 1)
        print(
            f"{entity:<15}{tp[entity] + fn[entity]:>6}{tp[entity]:>5}{fp[entity]:>5}"
            f"{fn[entity]:>5}{precision[entity]:>7.2f}{recall[entity]:>8.2f}"
        )
    print(f"{len(CORPUS)} utterances, {per_utterance_ms:.1f} ms per redact() call")

    assert not leaks, "\n".join(leaks)
    for entity, floor in RECALL_FLOORS.items():
        assert recall[entity] >= floor, (entity, recall[entity])
    for entity, floor in PRECISION_FLOORS.items():
        assert precision[entity] >= floor, (entity, precision[entity])


def test_redacts_the_original_spoken_words(redactor: Redactor) -> None:
    text = "my number is four one five five five five two six seven one thanks"
    assert redactor.redact(text) == "my number is [PHONE] thanks"


def test_verhoeff() -> None:
    assert all(verhoeff_valid(n) for n in VALID_AADHAAR)
    assert not any(verhoeff_valid(n) for n in INVALID_AADHAAR)
    assert verhoeff_valid("2363")  # the textbook example: 236 with check digit 3
    assert not verhoeff_valid("2364")


@pytest.mark.parametrize("number", VALID_AADHAAR)
def test_valid_aadhaar_is_caught_typed_and_spoken(redactor: Redactor, number: str) -> None:
    grouped = f"{number[:4]} {number[4:8]} {number[8:]}"
    assert redactor.redact(f"aadhaar {grouped}") == "aadhaar [AADHAAR]"
    words = "zero one two three four five six seven eight nine".split()
    spoken = ", ".join(" ".join(words[int(d)] for d in g) for g in grouped.split())
    assert redactor.redact(f"my aadhaar is {spoken}") == "my aadhaar is [AADHAAR]"


@pytest.mark.parametrize("number", INVALID_AADHAAR)
def test_non_verhoeff_numbers_are_not_aadhaar(redactor: Redactor, number: str) -> None:
    grouped = f"{number[:4]} {number[4:8]} {number[8:]}"
    findings = redactor.analyze(f"aadhaar {grouped}")
    assert "IN_AADHAAR" not in {f.entity for f in findings}
    # still a long number: redacted by some other type, never left in the clear
    assert number[:4] not in redactor.redact(f"aadhaar {grouped}")


def test_dates_times_and_staff_are_preserved(redactor: Redactor) -> None:
    for text in (
        "Book me with Dr. Patel on Tuesday 3 June at 10:30 am.",  # titled: staff, any flow
        "can i see doctor nguyen on the fourteenth at half past two",
        "Dr. Nguyen said to come back on 2025-01-14 at 09:15.",
    ):
        assert redactor.redact(text) == text
    text = "Riverside Family Clinic is at 42 River Road."
    assert get_redactor(CLINIC).redact(text) == text


# A flow's rules, as its PhoneSettings.redaction declares them.
CLINIC = Redaction(allow_list=("Patel", "Nguyen", "Riverside", "Riverside Family Clinic"))
HELPDESK = Redaction(
    keep_patterns=(r"\bT-\d{6}\b", r"\bticket (?:number )?\d{6}\b"),
    extra_patterns={"ACCOUNT": r"\bACC ?\d{8}\b"},
)


def test_the_flows_allow_list_is_honoured(redactor: Redactor) -> None:
    clinic = get_redactor(CLINIC)
    assert clinic.allow_list == CLINIC.allow_list
    assert clinic.redact("my name is patel") == "my name is patel"  # a staff surname
    assert clinic.redact("Riverside Family Clinic, Nguyen speaking") == (
        "Riverside Family Clinic, Nguyen speaking"
    )
    # ... unless the caller is known to share it
    assert clinic.redact("my name is patel", known_names=("Raj Patel",)) == "my name is [PERSON]"
    # Without the flow's list the same words are somebody's name.
    assert redactor.redact("my name is patel") == "my name is [PERSON]"
    assert get_redactor(CLINIC) is clinic, "one redactor per set of rules, per process"


@pytest.mark.parametrize(
    "text",
    [
        "My ticket is T-482913, can you check it?",
        "ticket number 482913 please",
        "it's ticket four eight two nine one three",  # as the recogniser writes it
    ],
)
def test_a_ticket_number_the_flow_keeps_is_not_redacted(redactor: Redactor, text: str) -> None:
    assert "[NUMBER]" in redactor.redact(text) or "[PHONE]" in redactor.redact(text)
    assert get_redactor(HELPDESK).redact(text) == text


def test_only_the_kept_part_of_a_finding_survives() -> None:
    helpdesk = get_redactor(HELPDESK)
    out = helpdesk.redact("ticket 482913, call me on 415 555 0134, I'm Maria Gonzalez")
    assert out == "ticket 482913, call me on [PHONE], I'm [PERSON]"


def test_the_flows_extra_patterns_are_redacted_with_its_label() -> None:
    helpdesk = get_redactor(HELPDESK)
    assert helpdesk.redact("my account is ACC12345678, ticket T-482913") == (
        "my account is [ACCOUNT], ticket T-482913"
    )
    # Matched as written and as spoken: the recogniser writes the digits as words.
    assert helpdesk.redact("account acc one two three four five six seven eight") == (
        "account [ACCOUNT]"
    )


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (Redaction(keep_patterns=("T-(",)), "redaction pattern 'T-(' is not a regular expression"),
        (Redaction(extra_patterns={"ACC NO": r"\d+"}), "label 'ACC NO' must be a word"),
    ],
)
def test_malformed_rules_say_which(rules: Redaction, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        get_redactor(rules)


def test_known_names_are_redacted_anywhere(redactor: Redactor) -> None:
    text = "yes it's for olga, the booking for olga petrova"
    out = redactor.redact(text, known_names=("Olga Petrova",))
    assert "olga" not in out.lower() and "petrova" not in out.lower()


def test_analyze_returns_original_spans(redactor: Redactor) -> None:
    text = "email is john dot miller at mail dot org"
    [finding] = [f for f in redactor.analyze(text) if f.entity == "EMAIL_ADDRESS"]
    assert isinstance(finding, Finding)
    assert text[finding.start : finding.end] == "john dot miller at mail dot org"


def test_logging_filter_redacts_percent_args(redactor: Redactor) -> None:
    logger = logging.getLogger("test_redaction.filter")
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Capture()
    handler.addFilter(RedactingFilter(redactor))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("caller %s gave card %s", "Maria Gonzalez", "4111 1111 1111 1111")
    finally:
        logger.removeHandler(handler)
    [record] = records
    assert record.getMessage() == "caller [PERSON] gave card [CARD]"
    assert record.args == ("[PERSON]", "[CARD]")


def test_thread_safe(redactor: Redactor) -> None:
    texts = [u.text for u in CORPUS] * 3
    expected = [redactor.redact(t) for t in texts]
    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(redactor.redact, texts)) == expected


_OFFLINE_SCRIPT = """
import socket, sys
def _no_network(*args, **kwargs):
    raise OSError("network access attempted")
socket.create_connection = _no_network
socket.socket.connect = _no_network
socket.getaddrinfo = _no_network
import spacy.cli
spacy.cli.download = _no_network
import tldextract
tldextract.extract = _no_network
tldextract.TLDExtract.__call__ = _no_network
from memory.redaction import redact_text
out = redact_text("my email is priya dot sharma at example dot com, card 4111 1111 1111 1111")
assert out == "my email is [EMAIL], card [CARD]", out
print("ok")
"""


def test_loads_and_runs_without_network() -> None:
    """Fresh interpreter: sockets, spaCy download and tldextract all raise if touched."""
    result = subprocess.run(
        [sys.executable, "-c", _OFFLINE_SCRIPT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_call_and_thread_identifiers_survive_in_logs() -> None:
    from memory.redaction import redact_text

    line = (
        "[CA11111111111111111111111111111111 thread=5b0f3c5e-3d0e-4c53-9f57-2f1c4f6f0d1a] "
        "stream MZ22222222222222222222222222222222 started"
    )
    assert redact_text(line) == line


@pytest.mark.parametrize(
    "heard",
    [
        # What the offline recogniser made of "three one two, five five five, zero one two three"
        "call me back on three one eight five five five year want the three",
        "the code is four four seven one two nine",
    ],
)
def test_half_heard_numbers_are_still_redacted(redactor: Redactor, heard: str) -> None:
    out = redactor.redact(heard)
    assert "five five five" not in out and "four four seven" not in out, out
    assert "[NUMBER]" in out or "[PHONE]" in out


def test_dates_and_times_are_not_numbers(redactor: Redactor) -> None:
    text = "booked for 2026-11-24 at 15:30, that is tuesday the twenty fourth at three thirty"
    assert redactor.redact(text) == text


def test_digits_inside_a_token_are_not_a_number(redactor: Redactor) -> None:
    line = "domain LM built -> var/asr/domain-f1166605cf752d66.lm; call me on 4155550134"
    assert redactor.redact(line) == (
        "domain LM built -> var/asr/domain-f1166605cf752d66.lm; call me on [PHONE]"
    )


def test_the_business_name_is_never_taken_for_a_caller() -> None:
    from dialgraph import PhoneSettings

    phone = PhoneSettings(name="Acme Support")
    assert "Acme Support" in phone.redaction_rules().allow_list
    greeting = "Thanks for calling Acme Support. This is about Maria Lopez."
    assert get_redactor(phone.redaction_rules()).redact(greeting) == (
        "Thanks for calling Acme Support. This is about [PERSON]."
    )
