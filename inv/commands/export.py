"""`inv export`: write the pseudonymised research export (see storage.export)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from inv.commands.out_file import add_out_argument, out_is_a_directory

if TYPE_CHECKING:
    from inv.settings import Settings

HELP = "write the pseudonymised research export (zip)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_out_argument(parser, what="zip file", default="DATA_DIR/exports/inv-export-<time>.zip")
    parser.add_argument(
        "--with-images",
        action="store_true",
        help="also pack the crops, cluster maps, Grad-CAM maps and example overlays the rows "
        "refer to (default: charts only)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import get_engine
    from storage.db_errors import require_schema
    from storage.export import write_export

    out: Path | None = args.out
    if out_is_a_directory("export", out):
        return 2
    require_schema(get_engine())
    result = write_export(
        out,
        data_dir=settings.data_dir,
        parameters=settings.export_parameters(),
        with_images=args.with_images,
    )
    counts = ", ".join(f"{k} {v:,}" for k, v in result.counts.items())
    print(
        f"wrote {result.path} ({result.size_bytes / 1e6:.2f} MB, sha256 {result.sha256[:12]}): {counts}"
    )
    return 0
