"""Repository-wide checks: lint/format clean, README's commands and CI agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from game_server import doctables

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_lint_is_clean() -> None:
    result = _ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_opens_with_two_quick_start_commands() -> None:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"## Quick start\s*```(?:bash)?\n(.*?)```", text, re.S)
    assert match is not None
    lines = [line for line in match.group(1).splitlines() if line.strip()]
    assert len(lines) == 2
    assert "python -m game_server" in lines[0]
    assert "pytest" in lines[1]


def test_torch_is_pinned() -> None:
    assert '"torch==2.13.0"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize("path", sorted(doctables.GENERATED), ids=lambda p: p.name)
def test_generated_doc_tables_are_current(path: Path) -> None:
    """README's settings and docs/protocol.md's close codes are generated from the code: run
    ``python -m game_server.doctables`` after changing either."""
    assert path.read_text() == doctables.rendered(path), "run: python -m game_server.doctables"
