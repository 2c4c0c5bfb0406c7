"""The README's settings table is the one generated from the settings model.

Regenerate it after changing a setting (no make needed):

    uv run --locked --no-sync python -m tests.unit.test_readme
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from telephony.settings import RETIRED, SETTINGS, settings_table

README = Path(__file__).resolve().parents[2] / "README.md"
_ROW = re.compile(r"^\| `(?P<env>[A-Z0-9_]+)` \| (?P<default>[^|]*?) \| ")
_REGENERATE = "uv run --locked --no-sync python -m tests.unit.test_readme"


def _settings_section(text: str) -> str:
    return text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]


def _table_lines(section: str) -> list[str]:
    """The section's table: its header row and every table line after it."""
    lines = section.splitlines()
    start = lines.index("| variable | default | meaning |")
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return lines[start:end]


def _documented() -> dict[str, str]:
    """``env -> default`` of the rows of the README's settings table."""
    section = _settings_section(README.read_text())
    return {m["env"]: m["default"] for m in map(_ROW.match, _table_lines(section)) if m}


def test_the_settings_table_is_generated_from_the_settings() -> None:
    documented = _table_lines(_settings_section(README.read_text()))
    expected = settings_table().splitlines()
    diff = "\n".join(
        difflib.unified_diff(documented, expected, "README.md", "generated", n=0, lineterm="")
    )
    assert documented == expected, (
        f"the README's settings table is stale; run {_REGENERATE}\n{diff}"
    )


def test_the_table_lists_every_variable_with_a_default_that_parses_back() -> None:
    table = _documented()
    assert list(table) == [s.env for s in SETTINGS]
    for s in SETTINGS:
        shown = table[s.env].replace("\\|", "|")
        assert s.parse("" if shown == "(empty)" else shown) == s.default, s.env


def test_retired_and_flow_variables_are_documented_where_they_belong() -> None:
    text = README.read_text()
    table = _documented()
    for old, new in RETIRED.items():
        assert old not in table and f"`{new}`" in text
    # The chat model is the bundled flows' setting: documented with them, not in the table.
    assert "DIALGRAPH_MODEL" not in table
    assert "`DIALGRAPH_MODEL`" in text.split("\n## Settings\n", 1)[0]


def _rewrite_readme() -> None:
    """Put the generated table in place of the README's (the rest is left as it is)."""
    text = README.read_text()
    old = "\n".join(_table_lines(_settings_section(text)))
    assert text.count(old) == 1, "the settings table must appear once in README.md"
    README.write_text(text.replace(old, settings_table()))


if __name__ == "__main__":
    _rewrite_readme()
