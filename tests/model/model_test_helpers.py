"""Shared helpers for the model tests (imported by name; tests/model is on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_ndjson(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    out = []
    with open(path) as f:
        for line in f:
            if limit is not None and len(out) >= limit:
                break
            out.append(json.loads(line))
    return out
