"""The echo line: the smallest dialogue that exercises a whole call.

It greets the caller, repeats what it recognised or which keys were pressed,
and hangs up when the caller says goodbye (or presses ``#``). It is what
``dialgraph demo`` talks to until the clinic graph is the default, and a quick
way to check a telephone set-up end to end (ASR in, TTS out, barge-in, marks).

It implements the session's ``Agent`` protocol structurally: ``graphs`` never
imports ``telephony``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

__all__ = ["EchoAgent", "echo_agent_factory"]

GREETING = (
    "Hello, this is the Dialgraph echo line. Say something, or press a key, and I will repeat it."
)
_GOODBYE = re.compile(r"\b(good ?bye|bye|hang up)\b", re.IGNORECASE)


class EchoAgent:
    """Repeats the caller. One instance per call."""

    def __init__(self) -> None:
        self.turns = 0
        self.heard: list[str] = []
        self._action: Mapping[str, str] | None = None

    async def respond(self, text: str, *, source: str = "speech") -> AsyncIterator[str]:
        self.turns += 1
        self._action = None
        if source == "start":
            reply = GREETING
        elif source == "dtmf":
            if text == "#":
                reply, self._action = "Goodbye.", {"kind": "hangup", "reason": "caller pressed #"}
            else:
                reply = f"You pressed {text}."
        elif source == "silence":
            reply = "Are you still there? Say something and I will repeat it."
        elif _GOODBYE.search(text):
            reply, self._action = (
                "Goodbye, thanks for calling.",
                {"kind": "hangup", "reason": "caller said goodbye"},
            )
        else:
            reply = f"You said: {text}."
        for word in reply.split(" "):
            yield word + " "

    async def cancel(self) -> None:
        self._action = None

    async def record_heard(self, text: str) -> None:
        self.heard.append(text)

    def pending_action(self) -> Mapping[str, str] | None:
        action, self._action = self._action, None
        return action

    async def aclose(self) -> None:
        return None


async def echo_agent_factory(call: Any) -> EchoAgent:
    """An ``AgentFactory``: a fresh :class:`EchoAgent` per call."""
    return EchoAgent()
