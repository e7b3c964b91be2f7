"""The `--out FILE` option of the commands that write one file (`inv export`, `inv report`).

Both take a file name with a default under DATA_DIR, and both refuse a directory before touching
the database (exit status 2, as for any other wrong argument), so the mistake costs nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_out_argument(parser: argparse.ArgumentParser, *, what: str, default: str) -> None:
    """`--out FILE`: the `what` to write, `default` (in words) when it is not given."""
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"{what} to write (default: {default})",
    )


def out_is_a_directory(command: str, out: Path | None) -> bool:
    """True, having said so on stderr, when `--out` names an existing directory."""
    if out is not None and out.is_dir():
        print(f"inv {command}: --out {out} is a directory; give a file name", file=sys.stderr)
        return True
    return False
