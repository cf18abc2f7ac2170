"""The tables of the docs that are generated from the code, so that each fact has one place.

* README.md, "Configuration": one row per setting of :class:`game_server.config.Settings`;
* docs/protocol.md, "Close codes": one row per :data:`game_server.protocol.CLOSE_CODES`.

``python -m game_server.doctables`` rewrites them in place (between ``<!-- generated: NAME``
and ``<!-- end generated: NAME -->``); tests/test_tooling.py fails while one is stale.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from game_server.config import SPECS, Settings, Spec
from game_server.protocol import CLOSE_CODES

ROOT = Path(__file__).resolve().parent.parent


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "".join("| " + " | ".join(cells) + " |\n" for cells in lines)


def _shown(value: object) -> str:
    if value is None or value == ():
        return "unset"
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def _allowed(spec: Spec, kind: Any) -> str:
    if kind is bool:
        return "`1` / `0`"
    if spec.choices:
        return ", ".join(f"`{c}`" for c in spec.choices)
    if spec.minimum is not None and spec.maximum is not None:
        return f"{spec.minimum:g}..{spec.maximum:g}"
    if spec.minimum is not None:
        return f"≥ {spec.minimum:g}"
    return ""


def settings_table() -> str:
    rows = []
    for name, spec, kind in SPECS:
        default = Settings.__dataclass_fields__[name].default
        rows.append((f"`{spec.env}`", _shown(default), _allowed(spec, kind), spec.doc))
    return markdown_table(("variable", "default", "allowed", "meaning"), rows)


def close_codes_table() -> str:
    rows = [(str(c.code), f"`{c.name}`", c.meaning) for c in CLOSE_CODES]
    return markdown_table(("code", "name (`GET /api/config`)", "meaning"), rows)


GENERATED: dict[Path, dict[str, Callable[[], str]]] = {
    ROOT / "README.md": {"settings": settings_table},
    ROOT / "docs" / "protocol.md": {"close codes": close_codes_table},
}


def rendered(path: Path) -> str:
    """The text ``path`` should have: its generated tables replaced by the current ones."""
    text = path.read_text()
    for name, table in GENERATED[path].items():
        start = f"<!-- generated: {name} (python -m game_server.doctables) -->\n"
        end = f"<!-- end generated: {name} -->\n"
        head, found_start, rest = text.partition(start)
        _, found_end, tail = rest.partition(end)
        if not (found_start and found_end):
            raise ValueError(f"{path} has no generated table {name!r}")
        text = head + start + table() + end + tail
    return text


def main() -> int:
    for path in GENERATED:
        text = rendered(path)
        if text != path.read_text():
            path.write_text(text)
            print(f"updated {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
