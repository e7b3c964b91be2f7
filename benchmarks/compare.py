"""Print two benchmark records side by side, with each figure's ratio (second / first).

    python benchmarks/compare.py benchmarks/results/A.json benchmarks/results/B.json
    python benchmarks/compare.py --markdown benchmarks/results/A.json   # the README's table

Figures taken on different machines or loads differ by the machines' speed; the reference rows
and the ratios to them are what should agree. Both are listed, with each run's machine and load.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as 'a.b.c' keys; lists and other values kept as leaves."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(flatten(inner, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def rows(first: dict[str, Any], second: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(name, first, second, second/first) for the records' facts, references, figures, ratios."""
    out: list[tuple[str, str, str, str]] = []
    for section in ("machine", "commit", "load_average", "references", "figures", "ratios"):
        a = flatten(first.get(section, {}), f"{section}.")
        b = flatten(second.get(section, {}), f"{section}.")
        for key in list(dict.fromkeys([*a, *b])):
            x, y = a.get(key), b.get(key)
            numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (x, y))
            ratio = f"{y / x:.2f}x" if numeric and x else ""
            out.append((key, _show(x), _show(y), ratio))
    return out


def markdown(record: dict[str, Any]) -> str:
    """One record as the README's table: when, where, load, the references, figures, ratios."""
    machine = record.get("machine", {})
    load = record.get("load_average", {})
    lines = [
        f"`{record.get('command', '')}`, {record.get('started', '?')}, commit "
        f"{record.get('commit', {}).get('sha', '')[:10]}; {machine.get('cpu', '?')}, "
        f"{machine.get('cores', '?')} cores, {machine.get('memory_gib', '?')} GiB; load average "
        f"{load.get('before', [])} before, {load.get('after', [])} after",
        "",
        "| figure | value | target |",
        "|---|---|---|",
    ]
    targets = record.get("targets", {})
    for section in ("references", "figures", "ratios"):
        for key, value in flatten(record.get(section, {}), f"{section}.").items():
            name = key.split(".", 1)[1]
            target = targets.get(name, {}) if section == "ratios" else {}
            verdict = (
                f"{target['target']} ({'met' if target['met'] else 'not met'})" if target else ""
            )
            lines.append(f"| {key} | {_show(value)} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path, nargs="?")
    parser.add_argument(
        "--markdown", action="store_true", help="print the first record as a Markdown table"
    )
    args = parser.parse_args(argv)
    if args.markdown or args.second is None:
        print(markdown(json.loads(args.first.read_text())))
        return 0
    first, second = (json.loads(p.read_text()) for p in (args.first, args.second))
    if first.get("benchmark") != second.get("benchmark"):
        print(f"note: different benchmarks ({first.get('benchmark')} / {second.get('benchmark')})")
    table = [("", first.get("started", "?"), second.get("started", "?"), "second/first")]
    table += rows(first, second)
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for row in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
