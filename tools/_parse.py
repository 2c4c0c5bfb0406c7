"""Tidying the names a model passes to the tools.

Days, times and parts of the day are read by :mod:`spoken` (``spoken.days``,
``spoken.times``), the same readers the clinic's dialogue uses; a patient's
name is not spoken language, so it is tidied here.
"""

from __future__ import annotations

import re

__all__ = ["clean_name"]


def clean_name(text: str) -> str:
    """A patient's name as given, tidied: "maria  LOPEZ" -> "Maria Lopez", "McKay" kept."""
    words = re.sub(r"[^\w' .-]+", " ", text).split()
    tidy = [w.title() if (w.islower() or w.isupper()) else w for w in words]
    return " ".join(tidy).strip(" .-'")
