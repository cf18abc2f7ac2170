"""The seed's guessing pipeline, re-created as the baseline for our stroke pipeline.

The seed's browser posted a PNG of the whole canvas for every guess, and its server
decoded it, cropped it to the ink's bounding box, resized it to 28x28 with Pillow,
inverted and normalized it and ran the MLP on it:

* client: the drawing on a 400x400 white canvas (black strokes, 6 px round lines), then
  ``canvas.toDataURL("image/png")`` = PNG encode + base64 (:func:`client_render`,
  :func:`client_encode`);
* server: base64 decode, PNG decode, grayscale, invert, bounding box crop, resize to 28x28,
  classify, JSON reply (:func:`server_guess`).

The same real drawings go through this and through our pipeline (:mod:`bench.hotpath`)
side by side in :mod:`bench.micro`.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageOps

__all__ = ["CANVAS", "client_encode", "client_render", "fit_to_canvas", "server_guess"]

CANVAS = 400
LINE_WIDTH = 6
_MARGIN = 20


def fit_to_canvas(strokes: Sequence[Sequence[Sequence[float]]]) -> list[list[tuple[float, float]]]:
    """Raw strokes (any device's canvas pixels) -> point lists inside a 400x400 canvas,
    as if the player had drawn them there (uniform scale, centred)."""
    xs = [x for s in strokes for x in s[0]]
    ys = [y for s in strokes for y in s[1]]
    if not xs:
        return []
    x0, y0 = min(xs), min(ys)
    extent = max(max(xs) - x0, max(ys) - y0) or 1.0
    scale = (CANVAS - 2 * _MARGIN) / extent
    ox = (CANVAS - (max(xs) - x0) * scale) / 2
    oy = (CANVAS - (max(ys) - y0) * scale) / 2
    return [
        [((x - x0) * scale + ox, (y - y0) * scale + oy) for x, y in zip(s[0], s[1], strict=False)]
        for s in strokes
    ]


def client_render(canvas_strokes: Sequence[Sequence[tuple[float, float]]]) -> Image.Image:
    """What the browser canvas held: black round 6 px lines on white, 400x400."""
    img = Image.new("L", (CANVAS, CANVAS), 255)
    draw = ImageDraw.Draw(img)
    for pts in canvas_strokes:
        if len(pts) == 1:
            (x, y) = pts[0]
            r = LINE_WIDTH / 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill=0)
        elif pts:
            draw.line(list(pts), fill=0, width=LINE_WIDTH, joint="curve")
    return img


def client_encode(img: Image.Image) -> str:
    """``canvas.toDataURL('image/png')``: PNG encode + base64 (what the seed posted)."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def server_preprocess(data_url: str) -> np.ndarray:
    """Decode the posted PNG and make the 28x28 uint8 (ink 255 on 0) input image."""
    raw = base64.b64decode(data_url.split(",", 1)[1])
    img = Image.open(io.BytesIO(raw)).convert("L")
    img = ImageOps.invert(img)  # ink -> 255
    bbox = img.getbbox()
    if bbox is not None:
        img = img.crop(bbox)
    img = img.resize((28, 28), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def server_guess(data_url: str, clf, top_k: int = 3) -> bytes:
    """The seed server's whole per-guess work: decode, crop, resize, classify, reply."""
    image = server_preprocess(data_url)
    probs = clf.predict_images(image[None])[0]
    top = np.argsort(probs)[::-1][:top_k]
    body = {"guesses": [{"label": clf.labels[i], "p": round(float(probs[i]), 4)} for i in top]}
    return json.dumps(body).encode()
