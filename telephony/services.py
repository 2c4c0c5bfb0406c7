"""Open the process-wide engines named by the settings, once, for the web app.

This is the one place that turns setting names (``DIALGRAPH_TTS=piper``,
``DIALGRAPH_GRAPH=helpdesk``) into objects, so vendor modules are imported
only when chosen. The flow (:mod:`graphs.runtime.loader`) brings everything
the engines need to know about it: recogniser hints, key terms and
redaction rules; nothing here knows any particular flow.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from graphs.runtime.loader import Flow, GraphLoadError, describe, load_flow
from graphs.runtime.phone import PhoneSettings, SpeechHints
from memory.redaction import RedactionRules, Redactor, check_rules
from telephony.admission.factory import make_limit_store
from telephony.admission.limits import CallLimits
from telephony.admission.registry import CallRegistry
from telephony.call.agent import AgentFactory
from telephony.call.report import CallObserver
from telephony.call.services import CallServices
from telephony.settings import ConfigError, Settings
from telephony.speech.base import ProviderError, SpeechToText, TextToSpeech
from telephony.wire.calltoken import CallTokens

__all__ = ["as_flow", "build_services", "load_redactor", "make_stt", "make_tts", "open_flow"]

logger = logging.getLogger("dialgraph.services")


def _piper() -> TextToSpeech | None:
    try:
        from telephony.speech.piper import PiperTTS
    except ImportError:  # the optional (GPL) piper extra is not installed
        return None
    return PiperTTS()


def make_tts(settings: Settings) -> TextToSpeech | None:
    """The text-to-speech engine ``DIALGRAPH_TTS`` names.

    ``elevenlabs`` fails over to Piper (when installed) per call: a phrase the
    cloud cannot speak in time is spoken offline at once.
    """
    name = settings.tts
    if name == "none":
        return None
    if name == "piper":
        tts = _piper()
        if tts is None:
            raise ConfigError("DIALGRAPH_TTS=piper needs the piper extra: uv sync --extra piper")
        return tts
    if name == "elevenlabs":
        if not (settings.elevenlabs_api_key and settings.elevenlabs_voice_id):
            raise ConfigError(
                "DIALGRAPH_TTS=elevenlabs needs ELEVENLABS_API_KEY and ELEVENLABS_VOICE_ID"
            )
        from telephony.speech.elevenlabs import ElevenLabsTTS
        from telephony.speech.fallback import FallbackTTS

        cloud = ElevenLabsTTS(
            settings.elevenlabs_api_key,
            settings.elevenlabs_voice_id,
            model_id=settings.elevenlabs_model,
        )
        offline = _piper()
        return FallbackTTS(cloud, offline) if offline is not None else cloud
    raise ConfigError(f"DIALGRAPH_TTS: unknown engine {name!r} (choose piper, elevenlabs or none)")


def make_stt(
    settings: Settings, *, config: Any = None, keyterms: Iterable[str] = ()
) -> SpeechToText | None:
    """The recogniser ``DIALGRAPH_STT`` names (``none``: keypad input only).

    ``assemblyai`` fails over to pocketsphinx per call (retry once, then
    offline for the rest of the call, replaying the audio since the failure).
    ``config`` is the pocketsphinx configuration (e.g. the flow's domain
    language model); ``None`` for the generic model. ``keyterms`` are the
    flow's rare words for the cloud recogniser.
    """
    name = settings.stt
    if name == "none":
        return None
    from telephony.speech.pocketsphinx import PocketsphinxSTT

    if name == "pocketsphinx":
        return PocketsphinxSTT(config)
    if name == "assemblyai":
        if not settings.assemblyai_api_key:
            raise ConfigError("DIALGRAPH_STT=assemblyai needs ASSEMBLYAI_API_KEY")
        from telephony.speech.assemblyai import AssemblyAISTT
        from telephony.speech.fallback import FallbackSTT

        return FallbackSTT(
            AssemblyAISTT(settings.assemblyai_api_key, keyterms=tuple(keyterms)),
            PocketsphinxSTT(config),
        )
    raise ConfigError(
        f"DIALGRAPH_STT: unknown engine {name!r} (choose pocketsphinx, assemblyai or none)"
    )


def make_vad(settings: Settings) -> Any:
    """The voice activity detector factory ``DIALGRAPH_VAD`` names (``None``: none)."""
    if settings.vad == "none":
        return None
    if settings.vad == "silero":
        from telephony.speech.silero import SileroVADFactory

        return SileroVADFactory()
    raise ConfigError(f"DIALGRAPH_VAD: unknown detector {settings.vad!r} (choose silero or none)")


async def domain_recogniser_config(settings: Settings, speech: SpeechHints) -> Any:
    """Pocketsphinx with a language model built from the flow's phrases.

    Any flow that declares ``speech.phrases`` gets one (with its ``words`` and
    ``pronunciations``); it is built once (about 0.8 s for ~4,500 sentences,
    in a thread) and cached under ``var/asr``. On the bundled receptionist
    flow word error drops from ~24 % (generic model) to ~3 %. ``None``
    without phrases, or when no offline recogniser runs.

    Raises:
        ConfigError: A pronunciation is malformed, or no phrase can be pronounced.
    """
    if not speech.phrases or settings.stt not in {"pocketsphinx", "assemblyai"}:
        return None
    from telephony.speech.pocketsphinx import PocketsphinxConfig

    try:
        return await asyncio.to_thread(
            PocketsphinxConfig.for_domain,
            speech.phrases,
            words=speech.words,
            pronunciations=speech.pronunciations,
            cache_dir=settings.var_dir / "asr",
        )
    except ValueError as exc:
        raise ConfigError(f"the flow's speech hints: {exc}") from None


def open_flow(spec: str, *, source: str = "DIALGRAPH_GRAPH") -> Flow:
    """Load the graph ``spec`` names and check it can go on the phone.

    Args:
        spec: A langgraph.json id, ``path/to/file.py:attr`` or ``package.module:attr``.
        source: Where ``spec`` came from, for the message (``--graph``).

    Raises:
        ConfigError: One line saying what was wrong and what is accepted.
    """
    try:
        return _checked(load_flow(spec))
    except GraphLoadError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def as_flow(graph: Any, *, phone: PhoneSettings | None = None) -> Flow:
    """Any form of graph a team hands over, as a checked :class:`Flow`.

    Args:
        graph: A spec string (as ``DIALGRAPH_GRAPH``), a ``Flow``, a compiled
            graph, a ``StateGraph`` builder, or a per-call factory.
        phone: The flow's phone settings, for a graph object (a spec string
            or a ``Flow`` brings its own).

    Raises:
        ConfigError: The graph cannot go on the phone (one line).
    """
    if isinstance(graph, str):
        flow = open_flow(graph, source="graph")
        return flow if phone is None else dataclasses.replace(flow, phone=phone)
    if isinstance(graph, Flow):
        flow = graph if phone is None else dataclasses.replace(graph, phone=phone)
    else:
        name = str(getattr(graph, "name", "") or getattr(graph, "__name__", "") or "graph")
        flow = Flow(name, f"<{type(graph).__name__} {name}>", graph, phone or PhoneSettings())
    try:
        return _checked(flow)
    except GraphLoadError as exc:
        raise ConfigError(f"graph: {exc}") from None


def _checked(flow: Flow) -> Flow:
    """``flow`` once its graph is known to compile with a ``messages`` channel
    and its redaction rules to be regular expressions.

    A per-call factory is only compiled when a call builds it.

    Raises:
        GraphLoadError: It is not a graph, has no ``messages`` channel, or a
            redaction pattern is malformed.
    """
    if not isinstance(flow.graph, Pregel | StateGraph) and not callable(flow.graph):
        raise GraphLoadError(
            f"{flow.target}: a {type(flow.graph).__name__}, not a compiled graph, "
            "a StateGraph or a factory"
        )
    if not flow.per_call:
        flow.compile(None, None)  # raises on a graph without a messages channel
    try:
        check_rules(flow.phone.redaction_rules())
    except ValueError as exc:
        raise GraphLoadError(f"{flow.target}: phone.redaction: {exc}") from None
    return flow


async def load_redactor(rules: RedactionRules) -> Redactor:
    """The redactor for a flow's rules, loaded once per process (~3 s the first time,
    in a thread).

    Raises:
        ConfigError: A keep or extra pattern of the flow is not a regular expression.
    """
    from memory.redaction import get_redactor

    try:
        return await asyncio.to_thread(get_redactor, rules)
    except ValueError as exc:
        raise ConfigError(f"the flow's redaction rules: {exc}") from None


async def _open_agent_factory(
    settings: Settings, flow: Flow, redact: Callable[[str], str], stack: AsyncExitStack
) -> AgentFactory:
    """The flow's agent factory, its shared state (database, ledger) on ``stack``."""
    from graphs.runtime.service import open_flow_agents

    try:
        return await stack.enter_async_context(
            open_flow_agents(
                flow,
                database_url=settings.database_url or None,
                var_dir=settings.var_dir,
                today=settings.today,
                redact=redact,
                encryption_key=settings.checkpoint_key,  # "": the key file in var_dir
            )
        )
    except GraphLoadError as exc:
        raise ConfigError(f"DIALGRAPH_GRAPH: {exc}") from None


@asynccontextmanager
async def build_services(
    settings: Settings,
    *,
    flow: Flow | None = None,
    observer: CallObserver | None = None,
    warm_decoders: int = 2,
) -> AsyncIterator[CallServices]:
    """Open and warm every engine the settings name, for ``flow``; close them on exit.

    Engines load their models here, once, so the first call does not pay
    for it (a pocketsphinx decoder load stalls the event loop ~0.3 s). The
    flow brings what the engines need to know about it: the recognisers'
    hints (``phone.speech``) and the transcripts' redaction rules
    (``phone.redaction``).

    Args:
        settings: The runtime's settings.
        flow: The flow to answer calls with (``None``: ``settings.graph``).
        observer: Told what is said on every call.
        warm_decoders: Offline decoders loaded ahead of the first call.

    Raises:
        ConfigError: A setting names an unknown engine or an unusable graph.
    """
    flow = flow or open_flow(settings.graph)
    speech = flow.phone.speech
    secret = settings.call_token_secret or settings.twilio_auth_token
    limits = CallLimits(
        settings.calls_per_hour_per_caller,
        settings.concurrent_per_caller,
        settings.concurrent_total,
        settings.max_call_seconds,
        settings.max_turns,
        settings.max_llm_tokens,
    )
    async with AsyncExitStack() as stack:
        limit_store = make_limit_store(
            limits,
            redis_url=settings.redis_url,
            secret=secret,
            prefix=settings.redis_prefix,
        )
        stack.push_async_callback(limit_store.aclose)
        call_control = None
        if settings.twilio_account_sid and settings.twilio_auth_token:
            from telephony.outbound.twilio_rest import TwilioCallControl

            call_control = TwilioCallControl(
                settings.twilio_account_sid,
                settings.twilio_auth_token,
                base_url=settings.twilio_api_url or None,
            )
            stack.push_async_callback(call_control.aclose)
            await call_control.prepare()  # no import stall on a call's first transfer
        redactor = await load_redactor(flow.phone.redaction_rules())
        services = CallServices(
            agent_factory=await _open_agent_factory(settings, flow, redactor, stack),
            registry=CallRegistry(),
            tokens=CallTokens(secret, ttl=settings.call_token_ttl),
            tts=make_tts(settings),
            stt=make_stt(
                settings,
                config=await domain_recogniser_config(settings, speech),
                keyterms=speech.keyterms,
            ),
            vad=make_vad(settings),
            call_control=call_control,
            observer=observer,
            limit_store=limit_store,
        )
        engines = ((services.tts, ()), (services.stt, (warm_decoders,)), (services.vad, (2,)))
        for engine, args in engines:
            warm_up = getattr(engine, "warm_up", None)
            if warm_up is not None:
                try:
                    await warm_up(*args)
                except ProviderError as exc:  # a cloud engine down at start: calls fail over
                    logger.warning("could not warm up %s: %s", getattr(engine, "name", engine), exc)
        logger.info(
            "engines ready: graph=%s tts=%s stt=%s vad=%s",
            describe(flow),
            getattr(services.tts, "name", "none"),
            getattr(services.stt, "name", "none"),
            settings.vad,
        )
        yield services
