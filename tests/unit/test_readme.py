"""The README documents every setting the service reads."""

from __future__ import annotations

from pathlib import Path

from telephony.settings import SETTINGS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text()
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in text]
    assert missing == [], f"document these in README.md: {missing}"
