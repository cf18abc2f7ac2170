from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_test_helpers import read_ndjson

from training.data import data_dir


@pytest.fixture(scope="session")
def qd_dir() -> Path:
    d = data_dir()
    assert (d / "categories.json").is_file(), f"Quick, Draw! data not found at {d}"
    return d


@pytest.fixture(scope="session")
def paired(qd_dir: Path) -> list[tuple[str, list[Any], np.ndarray]]:
    """(category, simplified drawing, Google bitmap 28x28) for the same drawing index."""
    out = []
    for cat, limit in (("cat", 150), ("airplane", 100), ("bicycle", 100), ("eye", 100)):
        with np.load(qd_dir / "bitmaps" / f"{cat}.npz") as z:
            images, rows = z["images"], z["rows"]
        pos = {int(r): i for i, r in enumerate(rows)}
        n = 0
        for rec in read_ndjson(qd_dir / "simplified" / f"{cat}.ndjson"):
            if rec["index"] in pos:
                out.append((cat, rec["drawing"], images[pos[rec["index"]]].reshape(28, 28)))
                n += 1
                if n >= limit:
                    break
    return out
