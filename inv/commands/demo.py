"""`inv demo`: the whole loop offline on real photos, ending in out/report.html and an export.

`inv demo --prepare-only` instead gathers the demo photos and explains them into the configured
database, so that `inv bot` can serve them to real Telegram users (what `make run` does when a
TELEGRAM_BOT_TOKEN is set).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inv.settings import Settings


HELP = "run the whole loop offline on real photos and write a report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from inv.demo.run import DemoOptions

    defaults = DemoOptions()
    parser.add_argument(
        "--out", type=Path, default=defaults.out, help="output folder (default: out)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=defaults.seed,
        help=f"seed of everything random (default: {defaults.seed})",
    )
    parser.add_argument(
        "--players",
        type=int,
        default=defaults.players,
        help=f"simulated players (default: {defaults.players})",
    )
    parser.add_argument(
        "--challenges",
        type=int,
        default=defaults.challenges,
        help=f"challenges each player plays at most (default: {defaults.challenges})",
    )
    parser.add_argument(
        "--photos",
        type=int,
        default=None,
        metavar="N",
        help="how many demo photos to use (default: all the demo photos found; their number "
        "depends on whether darknet's sample images are installed)",
    )
    # The old name, kept working for scripts; precompute's --images names a folder instead.
    parser.add_argument("--images", type=int, dest="photos", help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help="classifier (default: the MODEL setting)")
    parser.add_argument(
        "--prepare-only",
        action="store_true",
        help="only gather and explain the demo photos into the configured database (for inv bot)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _positive(value: int | None, name: str) -> None:
    if value is not None and value < 1:
        raise SystemExit(f"inv: --{name} must be at least 1")


def run(args: argparse.Namespace, settings: Settings) -> int:
    for name in ("players", "challenges", "photos"):
        _positive(getattr(args, name), name)
    if args.prepare_only:
        return _prepare_only(args, settings)

    from inv.demo.run import DemoOptions, run_demo

    result = run_demo(
        DemoOptions(
            out=args.out,
            seed=args.seed,
            players=args.players,
            challenges=args.challenges,
            images=args.photos,
            model=args.model,
            progress=not args.quiet,
        ),
        settings,
    )
    split = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items())
    print(
        f"\nDone ({split}).\n"
        f"  report: {result.report.resolve()}\n"
        f"  export: {result.export.resolve()}\n"
        f"  demo database and files: {result.data_dir}\n"
        "To serve real Telegram users: put TELEGRAM_BOT_TOKEN (from @BotFather) and your "
        "ADMIN_USER_IDS in .env, then run `make run` (or `inv demo --prepare-only && inv bot`)."
    )
    return 0


def _prepare_only(args: argparse.Namespace, settings: Settings) -> int:
    from engine.precompute import precompute
    from inv.demo.images import gather_demo_images
    from inv.wiring import precompute_options
    from storage import migrate

    migrate.upgrade()
    folder = settings.data_dir / "demo_images"
    images = gather_demo_images(folder, args.photos)
    print(f"{len(images)} demo photos in {folder}")
    options = precompute_options(settings)
    if args.model:
        options["model"] = args.model
    report = precompute(folder, progress=not args.quiet, **options)
    print(report.summary())
    return 0
