"""A flow's phone settings, declared next to its graph.

A flow module exports ``phone = PhoneSettings(...)`` beside its graph; the
loader finds it there (:mod:`graphs.runtime.loader`). Everything has a
default, so a graph with no settings at all still answers calls. These are
the flow's own words and facts; how the service runs (engines, database,
limits) stays in the ``DIALGRAPH_*`` environment settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from graphs.runtime.contract import CallFacts

__all__ = ["DEFAULT_GREETING", "PhoneSettings", "Redaction", "SpeechHints", "StartupInfo"]

DEFAULT_GREETING = "Hello, how can I help you?"


@dataclass(frozen=True)
class SpeechHints:
    """What the recognisers should expect to hear on this flow's calls.

    Attributes:
        phrases: Typical caller sentences; the offline recogniser's language
            model is built from them at start-up (cached), so "is there an
            outage in my area" is heard as such.
        words: Extra words (names, products) to add to the vocabulary.
        pronunciations: ``word -> phones`` (CMUdict style, e.g.
            ``"nguyen": "W IH N"``) for words missing from the offline dictionary.
        keyterms: Rare words and names the cloud recogniser should favour
            (keep the list short: vendors warn against long lists).
    """

    phrases: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    pronunciations: Mapping[str, str] = field(default_factory=dict)
    keyterms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Redaction:
    """How personal data is told apart from the flow's own words.

    Attributes:
        allow_list: Names that are never redacted (staff, the business).
        keep_patterns: Regular expressions of things that are not personal
            data, kept as they are (``r"\\bT-\\d{6}\\b"``: ticket numbers are
            not phone numbers).
        extra_patterns: ``label -> regex`` of more things to redact
            (e.g. ``{"ACCOUNT": r"\\bACC\\d{8}\\b"}``).
    """

    allow_list: tuple[str, ...] = ()
    keep_patterns: tuple[str, ...] = ()
    extra_patterns: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StartupInfo:
    """What a flow's start-up hook gets: where the service keeps its data.

    Attributes:
        database_url: ``sqlite:///...`` or ``postgresql://...`` of the service.
        today: The pinned date (``DIALGRAPH_TODAY``), or ``""`` for the real one.
        timezone: The flow's time zone.
    """

    database_url: str
    today: str
    timezone: str


@dataclass(frozen=True)
class PhoneSettings:
    """Everything about a flow that only matters on the phone.

    Attributes:
        name: The business or line, for logs and the voicemail default.
        greeting: Said at call start when the graph says nothing itself (a
            graph greets by answering the call-start turn).
        voicemail_message: Left on answering machines of outbound calls
            (same words for everyone; no personal data).
        timezone: IANA zone of the business: greetings, "today", hours.
        spoken_nodes: Only these nodes' AI text is spoken (``None``: all).
        transfer_targets: ``name -> number or SIP/queue address`` for
            ``transfer_call``; the first is the default destination.
        speech: Recogniser hints (:class:`SpeechHints`).
        redaction: Redaction rules (:class:`Redaction`); the runtime adds
            ``name`` to the allow-list (:meth:`redaction_rules`).
        context: Builds the graph's ``context_schema`` instance for a call
            from its facts (``None``: no context).
        on_startup: Awaited once when the service starts (seed data, open
            clients).
        on_call_end: Awaited after each call with its facts and the
            service's store (e.g. remember a returning caller).
    """

    name: str = ""
    greeting: str = DEFAULT_GREETING
    voicemail_message: str = ""
    timezone: str = "UTC"
    spoken_nodes: frozenset[str] | None = None
    transfer_targets: Mapping[str, str] = field(default_factory=dict)
    speech: SpeechHints = field(default_factory=SpeechHints)
    redaction: Redaction = field(default_factory=Redaction)
    context: Callable[[CallFacts, StartupInfo], Any] | None = None
    on_startup: Callable[[StartupInfo], Awaitable[None]] | None = None
    on_call_end: Callable[[CallFacts, Any], Awaitable[None]] | None = None

    def redaction_rules(self) -> Redaction:
        """The redaction rules, with the business's own name never taken for a caller's."""
        if not self.name.strip() or self.name in self.redaction.allow_list:
            return self.redaction
        allowed = (*self.redaction.allow_list, self.name)
        return replace(self.redaction, allow_list=allowed)

    def voicemail(self) -> str:
        """The voicemail words (a neutral default naming the business)."""
        if self.voicemail_message.strip():
            return self.voicemail_message
        who = f"this is {self.name}" if self.name else "we missed you"
        return f"Hello, {who}. Please call us back. Goodbye."
