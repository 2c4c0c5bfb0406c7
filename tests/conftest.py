"""Settings for the whole test run.

Piper's voice model draws random noise (prosody, timing) from onnxruntime's
random generator on every synthesis, so the same sentence sounds a little
different each run, and a test near a threshold could pass or fail by chance.
Seeding the generator before any model loads makes the synthesised test audio
the same from run to run (given the same tests in the same order). The
benchmarks under ``bench/`` keep the variation: they measure it.

Encryption at rest is on by default with a key generated into ``var/`` on
first start. The test database on Postgres outlives a checkout (and a fresh
clone would generate another key), so the whole run shares one fixed test
key instead; a test of the generated default removes the variable itself.
"""

from __future__ import annotations

import contextlib
import os

os.environ.setdefault("DIALGRAPH_CHECKPOINT_KEY", "dialgraph-tests-only-not-a-secret")

with contextlib.suppress(ImportError):  # the speech extras may not be installed
    import onnxruntime

    onnxruntime.set_seed(20261124)
