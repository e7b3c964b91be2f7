"""`inv export`: write the pseudonymised research export (see storage.export)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy.exc import OperationalError, ProgrammingError

from storage.db import get_engine
from storage.export import write_export
from storage.migrate import is_at_head


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help="zip file to write (default: DATA_DIR/exports/inv-export-<time>.zip)",
    )


def run(args: argparse.Namespace) -> int:
    out: Path | None = args.out
    if out is not None and out.exists() and out.is_dir():
        print(f"inv export: --out {out} is a directory; give a file name", file=sys.stderr)
        return 2
    engine = get_engine()
    try:
        ready = is_at_head(engine)
    except (OperationalError, ProgrammingError) as exc:
        print(
            f"inv export: cannot read the database ({exc.__class__.__name__}); run inv init",
            file=sys.stderr,
        )
        return 1
    if not ready:
        print(
            "inv export: the database is not at the newest schema; run inv init first",
            file=sys.stderr,
        )
        return 1
    result = write_export(out)
    counts = ", ".join(f"{k} {v:,}" for k, v in result.counts.items())
    print(
        f"wrote {result.path} ({result.size_bytes / 1e6:.2f} MB, sha256 {result.sha256[:12]}): {counts}"
    )
    return 0
