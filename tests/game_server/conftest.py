"""Fixtures of the game server tests: the shipped model and real drawings it recognizes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from game_server.config import Settings
from tests.quickdraw import recognized_drawings


@pytest.fixture(scope="session")
def classifier() -> Any:
    from model import load_classifier

    return load_classifier()


@pytest.fixture(scope="session")
def recognizable(classifier: Any) -> dict[str, Any]:
    """label -> real raw drawings (point strokes) the shipped model recognizes."""
    threshold = Settings().recognition_confidence
    found = recognized_drawings(classifier, threshold, per_category=2, kind="raw")
    assert len(found) >= 10, f"the model recognizes too few raw drawings: {sorted(found)}"
    return found


@pytest.fixture
def game_settings(settings: Settings, recognizable: dict[str, Any]) -> Settings:
    """Settings for whole games: prompts the shipped model recognizes, short pauses."""
    return replace(
        settings,
        prompts=tuple(sorted(recognizable)),
        intermission_seconds=0.2,
        tick_ms=5,
    )
