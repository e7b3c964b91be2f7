"""`inv layers`: a model's hookable layers with their output shapes for a sample input, marking
the post-activation ones (the outputs the method assumes) and the defaults."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inv.settings import Settings


HELP = "list a model's hookable layers with their output shapes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", help="model name or module:callable (default: the MODEL setting)"
    )
    parser.add_argument(
        "--weights",
        help="weights file, 'random', or a torchvision weights name (default: WEIGHTS, else "
        "the model's own)",
    )
    parser.add_argument(
        "--classes", help="file of class names, one per line (default: the model's own names)"
    )
    parser.add_argument(
        "--input-size", type=int, help="side of the sample input (default: the model's crop)"
    )
    parser.add_argument(
        "--all", action="store_true", help="list every module, not only hookable ones"
    )


def format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from engine.classifiers import ModelLoadError, load_model
    from engine.layers import generic_default_layers, inspect_layers, named_default_layers

    try:
        loaded = load_model(
            args.model or settings.model, args.weights or settings.weights, args.classes
        )
    except ModelLoadError as exc:
        print(f"inv layers: {exc}", file=sys.stderr)
        return 2
    size = args.input_size or loaded.preprocess.crop_size
    infos = inspect_layers(loaded.module, input_size=size)
    defaults = set(
        loaded.default_layers
        or named_default_layers(loaded.module)
        or generic_default_layers(infos)
    )
    rows = [("layer", "type", "output shape", "post-activation", "default")]
    for info in infos:
        four_d = (
            info.shape is not None and len(info.shape) == 4 and info.shape[2] * info.shape[3] > 1
        )
        if not args.all and not four_d:
            continue
        shape = "x".join(str(d) for d in info.shape[1:]) if info.shape else "-"
        if info.calls > 1:
            shape += f" (runs {info.calls}x: not hookable)"
        rows.append(
            (
                info.name,
                info.kind,
                shape,
                "yes" if info.post_activation else "",
                "*" if info.name in defaults else "",
            )
        )
    print(f"{loaded.name} ({len(loaded.classes)} classes), sample input 3x{size}x{size}")
    print(format_table(rows))
    print(f"\n* default layers: {','.join(n for n in (i.name for i in infos) if n in defaults)}")
    linear = [i.name for i in infos if i.name in defaults and not i.post_activation]
    if linear:
        # The method's positive-activation gate and min-max of raw maps assume activated maps.
        print(f"warning: not post-activation (maps may be negative): {','.join(linear)}")
    return 0
