"""``python -m bench.load``: see :mod:`bench.load`."""

from bench.load.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
