"""Run the embedded redis-server and reap it when the game server goes away.

``python -m game_server.redis_watchdog [--lock FILE] [--remove DIR] -- redis-server ARGS...``

Starts redis-server as its child, then blocks reading its own stdin: a pipe whose only writer is
the game server process. When the game server exits for any reason — SIGKILL included, when none
of its own code runs — the kernel closes that pipe, the read returns, and the watchdog stops
redis-server with SIGTERM (redis flushes its AOF on SIGTERM), waits for it and removes ``--remove``
(the private socket directory). It also exits when redis-server exits by itself, with its status.

``--lock``: an exclusive ``flock`` held for the watchdog's whole life (so while its redis-server
runs): a second embedded Redis on the same data directory is refused instead of corrupting it.

No fork-time hooks (``preexec_fn``, ``PR_SET_PDEATHSIG``) run in the game server, whose OpenBLAS
threads can deadlock a forked child; this is a plain ``exec`` of a small stdlib-only program.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO

EXIT_LOCKED = 75  # EX_TEMPFAIL: the data directory is in use
LOCK_WAIT_S = 5.0


def _lock(file: IO[str], wait_s: float) -> bool:
    """Take an exclusive flock on ``file``, waiting up to ``wait_s`` (a previous redis-server
    on the same data directory may still be writing its AOF after a crash restart)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="redis_watchdog")
    parser.add_argument("--lock")
    parser.add_argument("--remove")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    lock = None
    if args.lock:
        lock = open(args.lock, "a")  # noqa: SIM115 - held (locked) until the process exits
        if not _lock(lock, LOCK_WAIT_S):
            print(f"{args.lock} is locked: another embedded redis-server uses it", file=sys.stderr)
            return EXIT_LOCKED
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        signal.signal(signal.SIGTERM, lambda *_: child.terminate())
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the game server decides when we stop

        def stop_on_eof() -> None:
            sys.stdin.buffer.read()  # returns when the game server closed the pipe or died
            child.terminate()

        threading.Thread(target=stop_on_eof, daemon=True).start()
        try:
            return child.wait(timeout=None)
        finally:
            if child.poll() is None:  # pragma: no cover - only if wait() was interrupted
                child.kill()
                child.wait()
    finally:
        if args.remove:
            shutil.rmtree(args.remove, ignore_errors=True)
        if lock is not None:
            with contextlib.suppress(OSError):
                lock.close()


if __name__ == "__main__":
    sys.exit(main())
