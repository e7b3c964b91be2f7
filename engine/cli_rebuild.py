"""`inv rebuild`: rebuild concepts and global explanations now (the same function as /rebuild)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full",
        action="store_true",
        help="recompute every class, not only those with new or deleted answers",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from storage.migrate import is_at_head

    try:
        ready = is_at_head()
    except Exception as exc:
        print(f"inv: cannot open the database ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    if not ready:
        print(
            "inv: the database is not at the newest schema; run `inv init` first", file=sys.stderr
        )
        return 2

    from tqdm import tqdm

    from engine.rebuild import rebuild

    bar = None if args.quiet else tqdm(total=100, unit="%", desc="rebuild", file=sys.stderr)

    def progress(stage: str, fraction: float) -> None:
        if bar is None:
            return
        bar.set_description(stage)
        bar.update(max(0, round(fraction * 100) - bar.n))

    try:
        report = rebuild(full=args.full, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(report.summary())
    if not report.ran:
        return 75  # EX_TEMPFAIL: try again later
    return 0 if report.ok else 1
