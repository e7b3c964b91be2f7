"""`inv report`: write the self-contained HTML report of whatever the database holds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inv.settings import Settings


HELP = "write the HTML report of what the database holds"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help="HTML file to write (default: DATA_DIR/reports/inv-report-<time>.html)",
    )
    parser.add_argument(
        "--title", default="inv report", help="heading of the report (default: inv report)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from engine.report import build_report, default_report_path
    from storage.db import get_engine
    from storage.db_errors import require_schema

    out: Path | None = args.out
    if out is not None and out.is_dir():
        print(f"inv report: --out {out} is a directory; give a file name", file=sys.stderr)
        return 2
    require_schema(get_engine())
    path = build_report(
        out or default_report_path(settings.data_dir), title=args.title, data_dir=settings.data_dir
    )
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0
