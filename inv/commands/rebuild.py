"""`inv rebuild`: rebuild concepts and global explanations now (the same function as /rebuild)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inv.settings import Settings


HELP = "rebuild concepts and global explanations now"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full",
        action="store_true",
        help="recompute every class, not only those with new or deleted answers",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import get_engine
    from storage.db_errors import require_schema

    require_schema(get_engine())

    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from inv.wiring import rebuild_function

    bar = None if args.quiet else tqdm(total=100, unit="%", desc="rebuild", file=sys.stderr)

    def progress(stage: str, fraction: float) -> None:
        if bar is None:
            return
        bar.set_description(stage)
        bar.update(max(0, round(fraction * 100) - bar.n))

    try:
        # Log lines go through tqdm.write, above the bar instead of through it.
        with logging_redirect_tqdm():
            report = rebuild_function(settings)(full=args.full, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(report.summary())
    if not report.ran:
        return 75  # EX_TEMPFAIL: try again later
    return 0 if report.ok else 1
