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


def summarize_collapsed(lines: Sequence[str], top: int = 30) -> str:
    """Own and total share of samples per function from collapsed stacks."""
    total = 0
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
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
        for f in set(frames):
            incl[f] += n
    if not total:
        return "no samples"
    out = [f"{total} samples", "", "own time (self):"]
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
