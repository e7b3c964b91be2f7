"""`inv precompute`: explain a folder of images and store clusters and maps for the game."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import REDUCTIONS, TARGETS

if TYPE_CHECKING:
    from inv.settings import Settings

HELP = "explain a folder of images and store the clusters"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--images",
        required=True,
        metavar="DIR",
        help="an ImageFolder (class subfolders) or a flat folder",
    )
    parser.add_argument(
        "--model",
        help="model name or module:callable (default: the MODEL setting, efficientnet_lite0)",
    )
    parser.add_argument(
        "--weights", help="weights file, 'random', or a torchvision weights name (default: WEIGHTS)"
    )
    parser.add_argument(
        "--layers", help="comma-separated layer names (default: LAYERS, else the model's defaults)"
    )
    parser.add_argument(
        "--classes",
        help="file of class names, one per line (index = line; default: the model's own names)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--limit", type=int, help="only the first N image files of the folder (default: all)"
    )
    parser.add_argument(
        "--reduction", choices=REDUCTIONS, help="ward (default: REDUCTION) or tsne (the paper's)"
    )
    parser.add_argument("--target", choices=TARGETS, default="predicted", help="class to explain")
    parser.add_argument("--workers", type=int, help="clustering threads (default: the CPUs)")
    parser.add_argument(
        "--lease-seconds",
        type=float,
        default=300.0,
        help="PostgreSQL: how long images claimed by a worker that stopped answering stay "
        "its own before other workers take them over",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--clean-orphans",
        action="store_true",
        help="afterwards delete stored files no row refers to",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from engine.classifiers import ModelLoadError
    from engine.content_files import clean_orphans
    from engine.hooks import LayerCallError
    from engine.images import IMAGE_SUFFIXES, ImageError
    from engine.precompute import precompute
    from storage import migrate
    from storage.db import get_engine

    log = logging.getLogger("inv.precompute")
    if args.batch_size < 1:
        print("inv precompute: --batch-size must be at least 1", file=sys.stderr)
        return 2
    if Path(args.images).is_file():
        print(
            f"inv precompute: --images {args.images} is a file; give the folder that holds the "
            "images",
            file=sys.stderr,
        )
        return 2
    if not args.lease_seconds > 0:
        print("inv precompute: --lease-seconds must be positive", file=sys.stderr)
        return 2
    layers = (
        [name.strip() for name in args.layers.split(",") if name.strip()] if args.layers else None
    )
    engine = get_engine()
    if not migrate.is_at_head(engine):
        # A fresh DATA_DIR works without a separate `inv init`.
        migrate.upgrade(engine)
        log.info("database brought to the newest schema")
    try:
        report = precompute(
            args.images,
            data_dir=settings.data_dir,
            model=args.model or settings.model,
            weights=args.weights if args.weights is not None else settings.weights,
            layers=layers or settings.layers,
            batch_size=args.batch_size,
            device=args.device,
            limit=args.limit,
            reduction=args.reduction or settings.reduction,
            target=args.target,
            workers=args.workers,
            classes_file=args.classes,
            progress=not args.no_progress,
            engine=engine,
            lease_seconds=args.lease_seconds,
        )
    except (
        ModelLoadError,
        FileNotFoundError,
        KeyError,
        ValueError,
        ImageError,
        LayerCallError,
    ) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"inv precompute: {message}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        if "CUDA" in str(exc) or "cuda" in str(exc):
            print(f"inv precompute: {exc}", file=sys.stderr)
            return 2
        raise
    print(report.summary())
    print(f"layers: {','.join(report.layers)}")
    if report.images_found == 0:
        suffixes = " ".join(sorted(IMAGE_SUFFIXES))
        print(
            f"inv precompute: no image files in {args.images} (looked for {suffixes}, "
            "in the folder and its class subfolders)",
            file=sys.stderr,
        )
        return 1
    if report.explained == 0 and report.already_done == 0 and report.failed:
        print(
            f"inv precompute: every image failed ({len(report.failed)}); see the reasons above",
            file=sys.stderr,
        )
        return 1
    if args.clean_orphans:
        removed = clean_orphans(settings.data_dir, engine=engine)
        log.info("removed %d unreferenced files", removed)
        print(f"removed {removed} unreferenced files")
    return 0
