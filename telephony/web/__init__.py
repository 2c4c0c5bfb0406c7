"""The thin Litestar web layer: Twilio's webhooks and the media-stream WebSocket."""

from telephony.web.app import create_app

__all__ = ["create_app"]
