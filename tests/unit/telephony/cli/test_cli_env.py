"""One ``.env`` configures the service and its graph: the CLI exports it for flows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from telephony.cli.main import _export_env_file


def test_env_file_values_reach_the_flow_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("DIALGRAPH_MODEL=openai:gpt-4.1-mini\nACME_TOKEN=from-file\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIALGRAPH_MODEL", raising=False)
    monkeypatch.setenv("ACME_TOKEN", "from-environment")
    _export_env_file()
    assert os.environ["DIALGRAPH_MODEL"] == "openai:gpt-4.1-mini"  # read by the clinic flow
    assert os.environ["ACME_TOKEN"] == "from-environment"
    monkeypatch.delenv("DIALGRAPH_MODEL")
