"""Cost of the codec per 20 ms Twilio frame: mu-law decode/encode and resampling.

Run: ``uv run python bench/bench_codec.py``. Prints figures, never pass/fail.
"""

from __future__ import annotations

import statistics
import timeit

import numpy as np

from telephony.wire.codec import (
    FRAME_SAMPLES,
    FrameSplitter,
    Rebuffer,
    Resampler,
    pcm_to_ulaw,
    rms_dbfs,
    ulaw_to_pcm,
)

NUMBER = 2000  # calls per timing run
REPEAT = 15  # timing runs; min is the cost, median shows the noise


def _report(name: str, stmt) -> None:
    runs = [t / NUMBER * 1e6 for t in timeit.repeat(stmt, number=NUMBER, repeat=REPEAT)]
    print(f"{name:<34} min {min(runs):7.2f} us   median {statistics.median(runs):7.2f} us")


def main() -> None:
    rng = np.random.default_rng(0)
    pcm = (rng.standard_normal(FRAME_SAMPLES) * 3000).astype(np.int16)
    ulaw = pcm_to_ulaw(pcm)
    up = Resampler(8000, 16000)
    up_quick = Resampler(8000, 16000, quality="QQ")
    down = Resampler(22050, 8000)
    tts_frame = (rng.standard_normal(441) * 3000).astype(np.int16)  # 20 ms at 22.05 kHz
    splitter = FrameSplitter()
    rebuffer = Rebuffer(256)

    print(f"per 20 ms frame ({FRAME_SAMPLES} samples), {REPEAT} x {NUMBER} calls")
    _report("decode ulaw_to_pcm", lambda: ulaw_to_pcm(ulaw))
    _report("encode pcm_to_ulaw", lambda: pcm_to_ulaw(pcm))
    _report("resample 8k->16k HQ (amortised)", lambda: up.process(pcm))
    _report("resample 8k->16k QQ", lambda: up_quick.process(pcm))
    _report("resample 22.05k->8k HQ (amortised)", lambda: down.process(tts_frame))
    _report("FrameSplitter.feed", lambda: splitter.feed(ulaw))
    _report("Rebuffer(256).feed", lambda: rebuffer.feed(pcm))
    _report("rms_dbfs", lambda: rms_dbfs(pcm))


if __name__ == "__main__":
    main()
