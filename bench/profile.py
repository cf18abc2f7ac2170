"""Where the time goes: profiles of the per-update path and of the live server.

``python -m bench.profile micro [--drawings N] [--top N]``
    replays real drawings through :class:`bench.hotpath.RoomPath` under pyinstrument
    (in-process sampling profiler) and prints the functions by own and total time.

``python -m bench.profile collapsed FILE [--top N]``
    summarizes a py-spy ``--format raw`` (collapsed stacks) file, e.g. the one written by
    ``python -m bench.load --py-spy FILE`` for the server process during the measurement.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

_FRAME_RE = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _short(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)`` with a package-relative path."""
    m = _FRAME_RE.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


COMPONENTS = (
    ("normalize (model.raster)", ("_normalize", "_rdp_keep", "_resample", "normalize_arrays")),
    ("rasterize (model.raster)", ("_raster_flat", "rasterize_arrays", "_stroke_ids", "_to_uint8")),
    ("drawing parse (model.raster)", ("model/raster.py",)),
    ("MLP (model.classifier)", ("model/classifier.py",)),
    ("permessage-deflate", ("permessage_deflate",)),
    ("WebSocket framing/IO (websockets, uvicorn, starlette)",
     ("websockets/", "uvicorn/", "starlette/")),
    ("Redis client (redis-py)", ("redis/",)),
    ("JSON", ("json/",)),
    ("game server logic (game_server)", ("game_server/",)),
    ("numpy internals", ("numpy/",)),
    ("event loop / asyncio / threads",
     ("asyncio/", "runners.py", "concurrent/", "threading.py", "selectors.py")),
)  # fmt: skip


def component_of(frame: str) -> str:
    for name, keys in COMPONENTS:
        if any(k in frame for k in keys):
            return name
    return "other"


_LOOP_CORE = ("Runner.run ", "run_forever ", "_run_once ", "select ", "run_until_complete ")


def _component_of_stack(frames: list[str]) -> str:
    """Attribute a sample to the innermost frame that belongs to a named component (numpy
    and asyncio plumbing count for their caller; the loop's own frames for the loop)."""
    if frames[-1].startswith(_LOOP_CORE):
        return "event loop (uvloop C code: I/O, callbacks)"
    for f in reversed(frames):
        c = component_of(f)
        if c != "other" and not c.startswith(("numpy", "event loop")):
            return c
    return component_of(frames[-1])


def summarize_collapsed(lines: Sequence[str], top: int = 30) -> str:
    """Own and total share of samples per function from collapsed stacks."""
    total = 0
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    comp: Counter[str] = Counter()
    for line in lines:
        line = line.rstrip("\n")
        if not line or " " not in line:
            continue
        stack, _, count = line.rpartition(" ")
        try:
            n = int(count)
        except ValueError:
            continue
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        # drop the thread/process label py-spy puts first
        if frames[0].startswith(("process ", "thread ")) or "(" not in frames[0]:
            frames = frames[1:] or frames
        total += n
        own[frames[-1]] += n
        comp[_component_of_stack(frames)] += n
        for f in set(frames):
            incl[f] += n
    if not total:
        return "no samples"
    out = [f"{total} samples", "", "by component (innermost named frame):"]
    out += [f"  {100 * v / total:5.1f}%  {k}" for k, v in comp.most_common()]
    out += ["", "own time (self):"]
    out += [f"  {100 * v / total:5.1f}%  {k}" for k, v in own.most_common(top)]
    out += ["", "total time (inclusive):"]
    out += [f"  {100 * v / total:5.1f}%  {k}" for k, v in incl.most_common(top)]
    return "\n".join(out)


def profile_micro(drawings: int, top: int) -> str:
    from pyinstrument import Profiler

    from bench.classifier import load
    from bench.data import sample_drawings
    from bench.hotpath import RoomPath
    from bench.micro import _updates

    clf = load()
    room = RoomPath(clf)
    replays = _updates(sample_drawings(drawings), 100.0)
    n = 0
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for ups in replays:
        room.reset()
        for _, raw in ups:
            room.update(raw)
            n += 1
    profiler.stop()
    session = profiler.last_session
    lines = []

    def walk(frame, stack: list[str]) -> None:  # collapsed stacks from pyinstrument's tree
        if frame.function.startswith("[self]"):  # pyinstrument's own-time pseudo frame
            lines.append(f"{';'.join(stack)} {round(frame.time * 1e6)}")
            return
        stack = [*stack, f"{frame.function} ({frame.file_path_short}:{frame.line_no})"]
        if not frame.children:
            lines.append(f"{';'.join(stack)} {round(frame.time * 1e6)}")
        for child in frame.children:
            walk(child, stack)

    root = session.root_frame()
    if root is not None:
        walk(root, [])
    head = f"{n} updates from {drawings} real drawings, model: {clf.kind}\n"
    return head + summarize_collapsed(lines, top).replace("samples", "us of samples", 1)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("micro", help="profile the per-update path (pyinstrument)")
    m.add_argument("--drawings", type=int, default=200)
    m.add_argument("--top", type=int, default=25)
    c = sub.add_parser("collapsed", help="summarize a py-spy raw/collapsed file")
    c.add_argument("file", type=Path)
    c.add_argument("--top", type=int, default=30)
    args = p.parse_args(argv)
    if args.cmd == "micro":
        print(profile_micro(args.drawings, args.top))
    else:
        print(summarize_collapsed(args.file.read_text().splitlines(), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
