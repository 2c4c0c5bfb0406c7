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

Every test gets the environment back as it found it. The CLI loads ``.env``
into ``os.environ`` (as it must), and ``monkeypatch.delenv`` of a variable
that code under test set restores that value afterwards; either way a
``DIALGRAPH_MODEL=openai:...`` written by one test reached the next test that
ran in the same process, and which test that is depends on the order and on
how the run is split between workers.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("DIALGRAPH_CHECKPOINT_KEY", "dialgraph-tests-only-not-a-secret")

with contextlib.suppress(ImportError):  # the speech extras may not be installed
    import onnxruntime

    onnxruntime.set_seed(20261124)


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
