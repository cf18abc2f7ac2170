"""Replaying real drawings as pointer input in a real browser.

Drawings are point strokes ``[[x, y, t], ...]`` (see ``tests/quickdraw.py``). They are mapped
onto an element's box and replayed through Chromium's real input pipeline: the mouse
(``page.mouse``) or one finger (CDP ``Input.dispatchTouchEvent``), so the page receives genuine
pointer events (pointerType "mouse" or "touch").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from playwright.async_api import CDPSession, Page

PagePoint = tuple[float, float]
PageStroke = list[PagePoint]


def fit_to_box(
    strokes: Sequence[Sequence[Sequence[float]]], box: dict[str, float], margin: float = 0.12
) -> list[PageStroke]:
    """Map point strokes into a page rectangle, centred, keeping the aspect ratio."""
    xs = [p[0] for s in strokes for p in s]
    ys = [p[1] for s in strokes for p in s]
    min_x, min_y = min(xs), min(ys)
    w, h = max(xs) - min_x, max(ys) - min_y
    k = min(box["width"], box["height"]) * (1 - 2 * margin) / max(w, h, 1.0)
    off_x = box["x"] + (box["width"] - w * k) / 2
    off_y = box["y"] + (box["height"] - h * k) / 2
    return [[(off_x + (p[0] - min_x) * k, off_y + (p[1] - min_y) * k) for p in s] for s in strokes]


def thin(strokes: Sequence[PageStroke], min_step: float) -> list[PageStroke]:
    """Drop points closer than ``min_step`` page px (Manhattan) to the last kept one; keep the
    ends. Touch input is delivered once per frame, so fewer points replay much faster."""
    out = []
    for stroke in strokes:
        kept = [stroke[0]]
        for x, y in stroke[1:-1]:
            if abs(x - kept[-1][0]) + abs(y - kept[-1][1]) >= min_step:
                kept.append((x, y))
        if len(stroke) > 1:
            kept.append(stroke[-1])
        out.append(kept)
    return out


async def draw_with_mouse(page: Page, strokes: Sequence[PageStroke]) -> None:
    """Replay strokes (page coordinates) with the mouse: move, down, moves, up."""
    for stroke in strokes:
        x0, y0 = stroke[0]
        await page.mouse.move(x0, y0)
        await page.mouse.down()
        for x, y in stroke[1:]:
            await page.mouse.move(x, y)
        await page.mouse.up()


def _touch(x: float, y: float) -> dict[str, Any]:
    return {"x": x, "y": y, "id": 1, "radiusX": 3, "radiusY": 3, "force": 0.5}


async def draw_with_touch(cdp: CDPSession, strokes: Sequence[PageStroke]) -> None:
    """Replay strokes (page coordinates) as one-finger touches."""
    for stroke in strokes:
        x0, y0 = stroke[0]
        await cdp.send(
            "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [_touch(x0, y0)]}
        )
        for x, y in stroke[1:]:
            await cdp.send(
                "Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [_touch(x, y)]}
            )
        await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
