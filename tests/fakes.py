"""Test doubles for the provider protocols, a virtual clock and an in-memory socket.

These live in tests only. Each behaves like the real part in the way the
tests rely on (timing, chunking, cancellation), and nothing more.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import itertools
import json
from collections.abc import AsyncIterable, AsyncIterator, Mapping

import numpy as np

from telephony.call.agent import CallAction, InputSource
from telephony.call.transport import TransportClosed
from telephony.speech.base import AudioFrame, CallInfo, ProviderError, Transcript
from telephony.wire.calltoken import CallTokens
from telephony.wire.codec import pcm_to_ulaw

FAKE_TTS_MS_PER_CHAR = 10  # 1 s of audio for a 100-character phrase


class VirtualClock:
    """A clock that moves only when the test calls :meth:`advance`.

    ``sleep`` registers a wake-up; ``advance`` lets every task run until idle,
    wakes the earliest sleeper, and repeats up to the target time, so pacing
    logic runs at full speed and deterministically.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._seq), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers in order."""
        target = self._now + seconds
        while True:
            await self._settle()
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            when, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, when)
            if not fut.done():
                fut.set_result(None)
        self._now = target
        await self._settle()

    @staticmethod
    async def _settle() -> None:
        for _ in range(30):
            await asyncio.sleep(0)


def tone_ulaw(ms: int, freq: float = 440.0, level: float = 0.3) -> bytes:
    """A sine tone as 8 kHz mu-law (stands in for speech audio)."""
    t = np.arange(int(8 * ms)) / 8000
    pcm = (np.sin(2 * np.pi * freq * t) * level * 32767).astype(np.int16)
    return pcm_to_ulaw(pcm)


class FakeTTS:
    """Speaks ``FAKE_TTS_MS_PER_CHAR`` ms of tone per character, in 100 ms chunks."""

    name = "fake-tts"

    def __init__(self, *, fail_on: str | None = None, delay: float = 0.0) -> None:
        self.spoken: list[str] = []
        self.fail_on = fail_on
        self.delay = delay

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        if self.fail_on and self.fail_on in text:
            raise ProviderError("fake-tts", "synthesis failed")
        self.spoken.append(text)
        audio = tone_ulaw(FAKE_TTS_MS_PER_CHAR * len(text))
        for i in range(0, len(audio), 800):
            if self.delay:
                await asyncio.sleep(self.delay)
            yield audio[i : i + 800]


class FakeSTT:
    """Recognises tone bursts: each burst of non-silent audio is one utterance.

    The text of the n-th utterance is ``utterances[n]``; a burst ends after
    ``end_ms`` of silence. Partials are emitted while the burst lasts.
    """

    name = "fake-stt"

    def __init__(
        self, utterances: list[str], *, end_ms: int = 200, confidence: float | None = None
    ) -> None:
        self.utterances = list(utterances)
        self.end_ms = end_ms
        self.confidence = confidence  # given with every final, as a cloud engine does
        self.frames = 0

    async def transcribe(
        self, audio: AsyncIterable[AudioFrame], *, call: CallInfo
    ) -> AsyncIterator[Transcript]:
        speaking, silent_ms, index = False, 0, 0
        async for frame in audio:
            self.frames += 1
            loud = int(np.abs(frame.pcm.astype(np.int32)).max(initial=0)) > 1000
            if loud:
                if not speaking:
                    speaking = True
                    yield Transcript("", is_final=False)
                silent_ms = 0
            elif speaking:
                silent_ms += 20
                if silent_ms >= self.end_ms:
                    speaking = False
                    text = self.utterances[index] if index < len(self.utterances) else "unknown"
                    index += 1
                    yield Transcript(text, is_final=True, confidence=self.confidence)


class ScriptedAgent:
    """Answers from a table; records every call the session makes."""

    def __init__(
        self,
        replies: Mapping[str, str] | None = None,
        *,
        greeting: str = "Hello, you are through to the test line.",
        token_delay: float = 0.0,
        fail_on: str | None = None,
        action_on: Mapping[str, CallAction] | None = None,
    ) -> None:
        self.replies = dict(replies or {})
        self.greeting = greeting
        self.token_delay = token_delay
        self.fail_on = fail_on
        self.action_on = dict(action_on or {})
        self.inputs: list[tuple[str, str]] = []
        self.heard: list[str] = []
        self.cancelled = 0
        self.closed = False
        self._action: CallAction | None = None

    async def respond(self, text: str, *, source: InputSource = "speech") -> AsyncIterator[str]:
        self.inputs.append((source, text))
        self._action = self.action_on.get(text)
        if self.fail_on is not None and text == self.fail_on:
            raise RuntimeError("graph run crashed")
        reply = self.greeting if source == "start" else self.replies.get(text, f"You said {text}.")
        for word in reply.split(" "):
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            yield word + " "

    async def cancel(self) -> None:
        self.cancelled += 1

    async def record_heard(self, text: str) -> None:
        self.heard.append(text)

    def pending_action(self) -> CallAction | None:
        action, self._action = self._action, None
        return action

    async def aclose(self) -> None:
        self.closed = True


class AgentFactoryFor:
    """An AgentFactory handing out one prepared agent per call."""

    def __init__(self, make=ScriptedAgent) -> None:
        self._make = make
        self.agents: dict[str, ScriptedAgent] = {}

    async def __call__(self, call: CallInfo) -> ScriptedAgent:
        agent = self._make()
        self.agents[call.call_sid] = agent
        return agent


class FakeCallControl:
    """Records transfers and hang-ups; transfer attempts fail with ``failures``, in order.

    ``transfers`` holds the transfers that went through, ``attempts`` every try.
    """

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.transfers: list[tuple[str, str, str]] = []
        self.attempts: list[tuple[str, str, str]] = []
        self.hangups: list[str] = []
        self.failures = list(failures or [])

    async def transfer(self, call_sid: str, target: str, *, caller_id: str = "") -> None:
        self.attempts.append((call_sid, target, caller_id))
        if self.failures:
            raise self.failures.pop(0)
        self.transfers.append((call_sid, target, caller_id))

    async def hangup(self, call_sid: str) -> None:
        self.hangups.append(call_sid)


class MemoryTransport:
    """Both ends of a media socket in memory: the test plays Twilio."""

    def __init__(self) -> None:
        self.inbound: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.outbound: list[dict] = []
        self.sent_event = asyncio.Event()
        self.closed: tuple[int, str] | None = None

    # -- the session's side
    async def receive(self) -> str | bytes:
        if self.closed is not None:
            raise TransportClosed("closed")
        item = await self.inbound.get()
        if item is None:
            raise TransportClosed("peer closed")
        return item

    async def send(self, text: str) -> None:
        if self.closed is not None:
            raise TransportClosed("closed")
        self.outbound.append(json.loads(text))
        self.sent_event.set()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed is None:
            self.closed = (code, reason)
            self.inbound.put_nowait(None)

    # -- Twilio's side
    def push(self, message: dict | str | bytes) -> None:
        self.inbound.put_nowait(json.dumps(message) if isinstance(message, dict) else message)

    def hang_up(self) -> None:
        self.inbound.put_nowait(None)

    def of(self, event: str) -> list[dict]:
        return [m for m in self.outbound if m.get("event") == event]

    def media_bytes(self) -> bytes:
        return b"".join(base64.b64decode(m["media"]["payload"]) for m in self.of("media"))


class TwilioScript:
    """Builds Twilio's messages for one call (numbers as strings, as Twilio sends)."""

    def __init__(self, call_sid: str = "CA" + "1" * 32, stream_sid: str = "MZ" + "2" * 32) -> None:
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.seq = 0
        self.chunk = 0

    def _next(self) -> str:
        self.seq += 1
        return str(self.seq)

    def connected(self) -> dict:
        return {"event": "connected", "protocol": "Call", "version": "1.0.0"}

    def parameters(self, caller: str = "+15551230000", **extra: str) -> dict[str, str]:
        """The ``customParameters`` :meth:`start` sends besides the token (what tokens sign)."""
        return {"caller": caller, **extra}

    def signed_start(self, tokens: CallTokens, caller: str = "+15551230000", **extra: str) -> dict:
        """A ``start`` with a valid token issued over its own parameters, as the webhook does."""
        token = tokens.issue(self.call_sid, self.parameters(caller, **extra))
        return self.start(token, caller, **extra)

    def start(self, token: str, caller: str = "+15551230000", **extra: str) -> dict:
        return {
            "event": "start",
            "sequenceNumber": self._next(),
            "streamSid": self.stream_sid,
            "start": {
                "accountSid": "AC" + "0" * 32,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {**self.parameters(caller, **extra), "token": token},
            },
        }

    def media(self, payload: bytes) -> dict:
        self.chunk += 1
        return {
            "event": "media",
            "sequenceNumber": self._next(),
            "streamSid": self.stream_sid,
            "media": {
                "track": "inbound",
                "chunk": str(self.chunk),
                "timestamp": str((self.chunk - 1) * 20),
                "payload": base64.b64encode(payload).decode(),
            },
        }

    def frames(self, audio: bytes) -> list[dict]:
        return [self.media(audio[i : i + 160]) for i in range(0, len(audio), 160)]

    def mark(self, name: str) -> dict:
        return {
            "event": "mark",
            "sequenceNumber": self._next(),
            "streamSid": self.stream_sid,
            "mark": {"name": name},
        }

    def dtmf(self, digit: str) -> dict:
        return {
            "event": "dtmf",
            "sequenceNumber": self._next(),
            "streamSid": self.stream_sid,
            "dtmf": {"track": "inbound_track", "digit": digit},
        }

    def stop(self) -> dict:
        return {
            "event": "stop",
            "sequenceNumber": self._next(),
            "streamSid": self.stream_sid,
            "stop": {"accountSid": "AC" + "0" * 32, "callSid": self.call_sid},
        }


def test_tokens() -> CallTokens:
    return CallTokens("test-secret", ttl=60)


test_tokens.__test__ = False  # type: ignore[attr-defined]
