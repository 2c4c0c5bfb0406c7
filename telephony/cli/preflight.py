"""Preflight checks: settings that make `dialgraph serve` unsafe or unworkable."""

from __future__ import annotations

from urllib.parse import urlsplit

from telephony.settings import Settings

__all__ = ["check_for_serving"]


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def check_for_serving(settings: Settings) -> list[str]:
    """Problems that make ``dialgraph serve`` unsafe or unable to work; empty if none.

    A public deployment must verify Twilio's signatures, reach Twilio over
    TLS, and have the keys of the cloud engines it names. The graph's own
    needs (its chat model's key) are the flow's to check when it loads.
    """
    problems = []
    public = settings.public_url
    exposed = bool(public) or settings.host not in _LOOPBACK
    if exposed and not settings.twilio_auth_token:
        where = f"DIALGRAPH_PUBLIC_URL={public}" if public else f"DIALGRAPH_HOST={settings.host}"
        problems.append(
            f"{where} exposes the service, but TWILIO_AUTH_TOKEN is not set: anyone could "
            "post webhooks and open media streams. Set TWILIO_AUTH_TOKEN (Twilio console, "
            "Account > API keys & tokens)."
        )
    if public.startswith("http://") and urlsplit(public).hostname not in _LOOPBACK:
        problems.append(
            f"DIALGRAPH_PUBLIC_URL={public} is plain http: Twilio opens media streams only "
            "over wss://. Use the https:// URL of your proxy or tunnel."
        )
    if settings.stt == "assemblyai" and not settings.assemblyai_api_key:
        problems.append("DIALGRAPH_STT=assemblyai needs ASSEMBLYAI_API_KEY.")
    if settings.tts == "elevenlabs" and not (
        settings.elevenlabs_api_key and settings.elevenlabs_voice_id
    ):
        problems.append(
            "DIALGRAPH_TTS=elevenlabs needs ELEVENLABS_API_KEY and ELEVENLABS_VOICE_ID."
        )
    if settings.redis_url and not (settings.call_token_secret or settings.twilio_auth_token):
        problems.append(
            "DIALGRAPH_REDIS_URL needs DIALGRAPH_CALL_TOKEN_SECRET (or TWILIO_AUTH_TOKEN), "
            "the same on every worker, to hash caller numbers."
        )
    return problems
