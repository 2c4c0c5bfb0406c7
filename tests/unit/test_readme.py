"""The README documents every setting the service reads, and nothing it no longer reads."""

from __future__ import annotations

import re
from pathlib import Path

from telephony.settings import RETIRED, SETTINGS

README = Path(__file__).resolve().parents[2] / "README.md"
_ROW = re.compile(r"^\| `(?P<env>[A-Z0-9_]+)` \| (?P<default>[^|]*?) \| ")


def _settings_table() -> dict[str, str]:
    """``env -> default`` of the rows of the README's settings table."""
    section = README.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return {m["env"]: m["default"] for m in map(_ROW.match, section.splitlines()) if m}


def test_the_settings_table_lists_exactly_the_settings() -> None:
    table = _settings_table()
    declared = [s.env for s in SETTINGS]
    assert sorted(set(declared) - table.keys()) == [], "document these in README.md"
    assert sorted(table.keys() - set(declared)) == [], "the service no longer reads these"


def test_the_settings_table_shows_the_real_defaults() -> None:
    table = _settings_table()
    for s in SETTINGS:
        shown = table[s.env]
        shown = "" if shown == "(empty)" else shown.replace("\\|", "|").strip("`")
        assert s.parse(shown) == s.parse(str(s.default)), (s.env, shown, s.default)


def test_retired_and_flow_variables_are_documented_where_they_belong() -> None:
    text = README.read_text()
    table = _settings_table()
    for old, new in RETIRED.items():
        assert old not in table and f"`{new}`" in text
    # The chat model is the bundled flows' setting: documented with them, not in the table.
    assert "DIALGRAPH_MODEL" not in table
    assert "`DIALGRAPH_MODEL`" in text.split("\n## Settings\n", 1)[0]
