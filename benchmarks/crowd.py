"""Crowd-quality benchmark: `inv demo` runs judged through their exports.

    .venv/bin/python benchmarks/crowd.py                       # seeds 1–5 × 3, 9, 15 photos
    .venv/bin/python benchmarks/crowd.py --seeds 1 --photos 3 --players 8 --challenges 6
    .venv/bin/python benchmarks/crowd.py --jobs 8              # runs in parallel processes

Each run is a whole offline demo (explain, play through the bot, rebuild, export) with the
simulator's default crowd: ordinary players plus spammers, copy-paste pairs and careless players.
The export's class × layer top-5 lists are then compared with the simulator's vocabulary: noise
words and typos must never appear there. Exits 1 when any run publishes one.
    .venv/bin/python benchmarks/crowd.py --retirement --photos 9   # fixed-N vs adaptive

Each run is a fresh process with its own settings, database and folder.

`--retirement` plays each seed twice with a crowd large enough to use up every challenge: once
with a fixed PLAYS_PER_CHALLENGE (--cap) and once with adaptive retirement (rebuilds while the
crowd plays, settled clusters retired), and prints plays and top-concept accuracy side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def one_run(
    seed: int,
    photos: int,
    players: int,
    challenges: int,
    out: Path,
    *,
    plays_per_challenge: int | None = None,
    adaptive: bool = True,
    rebuild_every: int = 0,
) -> dict:
    """Run one demo in this process and judge its export."""
    os.environ["INV_ENV_FILE"] = ""  # no developer .env leaks into the run
    from inv.demo.audit import audit_export
    from inv.demo.run import DemoOptions, run_demo
    from inv.settings import Settings

    started = time.perf_counter()
    result = run_demo(
        DemoOptions(
            out=out,
            seed=seed,
            players=players,
            challenges=challenges,
            images=photos,
            progress=False,
            adaptive=adaptive,
            rebuild_every=rebuild_every,
            **({"plays_per_challenge": plays_per_challenge} if plays_per_challenge else {}),
        ),
        Settings(_env_file=None),
    )
    audit = audit_export(result.export)
    crowd = result.summary["crowd"]
    return {
        "seed": seed,
        "photos": photos,
        "plays": getattr(crowd, "plays", 0),
        "labels": getattr(crowd, "labels", 0),
        "noise_labels": getattr(crowd, "noise_labels", 0),
        "tops": audit.tops,
        "names": audit.names,
        "noise": audit.noise,
        "typos": audit.typos,
        "accuracy": round(audit.accuracy, 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _spawn(job: dict, root: Path) -> dict:
    folder = f"p{job['photos']}-s{job['seed']}-{job['mode']}"
    command = [sys.executable, str(Path(__file__).resolve()), "--one", json.dumps(job)]
    command += ["--out", str(root / folder)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode != 0:
        return {**job, "error": done.stderr[-2000:]}
    return {**job, **json.loads(done.stdout.strip().splitlines()[-1])}


def _noise_table(results: list[dict]) -> bool:
    print(
        f"{'photos':>6} {'seed':>4} {'plays':>5} {'labels':>6} {'noise in':>8} {'tops':>4} "
        f"{'names':>5} {'noise':>5} {'typos':>5} {'top-1 acc':>9} {'s':>6}"
    )
    failed = False
    for r in results:
        if "error" in r:
            failed = True
            print(f"{r['photos']:>6} {r['seed']:>4} ERROR {r['error']}")
            continue
        failed |= bool(r["noise"] or r["typos"])
        print(
            f"{r['photos']:>6} {r['seed']:>4} {r['plays']:>5} {r['labels']:>6} "
            f"{r['noise_labels']:>8} {r['tops']:>4} {r['names']:>5} {len(r['noise']):>5} "
            f"{len(r['typos']):>5} {r['accuracy']:>9.3f} {r['seconds']:>6.1f}"
        )
        for name in r["noise"] + r["typos"]:
            print(f"{'':>12}published: {name}")
    ok = [r for r in results if "error" not in r]
    print(
        f"total: {sum(len(r['noise']) for r in ok)} noise and "
        f"{sum(len(r['typos']) for r in ok)} typos among {sum(r['names'] for r in ok)} "
        f"top-5 names of {sum(r['tops'] for r in ok)} class × layer lists; "
        f"{'FAIL' if failed else 'ok'}"
    )
    return failed


def _retirement_table(results: list[dict]) -> bool:
    """Fixed-N and adaptive runs of each (photos, seed) side by side."""
    runs = {(r["photos"], r["seed"], r["mode"]): r for r in results}
    print(
        f"{'photos':>6} {'seed':>4} | {'fixed plays':>11} {'acc':>6} | "
        f"{'adaptive plays':>14} {'acc':>6} | {'plays saved':>11} {'acc diff':>8}"
    )
    saved: list[float] = []
    diffs: list[float] = []
    for photos, seed, mode in sorted(runs):
        if mode != "fixed":
            continue
        fixed, adaptive = runs[(photos, seed, "fixed")], runs.get((photos, seed, "adaptive"))
        if adaptive is None or "error" in fixed or "error" in adaptive:
            print(f"{photos:>6} {seed:>4} | ERROR")
            continue
        cut = 1 - adaptive["plays"] / fixed["plays"] if fixed["plays"] else 0.0
        diff = adaptive["accuracy"] - fixed["accuracy"]
        saved.append(cut)
        diffs.append(diff)
        print(
            f"{photos:>6} {seed:>4} | {fixed['plays']:>11} {fixed['accuracy']:>6.3f} | "
            f"{adaptive['plays']:>14} {adaptive['accuracy']:>6.3f} | {cut:>10.1%} {diff:>+8.3f}"
        )
    if not saved:
        return True
    fixed_plays = sum(r["plays"] for r in results if r["mode"] == "fixed" and "plays" in r)
    adaptive_plays = sum(r["plays"] for r in results if r["mode"] == "adaptive" and "plays" in r)
    fixed_acc = [r["accuracy"] for r in results if r["mode"] == "fixed" and "accuracy" in r]
    adaptive_acc = [r["accuracy"] for r in results if r["mode"] == "adaptive" and "accuracy" in r]
    cut = 1 - adaptive_plays / fixed_plays if fixed_plays else 0.0
    diff = sum(adaptive_acc) / len(adaptive_acc) - sum(fixed_acc) / len(fixed_acc)
    ok = cut >= 0.30 and diff >= -0.02
    print(
        f"total: adaptive used {cut:.1%} fewer plays ({adaptive_plays} vs {fixed_plays}); "
        f"mean top-concept accuracy {diff:+.3f} against fixed-N; {'ok' if ok else 'FAIL'} "
        "(target: at least 30% fewer plays, accuracy within 2 points)"
    )
    return not ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--photos", type=int, nargs="+", default=[3, 9, 15])
    parser.add_argument("--players", type=int, default=30)
    parser.add_argument("--challenges", type=int, default=20)
    parser.add_argument(
        "--retirement",
        action="store_true",
        help="compare fixed-N with adaptive retirement instead (PLAYS_PER_CHALLENGE = --cap)",
    )
    parser.add_argument(
        "--cap",
        type=int,
        default=None,
        help="plays per challenge (default: the demo's; 5 with --retirement)",
    )
    parser.add_argument(
        "--rebuild-every", type=int, default=40, help="plays between rebuilds (retirement)"
    )
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        job = json.loads(args.one)
        out = args.out or Path(tempfile.mkdtemp(prefix="inv-crowd-"))
        options = job.get("options", {})
        run = one_run(job["seed"], job["photos"], job["players"], job["challenges"], out, **options)
        print(json.dumps(run))
        return 0
    root = args.out or Path(tempfile.mkdtemp(prefix="inv-crowd-"))
    base = {"players": args.players, "challenges": args.challenges}
    if args.retirement:
        args.cap = args.cap or 5
        modes = {
            "fixed": {"plays_per_challenge": args.cap, "adaptive": False},
            "adaptive": {
                "plays_per_challenge": args.cap,
                "adaptive": True,
                "rebuild_every": args.rebuild_every,
            },
        }
    else:
        modes = {"default": {"plays_per_challenge": args.cap} if args.cap else {}}
    jobs = [
        {**base, "seed": seed, "photos": photos, "mode": mode, "options": options}
        for photos in args.photos
        for seed in args.seeds
        for mode, options in modes.items()
    ]
    print(
        f"{len(jobs)} demo runs ({args.players} players × {args.challenges} challenges, "
        f"{args.jobs} at a time) in {root}",
        flush=True,
    )
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(lambda job: _spawn(job, root), jobs))
    failed = _retirement_table(results) if args.retirement else _noise_table(results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
