"""The pitch of synthesised speech, for tests that tell voices apart."""

from __future__ import annotations

import numpy as np

from telephony.wire.codec import SAMPLE_RATE, rms_dbfs

__all__ = ["median_f0_hz"]


def median_f0_hz(pcm: np.ndarray) -> float:
    """Median pitch of 8 kHz PCM over loud 40 ms windows, by autocorrelation (70-400 Hz)."""
    window, pitches = 320, []
    lo, hi = SAMPLE_RATE // 400, SAMPLE_RATE // 70
    for start in range(0, pcm.size - window, window):
        if rms_dbfs(pcm[start : start + window]) < -30:
            continue
        frame = pcm[start : start + window].astype(np.float64)
        frame -= frame.mean()
        corr = np.correlate(frame, frame, "full")[window - 1 :]
        lag = lo + int(np.argmax(corr[lo:hi]))
        if corr[lag] > 0.3 * corr[0]:
            pitches.append(SAMPLE_RATE / lag)
    return float(np.median(pitches))
