"""`inv report`: write the self-contained HTML report of whatever the database holds."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from inv.commands.out_file import add_out_argument, out_is_a_directory

if TYPE_CHECKING:
    from inv.settings import Settings


HELP = "write the HTML report of what the database holds"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_out_argument(parser, what="HTML file", default="DATA_DIR/reports/inv-report-<time>.html")
    parser.add_argument(
        "--title", default="inv report", help="heading of the report (default: inv report)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from engine.report import build_report, default_report_path
    from storage.db import get_engine
    from storage.db_errors import require_schema

    out: Path | None = args.out
    if out_is_a_directory("report", out):
        return 2
    require_schema(get_engine())
    path = build_report(
        out or default_report_path(settings.data_dir), title=args.title, data_dir=settings.data_dir
    )
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0
