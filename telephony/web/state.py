"""The application state the handlers see, typed."""

from __future__ import annotations

from litestar.datastructures import State

from telephony.call.services import CallServices
from telephony.settings import Settings
from telephony.web.drain import DrainState
from telephony.web.preauth import UnauthenticatedSockets

__all__ = ["WebState"]


class WebState(State):
    """Process-wide objects on ``app.state``; handlers declare ``state: WebState``.

    Attributes:
        settings: The configuration the app was created with.
        services: Engines and registries shared by every call, opened once by
            the lifespan (or handed to :func:`~telephony.web.create_app`).
        drain: Whether the process is draining before it stops.
        unauthenticated: Media sockets still waiting for a valid ``start``,
            and the caps on them.
        voicemail_message: What ``DIALGRAPH_VOICEMAIL=message`` leaves on a
            machine: the setting, else the flow's ``phone.voicemail()``.
    """

    settings: Settings
    services: CallServices
    drain: DrainState
    unauthenticated: UnauthenticatedSockets
    voicemail_message: str
