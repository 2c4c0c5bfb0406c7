"""The Litestar application: ``create_app(graph=..., settings=...)``.

Shared resources (the flow's agent factory, speech engines, call registry,
token keys) live in one :class:`~telephony.call.services.CallServices` object that
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

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from litestar import Litestar
from litestar.logging import LoggingConfig

from telephony.call.services import CallServices
from telephony.settings import Settings, load_settings
from telephony.web.drain import DrainState
from telephony.web.media import media_stream
from telephony.web.preauth import UnauthenticatedSockets
from telephony.web.routes import TwilioController, healthz, metrics, readyz
from telephony.web.state import WebState

if TYPE_CHECKING:
    from graphs.runtime.loader import Flow
    from graphs.runtime.phone import PhoneSettings

__all__ = ["MAX_REQUEST_BYTES", "create_app", "server_protocols"]

logger = logging.getLogger("dialgraph.web")

# Twilio's webhooks are form posts of 1-3 KB; nothing legitimate comes near this.
MAX_REQUEST_BYTES = 64 * 1024


def server_protocols(settings: Settings) -> dict[str, Any]:
    """uvicorn's protocol classes with the limits uvicorn lacks (``uvicorn.Config(**...)``).

    - HTTP: a connection must finish each request's headers within
      ``header_timeout`` seconds (uvicorn has only a keep-alive timeout, armed
      after a response: a socket that connects and sends nothing, or a header
      a byte a minute, was kept for ever).
    - WebSocket: a text frame that is not valid UTF-8 ends the stream with
      1007 and one log line (uvicorn logged a traceback).

    ``dialgraph serve`` uses them; an app served by another command can too.
    """
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    protocols: dict[str, Any] = {
        "ws": _strict_utf8(WebSocketsSansIOProtocol),
        "timeout_keep_alive": settings.idle_timeout,
    }
    if settings.header_timeout > 0:
        protocols["http"] = _with_header_timeout(AutoHTTPProtocol, settings.header_timeout)
    return protocols


def _with_header_timeout(base: type[asyncio.Protocol], timeout_s: float) -> type[asyncio.Protocol]:
    """``base`` (uvicorn's httptools or h11 protocol) closing connections slow to send headers.

    A timer per connection checks every ``timeout_s``: if no request's headers
    completed since the last check and no request is in progress, the
    connection is idle or dribbling a header, and is closed. A socket upgraded
    to a WebSocket belongs to the WebSocket protocol: the timer stops.
    """

    class HeaderTimeoutProtocol(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def _arm_header_timer(self) -> None:
            self._watched_cycle = self.cycle
            self._header_timer = asyncio.get_running_loop().call_later(
                timeout_s, self._header_timeout
            )

        def _header_timeout(self) -> None:
            transport = self.transport
            if transport.is_closing() or transport.get_protocol() is not self:
                return  # closed, or upgraded to a WebSocket
            cycle = self.cycle
            idle = cycle is None or cycle.response_complete
            if cycle is self._watched_cycle and idle:
                logger.debug("closing a connection that sent no complete request headers")
                transport.close()
                return
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._header_timer.cancel()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol


def _strict_utf8(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """``base`` (uvicorn's websockets-sansio protocol) closing 1007 on a text frame that is
    not UTF-8, with one log line instead of uvicorn's traceback."""

    class StrictUtf8Protocol(base):  # type: ignore[misc, valid-type]
        def send_receive_event_to_app(self) -> None:
            if self.curr_msg_data_type == "text" and not self.close_sent:
                data = b"".join(self.frames)
                if not data.isascii():  # Twilio sends ASCII: only other text is checked
                    try:
                        data.decode()
                    except UnicodeDecodeError:
                        self.frames: list[bytes] = []
                        logger.warning("media stream closed: a text frame is not valid UTF-8")
                        self.conn.send_close(1007, "invalid UTF-8")
                        self.handle_parser_exception()
                        return
            super().send_receive_event_to_app()

    return StrictUtf8Protocol


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
            "unauthenticated": UnauthenticatedSockets(
                settings.max_unauthenticated,
                # A client address is worth a cap only when it is the real one.
                settings.max_unauthenticated_per_address if settings.trust_forwarded else 0,
            ),
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
