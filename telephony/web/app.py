"""The Litestar application: ``create_app(settings)``.

Shared resources (the agent factory, speech engines, call registry, token
keys) live in one :class:`~telephony.session.CallServices` object that is
opened once for the process, by the lifespan, and kept on typed app state
(:class:`~telephony.web.state.WebState`). Nothing expensive is opened per
request or per connection.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.logging import LoggingConfig

from telephony.session import CallServices
from telephony.settings import Settings
from telephony.web.drain import DrainState
from telephony.web.media import media_stream
from telephony.web.routes import TwilioController, healthz, metrics, readyz
from telephony.web.state import WebState

__all__ = ["MAX_REQUEST_BYTES", "create_app"]

# Twilio's webhooks are form posts of 1-3 KB; nothing legitimate comes near this.
MAX_REQUEST_BYTES = 64 * 1024


def _lifespan(
    settings: Settings, services: CallServices | None
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Install the call services on app state for the app's lifetime.

    Explicit ``services`` belong to the caller and are used as they are.
    Otherwise ``telephony.services.build_services(settings)`` opens the
    defaults; it may return the services, an awaitable of them, or an async
    context manager yielding them (closed again at shutdown).
    """

    @asynccontextmanager
    async def open_services(app: Litestar) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            yield
            return
        # Imported here, not at the top: it pulls in the speech engines and the graph,
        # which apps given explicit services (tests, embedding) never need.
        from memory.redaction_logging import install_redaction
        from telephony.services import build_services

        async with AsyncExitStack() as stack:
            built: Any = build_services(settings)
            if isinstance(built, AbstractAsyncContextManager):
                built = await stack.enter_async_context(built)
            elif inspect.isawaitable(built):
                built = await built
            app.state.services = built
            # However the process was started (`dialgraph serve`, or uvicorn or
            # gunicorn given the app factory), every log handler now redacts.
            install_redaction()
            yield

    return open_services


def _logging_config() -> LoggingConfig:
    """Send Litestar's own records through the root logger (configured by the CLI)
    instead of letting Litestar take over logging; log unexpected errors with a
    traceback even outside debug mode, client errors (4xx) without one."""
    return LoggingConfig(
        configure_root_logger=False,
        loggers={"litestar": {"level": "INFO", "handlers": [], "propagate": True}},
        log_exceptions="always",
        disable_stack_trace=set(range(400, 500)),
    )


def create_app(settings: Settings, *, services: CallServices | None = None) -> Litestar:
    """Build the ASGI app serving Twilio's webhooks and media streams.

    Args:
        settings: The configuration (auth token, public URL, limits, ...).
        services: Process-wide call services. ``None``: the lifespan builds the
            defaults from ``settings`` at startup.

    Returns:
        A Litestar app with ``POST /twilio/voice``, ``POST /twilio/status``,
        ``WS /twilio/media``, ``GET /healthz``, ``GET /readyz`` and ``GET /metrics``.
    """
    state = WebState({"settings": settings, "drain": DrainState()})
    if services is not None:
        state.services = services
    return Litestar(
        route_handlers=[TwilioController, media_stream, healthz, readyz, metrics],
        state=state,
        lifespan=[_lifespan(settings, services)],
        request_max_body_size=MAX_REQUEST_BYTES,
        logging_config=_logging_config(),
        openapi_config=None,
        debug=False,
    )
