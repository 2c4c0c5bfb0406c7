"""Open the process-wide engines named by the settings, once, for the web app.

This is the one place that turns setting names (``DIALGRAPH_TTS=piper``) into
provider objects, so vendor modules are imported only when chosen.
"""

from __future__ import annotations

import logging

from telephony.calltoken import CallTokens
from telephony.providers.base import AgentFactory, SpeechToText, TextToSpeech
from telephony.registry import CallRegistry
from telephony.session import CallServices
from telephony.settings import ConfigError, Settings

__all__ = ["build_services", "make_stt", "make_tts"]

logger = logging.getLogger("dialgraph.services")


def make_tts(name: str) -> TextToSpeech | None:
    """The text-to-speech engine called ``name`` (``none`` for no speech)."""
    if name == "none":
        return None
    if name == "piper":
        from telephony.providers.piper import PiperTTS

        return PiperTTS()
    raise ConfigError(f"DIALGRAPH_TTS: unknown engine {name!r} (choose piper or none)")


def make_stt(name: str) -> SpeechToText | None:
    """The speech recogniser called ``name`` (``none``: keypad input only)."""
    if name == "none":
        return None
    if name == "pocketsphinx":
        from telephony.providers.pocketsphinx import PocketsphinxSTT

        return PocketsphinxSTT()
    raise ConfigError(f"DIALGRAPH_STT: unknown engine {name!r} (choose pocketsphinx or none)")


def make_agent_factory(name: str) -> AgentFactory:
    """The dialogue called ``name``."""
    if name == "echo":
        from graphs.echo import echo_agent_factory

        return echo_agent_factory  # type: ignore[return-value]
    raise ConfigError(f"DIALGRAPH_AGENT: unknown dialogue {name!r} (choose echo)")


def build_services(settings: Settings) -> CallServices:
    """Open every engine the settings name; raise :class:`ConfigError` on a bad name."""
    secret = settings.call_token_secret or settings.twilio_auth_token
    services = CallServices(
        agent_factory=make_agent_factory(settings.agent),
        registry=CallRegistry(),
        tokens=CallTokens(secret, ttl=settings.call_token_ttl),
        tts=make_tts(settings.tts),
        stt=make_stt(settings.stt),
    )
    logger.info(
        "engines: agent=%s tts=%s stt=%s",
        settings.agent,
        getattr(services.tts, "name", "none"),
        getattr(services.stt, "name", "none"),
    )
    return services
