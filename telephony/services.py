"""Open the process-wide engines named by the settings, once, for the web app.

This is the one place that turns setting names (``DIALGRAPH_TTS=piper``) into
provider objects, so vendor modules are imported only when chosen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from telephony.calltoken import CallTokens
from telephony.limits import CallLimits, make_limit_store
from telephony.providers.base import AgentFactory, ProviderError, SpeechToText, TextToSpeech
from telephony.registry import CallRegistry
from telephony.session import CallObserver, CallServices
from telephony.settings import ConfigError, Settings

__all__ = ["build_services", "make_stt", "make_tts"]

logger = logging.getLogger("dialgraph.services")


def _piper() -> TextToSpeech | None:
    try:
        from telephony.providers.piper import PiperTTS
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
        from telephony.providers.elevenlabs import ElevenLabsTTS
        from telephony.providers.fallback import FallbackTTS

        cloud = ElevenLabsTTS(
            settings.elevenlabs_api_key,
            settings.elevenlabs_voice_id,
            model_id=settings.elevenlabs_model,
        )
        offline = _piper()
        return FallbackTTS(cloud, offline) if offline is not None else cloud
    raise ConfigError(f"DIALGRAPH_TTS: unknown engine {name!r} (choose piper, elevenlabs or none)")


def make_stt(settings: Settings, *, config: Any = None) -> SpeechToText | None:
    """The recogniser ``DIALGRAPH_STT`` names (``none``: keypad input only).

    ``assemblyai`` fails over to pocketsphinx per call (retry once, then
    offline for the rest of the call, replaying the audio since the failure).
    ``config`` is the pocketsphinx configuration (e.g. the dialogue's domain
    language model); ``None`` for the generic model.
    """
    name = settings.stt
    if name == "none":
        return None
    from telephony.providers.pocketsphinx import PocketsphinxSTT

    if name == "pocketsphinx":
        return PocketsphinxSTT(config)
    if name == "assemblyai":
        if not settings.assemblyai_api_key:
            raise ConfigError("DIALGRAPH_STT=assemblyai needs ASSEMBLYAI_API_KEY")
        from telephony.providers.assemblyai import AssemblyAISTT
        from telephony.providers.fallback import FallbackSTT

        return FallbackSTT(
            AssemblyAISTT(settings.assemblyai_api_key, keyterms=KEYTERMS), PocketsphinxSTT(config)
        )
    raise ConfigError(
        f"DIALGRAPH_STT: unknown engine {name!r} (choose pocketsphinx, assemblyai or none)"
    )


# Rare words the cloud recogniser should favour (the vendor warns against long lists).
KEYTERMS = (
    "Riverside Family Clinic",
    "checkup",
    "consultation",
    "vaccination",
    "Dr. Patel",
    "Dr. Nguyen",
    "reschedule",
)


def make_vad(settings: Settings) -> Any:
    """The voice activity detector factory ``DIALGRAPH_VAD`` names (``None``: none)."""
    if settings.vad == "none":
        return None
    if settings.vad == "silero":
        from telephony.providers.silero import SileroVADFactory

        return SileroVADFactory()
    raise ConfigError(f"DIALGRAPH_VAD: unknown detector {settings.vad!r} (choose silero or none)")


async def domain_recogniser_config(settings: Settings) -> Any:
    """Pocketsphinx with a language model built from the dialogue's own corpus.

    The clinic graph provides its vocabulary; the model is built once (about
    0.8 s, in a thread) and cached under ``var/asr``. Word error on clinic
    phrases drops from ~24 % (generic model) to ~3 %. ``None`` for dialogues
    without a corpus.
    """
    if settings.agent != "clinic" or settings.stt not in {"pocketsphinx", "assemblyai"}:
        return None
    from graphs.voice_agent import vocabulary
    from telephony.providers.pocketsphinx import PocketsphinxConfig

    return await asyncio.to_thread(
        PocketsphinxConfig.for_domain,
        vocabulary.corpus(),
        words=vocabulary.words(),
        cache_dir=settings.var_dir / "asr",
    )


async def _redactor() -> Callable[[str], str]:
    """The process-wide Presidio redactor, loaded once (~3 s, in a thread)."""
    from memory.redaction import get_redactor

    return await asyncio.to_thread(get_redactor)


async def _open_agent_factory(settings: Settings, stack: AsyncExitStack) -> AgentFactory:
    """The dialogue named by ``DIALGRAPH_AGENT``, its resources on ``stack``."""
    if settings.agent == "echo":
        from graphs.echo import echo_agent_factory

        return echo_agent_factory  # type: ignore[return-value]
    if settings.agent == "clinic":
        from graphs.models import ModelSpecError, get_chat_model
        from graphs.service import open_clinic_agents

        try:
            get_chat_model(settings.model)
        except ModelSpecError as exc:
            raise ConfigError(f"DIALGRAPH_MODEL: {exc}") from None
        return await stack.enter_async_context(
            open_clinic_agents(
                database_url=settings.database_url or None,
                var_dir=settings.var_dir,
                model=settings.model,
                today=settings.today,
                encryption_key=settings.checkpoint_key or None,
                redact=await _redactor(),
            )
        )
    raise ConfigError(
        f"DIALGRAPH_AGENT: unknown dialogue {settings.agent!r} (choose clinic or echo)"
    )


@asynccontextmanager
async def build_services(
    settings: Settings, *, observer: CallObserver | None = None, warm_decoders: int = 2
) -> AsyncIterator[CallServices]:
    """Open and warm every engine the settings name; close them on exit.

    Engines load their models here, once, so the first call does not pay
    for it (a pocketsphinx decoder load stalls the event loop ~0.3 s).

    Raises:
        ConfigError: A setting names an unknown engine, dialogue or model.
    """
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
            from telephony.providers.twilio_rest import TwilioCallControl

            call_control = TwilioCallControl(
                settings.twilio_account_sid,
                settings.twilio_auth_token,
                base_url=settings.twilio_api_url or None,
            )
            stack.push_async_callback(call_control.aclose)
        services = CallServices(
            agent_factory=await _open_agent_factory(settings, stack),
            registry=CallRegistry(),
            tokens=CallTokens(secret, ttl=settings.call_token_ttl),
            tts=make_tts(settings),
            stt=make_stt(settings, config=await domain_recogniser_config(settings)),
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
            "engines ready: agent=%s model=%s tts=%s stt=%s vad=%s",
            settings.agent,
            settings.model if settings.agent == "clinic" else "-",
            getattr(services.tts, "name", "none"),
            getattr(services.stt, "name", "none"),
            settings.vad,
        )
        yield services
