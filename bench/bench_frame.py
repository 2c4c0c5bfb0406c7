"""Protocol + codec cost of one 20 ms frame, both directions, and what it means per core.

Run: ``uv run python bench/bench_frame.py``. Prints figures, never pass/fail.

What is timed (each row: microseconds per frame, min and median of repeated runs):

- inbound: ``MediaStreamProtocol.receive`` of a real Twilio ``media`` message
  (JSON text, numbers as strings, base64 payload of 160 mu-law bytes, built by
  ``encode_twilio_event``), then ``events()``, then ``ulaw_to_pcm`` of the
  payload: what the call session does for every caller frame it hands to a
  recogniser.
- outbound: ``send_media`` of 160 mu-law bytes then ``data_to_send()``: the
  JSON text frame the writer puts on the socket every 20 ms.

How to read it: a call moves 50 frames a second each way, so one call costs
``50 * (inbound + outbound)`` microseconds of CPU per second of call. The last
lines turn the min figure into the fraction of one core that 1 and 100 calls
would spend here. That is the floor set by protocol and codec alone: the
WebSocket framing, asyncio, uvicorn and the session's bookkeeping come on top,
and ``bench/bench_calls.py`` measures the whole server.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable

import numpy as np

from telephony.wire.codec import FRAME_BYTES, FRAME_MS, pcm_to_ulaw, ulaw_to_pcm
from telephony.wire.protocol import (
    MULAW_8K_MONO,
    Media,
    MediaStreamProtocol,
    Start,
    encode_twilio_event,
)

NUMBER = 5000  # frames per timing run
REPEAT = 15  # timing runs; min is the cost, median shows the noise
FRAMES_PER_S = 1000 // FRAME_MS  # 50: Twilio's frame rate, each way
CALL_COUNTS = (1, 100)  # what fraction of a core these many calls would use
STREAM_SID = "MZ" + "2" * 32
CALL_SID = "CA" + "1" * 32


def _time(stmt: Callable[[], object]) -> tuple[float, float]:
    """Return (min, median) microseconds per call of ``stmt``."""
    runs = [t / NUMBER * 1e6 for t in timeit.repeat(stmt, number=NUMBER, repeat=REPEAT)]
    return min(runs), statistics.median(runs)


def _streaming_protocol() -> MediaStreamProtocol:
    """A protocol past ``start``, as it is for the whole of a call."""
    protocol = MediaStreamProtocol()
    start = Start(
        stream_sid=STREAM_SID,
        call_sid=CALL_SID,
        account_sid="AC" + "0" * 32,
        tracks=("inbound",),
        media_format=MULAW_8K_MONO,
        custom_parameters={"caller": "+15550100123", "token": "v1.0.x"},
        sequence_number=1,
    )
    protocol.receive(encode_twilio_event(start))
    protocol.events()
    return protocol


def main() -> None:
    rng = np.random.default_rng(0)
    ulaw = pcm_to_ulaw((rng.standard_normal(FRAME_BYTES) * 3000).astype(np.int16))
    message = encode_twilio_event(
        Media(track="inbound", chunk=1234, timestamp_ms=24_660, payload=ulaw),
        stream_sid=STREAM_SID,
        sequence_number=1235,
    )
    inbound = _streaming_protocol()
    outbound = _streaming_protocol()

    def receive_only() -> None:
        inbound.receive(message)
        inbound.events()

    def inbound_frame() -> None:
        inbound.receive(message)
        for event in inbound.events():
            ulaw_to_pcm(event.payload)

    def outbound_frame() -> None:
        outbound.send_media(ulaw)
        outbound.data_to_send()

    # Sanity: the timed paths really do what they claim.
    inbound.receive(message)
    (event,) = inbound.events()
    assert isinstance(event, Media) and event.payload == ulaw
    outbound.send_media(ulaw)
    (frame,) = outbound.data_to_send()

    print(f"per 20 ms frame ({FRAME_BYTES} mu-law bytes), {REPEAT} x {NUMBER} frames")
    print(f"  inbound message: {len(message)} chars of JSON; outbound: {len(frame)} chars")
    rows = [
        ("in:  receive + events", receive_only),
        ("in:  ulaw_to_pcm", lambda: ulaw_to_pcm(ulaw)),
        ("in:  receive + events + ulaw_to_pcm", inbound_frame),
        ("out: send_media + data_to_send", outbound_frame),
    ]
    figures = {}
    for name, stmt in rows:
        low, mid = _time(stmt)
        figures[name] = low
        print(f"  {name:<38} min {low:6.2f} us   median {mid:6.2f} us")

    per_frame = figures["in:  receive + events + ulaw_to_pcm"] + figures[rows[-1][0]]
    per_call_s = per_frame * FRAMES_PER_S  # us of CPU per second of call
    print(
        f"one call: {FRAMES_PER_S} frames/s each way = {per_call_s:.0f} us CPU per call-second "
        "(min figures)"
    )
    for calls in CALL_COUNTS:
        share = calls * per_call_s / 1e6
        print(f"  {calls:>4} call(s): {share * 100:6.3f} % of one core (protocol + codec only)")


if __name__ == "__main__":
    main()
