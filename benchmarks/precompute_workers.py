"""Throughput of `inv precompute` with 1 and with 2 worker processes sharing one PostgreSQL database.

    .venv/bin/python benchmarks/precompute_workers.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/precompute_workers.py --images 16 --model vgg16 --weights random

Each run gets a fresh database (created on the server, dropped afterwards) and a fresh DATA_DIR;
the images are distinct variants (crops and mirror images) of the sample photographs. Figures:
wall time from the first worker's start to the last worker's end (model loading included), images
per second, the workers' CPU time, the load average before and after. Each worker runs
`inv precompute` as a separate process with the same options, as on several machines.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def write_images(folder: Path, count: int) -> None:
    from PIL import Image

    from benchmarks.precompute import photos

    pictures = [Image.fromarray(p).convert("RGB") for _, p in photos()]
    folder.mkdir(parents=True)
    for i in range(count):
        picture = pictures[i % len(pictures)]
        variant = i // len(pictures)
        if variant % 2:
            picture = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        w, h = picture.size
        inset = (variant // 2) * 8  # a different crop for each further round
        picture.crop((inset, inset, w - inset, h - inset)).save(folder / f"img{i:03d}.png")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(workers: int, args: argparse.Namespace, admin_url: str, images: Path) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"inv_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory(prefix="inv-bench-") as data_dir:
            env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": data_dir, "INV_ENV_FILE": ""}
            env["PYTHONPATH"] = str(REPO)
            subprocess.run([sys.executable, "-m", "inv.cli", "init"], env=env, check=True,
                           cwd=REPO, stdout=subprocess.DEVNULL)  # fmt: skip
            command = [sys.executable, "-m", "inv.cli", "precompute", "--images", str(images),
                       "--model", args.model, "--batch-size", str(args.batch_size), "--device", "cpu",
                       "--no-progress"]  # fmt: skip
            if args.weights:
                command += ["--weights", args.weights]
            before_load, cpu_before = load_text(), children_cpu_seconds()
            start = time.perf_counter()
            processes = [
                subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
                for _ in range(workers)
            ]
            outputs = [p.communicate()[0] for p in processes]
            wall = time.perf_counter() - start
            cpu = children_cpu_seconds() - cpu_before
            if any(p.returncode for p in processes):
                raise SystemExit(f"a worker failed:\n{outputs}")
            explained = [int(o.split(" explained")[0].split()[-1]) for o in outputs]
            print(f"{workers} worker(s): {sum(explained)} images explained {explained}, "
                  f"{wall:.1f} s wall, {sum(explained) / wall:.3f} images/s, {cpu:.1f} s CPU; "
                  f"before: {before_load}; after: {load_text()}")  # fmt: skip
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("INV_TEST_POSTGRES_URL"),
        help="a PostgreSQL server URL whose user may create databases (default: INV_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", default="1,2", help="worker counts to run, in order")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("give --database-url or set INV_TEST_POSTGRES_URL")
    admin_url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    print(f"inv precompute workers: {args.images} images, model {args.model}, batch "
          f"{args.batch_size}, {os.cpu_count()} CPUs, {load_text()}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="inv-bench-images-") as tmp:
        images = Path(tmp) / "images"
        write_images(images, args.images)
        for workers in (int(w) for w in args.workers.split(",")):
            run(workers, args, admin_url, images)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
