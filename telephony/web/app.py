"""The Litestar application: ``create_app(graph=..., settings=...)``.

Shared resources (the flow's agent factory, speech engines, call registry,
token keys) live in one :class:`~telephony.session.CallServices` object that
is opened once for the process, by the lifespan, and kept on typed app state
(:class:`~telephony.web.state.WebState`). Nothing expensive is opened per
request or per connection.

A team's own repository needs nothing else to serve its graph::

    # app.py -- run with: uvicorn app:app
    from dialgraph import create_app
    from my_agent.graph import graph, phone

    app = create_app(graph=graph, phone=phone)
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from litestar import Litestar
from litestar.logging import LoggingConfig

from telephony.session import CallServices
from telephony.settings import Settings, load_settings
from telephony.web.drain import DrainState
from telephony.web.media import media_stream
from telephony.web.routes import TwilioController, healthz, metrics, readyz
from telephony.web.state import WebState

if TYPE_CHECKING:
    from graphs.runtime.loader import Flow
    from graphs.runtime.phone import PhoneSettings

__all__ = ["MAX_REQUEST_BYTES", "create_app"]

# Twilio's webhooks are form posts of 1-3 KB; nothing legitimate comes near this.
MAX_REQUEST_BYTES = 64 * 1024


def _lifespan(
    settings: Settings, flow: Flow | None, phone: PhoneSettings, services: CallServices | None
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Install the call services and log redaction for the app's lifetime.

    Explicit ``services`` belong to the caller and are used as they are.
    Otherwise ``telephony.services.build_services(settings, flow=flow)``
    opens the defaults; it may return the services, an awaitable of them, or
    an async context manager yielding them (closed again at shutdown).
    Either way every log handler redacts with the flow's rules from then on.
    """

    @asynccontextmanager
    async def open_services(app: Litestar) -> AsyncIterator[None]:
        # Imported here, not at the top: redaction loads spaCy, and the services
        # pull in the speech engines.
        from memory.redaction_logging import install_redaction
        from telephony.services import build_services, load_redactor

        redactor = await load_redactor(phone.redaction_rules())
        if services is not None:
            app.state.services = services
            # However the app was started (`dialgraph serve`, uvicorn or gunicorn
            # given the app), every log handler now redacts with the flow's rules.
            install_redaction(redactor=redactor)
            yield
            return
        async with AsyncExitStack() as stack:
            built: Any = build_services(settings, flow=flow)
            if isinstance(built, AbstractAsyncContextManager):
                built = await stack.enter_async_context(built)
            elif inspect.isawaitable(built):
                built = await built
            app.state.services = built
            install_redaction(redactor=redactor)
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


def create_app(
    settings: Settings | None = None,
    *,
    graph: Any = None,
    phone: PhoneSettings | None = None,
    services: CallServices | None = None,
) -> Litestar:
    """Build the ASGI app serving Twilio's webhooks and media streams for a graph.

    The graph is loaded and checked here, so a mistake fails at start-up
    with one line; its engines open in the app's lifespan. Log redaction
    (the flow's rules) is installed on every handler when the app starts,
    whoever built the services.

    Args:
        settings: The runtime configuration (auth token, public URL, engines,
            limits, ...). ``None``: from the environment and ``./.env``.
        graph: What to put on the phone: a spec string like
            ``DIALGRAPH_GRAPH`` (a langgraph.json id, ``path/to/file.py:attr``
            or ``package.module:attr``), a loaded ``Flow``, a compiled graph,
            a ``StateGraph`` builder or a per-call factory. ``None``:
            ``settings.graph``, unless ``services`` are given (then no graph
            is loaded: the services bring their own agent factory).
        phone: The flow's :class:`~graphs.runtime.phone.PhoneSettings` when
            ``graph`` is an object (a spec or a ``Flow`` brings its own);
            wins over them when given.
        services: Process-wide call services, owned by the caller (tests,
            embedding). ``None``: the lifespan builds them from ``settings``
            for the graph at start-up.

    Returns:
        A Litestar app with ``POST /twilio/voice``, ``POST /twilio/status``,
        ``WS /twilio/media``, ``GET /healthz``, ``GET /readyz`` and ``GET /metrics``.

    Raises:
        ConfigError: The graph cannot go on the phone, or a setting is malformed.
    """
    from graphs.runtime.phone import PhoneSettings
    from telephony.services import as_flow, open_flow

    settings = settings if settings is not None else load_settings()
    flow: Flow | None = None
    if graph is not None:
        flow = as_flow(graph, phone=phone)
    elif services is None:
        flow = open_flow(settings.graph)
        if phone is not None:
            flow = as_flow(flow, phone=phone)
    on_phone = flow.phone if flow is not None else phone or PhoneSettings()
    state = WebState(
        {
            "settings": settings,
            "drain": DrainState(),
            "voicemail_message": settings.voicemail_message or on_phone.voicemail(),
        }
    )
    if services is not None:
        state.services = services
    return Litestar(
        route_handlers=[TwilioController, media_stream, healthz, readyz, metrics],
        state=state,
        lifespan=[_lifespan(settings, flow, on_phone, services)],
        request_max_body_size=MAX_REQUEST_BYTES,
        logging_config=_logging_config(),
        openapi_config=None,
        debug=False,
    )
