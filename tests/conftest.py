"""Settings for the whole test run.

Piper's voice model draws random noise (prosody, timing) from onnxruntime's
random generator on every synthesis, so the same sentence sounds a little
different each run, and a test near a threshold could pass or fail by chance.
Seeding the generator before any model loads makes the synthesised test audio
the same from run to run (given the same tests in the same order). The
benchmarks under ``bench/`` keep the variation: they measure it.
"""

from __future__ import annotations

import contextlib

with contextlib.suppress(ImportError):  # the speech extras may not be installed
    import onnxruntime

    onnxruntime.set_seed(20261124)
