"""The call's side of the dialogue: the ``Agent`` protocol and the actions it may ask for.

The session knows the dialogue only through :class:`Agent`; ``graphs``
implements it (``graphs.runtime.runner.GraphAgent``) without importing
``telephony``, so it is structural and carries only plain values. A
:class:`CallAction` the agent asks for is carried out through a
:class:`CallControl` (Twilio's REST API: :mod:`telephony.outbound.twilio_rest`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from telephony.speech.base import CallInfo, ClosingStream

__all__ = [
    "TRANSFER_FAILED",
    "Agent",
    "AgentFactory",
    "CallAction",
    "CallControl",
    "InputSource",
]


InputSource = Literal["start", "speech", "dtmf", "silence", "event"]
"""Why the agent is asked to respond: call start (greeting), a caller
utterance, keypad digits, the caller's silence (reprompt), or an event on the
line the dialogue must hear about, named by the text (``"transfer_failed"``:
the call could not be moved and the caller is still there). An event is not
the caller's words."""

TRANSFER_FAILED = "transfer_failed"
"""The ``event`` input after a transfer that did not happen (the call goes on)."""


@dataclass(frozen=True, slots=True)
class CallAction:
    """Something the agent asked the telephony layer to do after its reply.

    Attributes:
        kind: ``"transfer"`` (move the call to ``target``) or ``"hangup"``.
        target: Transfer target number in E.164 (empty for hangup).
        reason: Short human-readable reason, for logs.
    """

    kind: Literal["transfer", "hangup"]
    target: str = ""
    reason: str = ""


@runtime_checkable
class Agent(Protocol):
    """The dialogue for one call (``graphs.runner`` adapts a LangGraph graph).

    One ``respond`` runs at a time. ``cancel`` stops the running reply and
    leaves the dialogue state consistent; ``record_heard`` then stores the
    part of the reply the caller actually heard.

    Optional (not part of the protocol, so agents without it still match):
    ``expecting() -> Mapping[str, Any] | None``, what the caller is asked for
    by the reply just produced. The session reads it once the reply's text is
    out, before its audio ends (callers key during the prompt).
    ``{"kind": "digits", "max_digits": 0, "min_digits": 1, "finish_on_key": "#",
    "timeout_s": 5.0}`` (every key but ``kind`` optional; these are the
    defaults) collects keys into one ``dtmf`` turn, like Twilio's ``<Gather>``:
    see :mod:`telephony.call.keypad`. ``None``, or no method: every key is its own
    turn at once.
    ``record_spoken(text: str, *, interrupted: bool = False) -> None``, told
    what the session said on its own (a reprompt's goodbye, the apology after
    a failed turn, a transfer announcement), as heard: cut short when
    ``interrupted``. ``GraphAgent`` records it in the checkpoint and the
    transcript, so both say what the caller heard.
    """

    def respond(self, text: str, *, source: InputSource = "speech") -> ClosingStream[str]:
        """Run one turn; yield the reply's text as it is produced.

        A speech turn whose recogniser gave a confidence is also passed
        ``confidence=`` (a float in [0, 1]); an agent that reads it accepts
        the keyword (``GraphAgent`` does).
        """
        ...

    async def cancel(self) -> None: ...

    async def record_heard(self, text: str) -> None: ...

    def pending_action(self) -> CallAction | Mapping[str, str] | None:
        """The call action requested by the last reply, if any.

        ``graphs`` may return a plain mapping with keys ``kind``, ``target``
        and ``reason`` because it does not import this module.
        """
        ...

    async def aclose(self) -> None: ...


class AgentFactory(Protocol):
    """Opens the :class:`Agent` for one call."""

    async def __call__(self, call: CallInfo) -> Agent: ...


@runtime_checkable
class CallControl(Protocol):
    """Moves or ends a live call (Twilio REST API in production)."""

    async def transfer(self, call_sid: str, target: str, *, caller_id: str = "") -> None: ...

    async def hangup(self, call_sid: str) -> None: ...
