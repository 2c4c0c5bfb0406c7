"""The simulated caller's ear: what the agent said, recognised from the audio the caller heard.

Audio mode must not trust the server's own transcript of its replies (that
would judge the agent by what it meant to say, not by what reached the line),
nor the server's recogniser configuration (its domain language model knows
the flow's phrases). So the caller listens with pocketsphinx's generic
English model, a configuration of its own, and the caller's rules and the
judges compare phrases fuzzily (:data:`telephony.eval.caller.HEARD`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from telephony.speech.base import AudioFrame, CallInfo
from telephony.speech.pocketsphinx import PocketsphinxConfig, PocketsphinxSTT
from telephony.wire.codec import FRAME_BYTES, FRAME_MS, ulaw_silence, ulaw_to_pcm

__all__ = ["Ear"]

_TRAIL_MS = 600  # silence after the reply, so the endpointer closes its last utterance
_CALL = CallInfo(call_sid="CAear", stream_sid="MZear", account_sid="ACear")


class Ear:
    """Recognises agent audio with the generic model (one decoder pool per process).

    Args:
        decoders: Decoders kept loaded (one per call heard at once).
    """

    def __init__(self, decoders: int = 2) -> None:
        self._stt = PocketsphinxSTT(PocketsphinxConfig(), max_idle=decoders)
        self._decoders = decoders

    async def warm_up(self) -> None:
        """Load the decoders now, not during the first call."""
        await self._stt.warm_up(self._decoders)

    async def hear(self, ulaw: bytes) -> str:
        """The words in ``ulaw`` (8 kHz mu-law), lower case; ``""`` for silence."""
        audio = ulaw + ulaw_silence(_TRAIL_MS)

        async def frames() -> AsyncIterator[AudioFrame]:
            for start in range(0, len(audio) - FRAME_BYTES + 1, FRAME_BYTES):
                chunk = audio[start : start + FRAME_BYTES]
                yield AudioFrame(
                    ulaw=chunk,
                    pcm=ulaw_to_pcm(chunk),
                    timestamp_ms=start // FRAME_BYTES * FRAME_MS,
                )

        words = [
            t.text
            async for t in self._stt.transcribe(frames(), call=_CALL)
            if t.is_final and t.text
        ]
        return " ".join(words)
