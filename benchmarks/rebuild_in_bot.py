"""What the rebuild's TCAV stage costs inside the bot process, where the scheduled rebuild runs.

    .venv/bin/python benchmarks/rebuild_in_bot.py                # 4 classes, 4,000 answers
    .venv/bin/python benchmarks/rebuild_in_bot.py --classes 8 --answers 8000

The collection and crowd are the rebuild benchmark's (`benchmarks/rebuild_collection.py`: real
EfficientNet-B0 layers, seeded random weights in a local file, MIN_CONCEPT_EXAMPLES 3), written
by a separate process so that this one starts as a bot does, without torch. Then, in this
process: the real Application (`inv.wiring.bot_application`, long polling) against the fake Bot
API (`python -m testkit.fake_telegram`, its own process), with its scheduled jobs. The scheduled
rebuild job (APScheduler, "rebuild") is brought forward to now; while it runs, and for a while
before and after, players send /help at a steady rate.

Figures: the rebuild's and its TCAV stage's times; this process's resident memory (sampled every
0.1 s) when idle, at the TCAV stage's start and end, its peak, right after the rebuild and 10 s
later; and the bot's latency to the players' updates (from the fake server's hand-out of an
update to the bot's reply, plus the time it waited there for getUpdates), split by phase: idle,
rebuild outside the TCAV stage, inside the TCAV stage, after the rebuild.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bot_load_figures import percentiles  # noqa: E402 - after the path is set

TOKEN = "123456789:BENCH-fake-token-0000000000000000000"
FIRST_PLAYER = 3_000_000
PLAYERS = 20


def _environment(data_dir: Path) -> None:
    os.environ.update(
        INV_ENV_FILE="",
        DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'inv.db'}",
        PSEUDONYM_SECRET="bench-pseudonym-key-4c1f9e27a8d3b605",
        TELEGRAM_BOT_TOKEN=TOKEN,
        LOG_LEVEL="WARNING",
        MIN_CONCEPT_EXAMPLES="3",
        REBUILD_INTERVAL="3600",  # brought forward by hand; never on its own during the run
    )


class RssSeries:
    """This process's resident memory every 0.1 s, with wall-clock times."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.samples: list[tuple[float, float]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.is_set():
            self.samples.append((time.time(), self._process.memory_info().rss / 2**20))
            self._done.wait(0.1)

    def now(self) -> float:
        return float(self._process.memory_info().rss) / 2**20

    def peak(self, start: float, end: float) -> float:
        return max((m for t, m in self.samples if start <= t <= end), default=0.0)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


class Players:
    """PLAYERS players sending /help in turn at `rate` updates per second, on their own thread."""

    def __init__(self, url: str, rate: float) -> None:
        self.url = url
        self.rate = rate
        self.sent = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        from testkit.fake_telegram.client import FakeTelegramClient

        async with FakeTelegramClient(self.url) as fake:
            await fake.actions(
                [{"op": "user", "user_id": FIRST_PLAYER + i} for i in range(PLAYERS)]
            )
            while not self._done.is_set():
                user = FIRST_PLAYER + self.sent % PLAYERS
                await fake.actions([{"op": "text", "user_id": user, "text": "/help"}])
                self.sent += 1
                await asyncio.sleep(1.0 / self.rate)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=30)


def _percentiles(values: list[float]) -> str:
    if not values:
        return "n=0"
    q = percentiles(values)
    return f"n={q['n']}: p50 {q['p50']:.0f} ms, p95 {q['p95']:.0f} ms, max {q['max']:.0f} ms"


def _generate(args: argparse.Namespace) -> None:
    """In a separate process: the collection, the crowd and the weights file."""
    from benchmarks.rebuild_collection import generate
    from inv.settings import get_settings
    from storage.db import use_database

    use_database(get_settings().sqlalchemy_url)
    state = generate(Path(os.environ["DATA_DIR"]), args.answers, args.phrases, args.classes)
    Path(args.generate).write_text(json.dumps({"weights": state["weights"]}))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--answers", type=int, default=4000)
    parser.add_argument("--phrases", type=int, default=600)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--rate", type=float, default=2.0, help="players' updates per second")
    parser.add_argument("--idle", type=float, default=15.0, help="seconds measured before")
    parser.add_argument(
        "--keep-model", action="store_true",
        help="keep the model and the pass's memory after the stage (as before the stage freed them)",
    )  # fmt: skip
    parser.add_argument("--generate", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        _generate(args)
        return 0

    data_dir = Path(tempfile.mkdtemp(prefix="inv-bench-bot-")) / "data"
    data_dir.mkdir(parents=True)
    _environment(data_dir)
    load_before = os.getloadavg()
    state_file = data_dir.parent / "state.json"
    subprocess.run(
        [sys.executable, __file__, "--generate", str(state_file), "--answers", str(args.answers),
         "--phrases", str(args.phrases), "--classes", str(args.classes)],
        check=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    os.environ["WEIGHTS"] = json.loads(state_file.read_text())["weights"]

    from benchmarks.memory import record_tcav_stages
    from bot.app import BotThread
    from inv.settings import get_settings
    from inv.wiring import bot_application, rebuild_function
    from storage.db import use_database

    settings = get_settings()
    use_database(settings.sqlalchemy_url)
    print(f"torch loaded before the rebuild: {'torch' in sys.modules}")
    if args.keep_model:
        import engine.concept_tests

        engine.concept_tests.release_memory = lambda: None
    stages = record_tcav_stages()
    rebuilds: list[tuple[float, float, Any]] = []
    inner = rebuild_function(settings)

    def timed_rebuild(**kwargs: Any) -> Any:
        started = time.time()
        report = inner(**kwargs)
        rebuilds.append((started, time.time(), report))
        return report

    fake = subprocess.Popen(
        [sys.executable, "-m", "testkit.fake_telegram", "--token", TOKEN],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert fake.stdout is not None
    url = json.loads(fake.stdout.readline())["url"]
    rss = RssSeries()
    rss.start()
    players = Players(url, args.rate)
    bot = None
    try:
        app = bot_application(
            settings, token=TOKEN, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot",
            rebuild=timed_rebuild, flood_rate=0.0,
        )  # fmt: skip
        bot = BotThread(app, poll_timeout=10).start()
        players.start()
        time.sleep(args.idle)
        idle_rss = rss.now()
        triggered = time.time()

        async def bring_forward() -> None:
            (job,) = app.job_queue.get_jobs_by_name("rebuild")
            job.job.modify(next_run_time=datetime.now(UTC))

        bot.call(bring_forward())
        while not rebuilds:
            time.sleep(0.2)
        started, ended, report = rebuilds[0]
        after_rss = rss.now()
        time.sleep(10.0)
        later_rss = rss.now()
        players.stop()
        time.sleep(2.0)
        rows = asyncio.run(_latencies(url, triggered - args.idle))
    finally:
        players.stop()
        if bot is not None:
            bot.stop()
        rss.stop()
        fake.terminate()
        fake.wait(timeout=30)
    load_after = os.getloadavg()

    stage = stages[0]
    phases = {
        "idle, before the rebuild": (0.0, triggered),
        "rebuild, outside the TCAV stage": (triggered, stage.started_at),
        "TCAV stage": (stage.started_at, stage.ended_at),
        "after the TCAV stage (switch, then 12 s idle)": (stage.ended_at, float("inf")),
    }
    print(f"rebuild: {report.summary()}")
    print(f"  stages: {', '.join(f'{k} {v:.1f}' for k, v in report.timings.items())}")
    tcav = report.timings.get("tcav", 0.0)
    images = stage.result.images
    print(
        f"TCAV stage: {tcav:.1f} s = {tcav / (ended - started):.1%} of the rebuild; "
        f"{images} images passed" + (f", {tcav / images:.3f} s per image" if images else "")
        + f"; {stage.result.pooled} maps pooled; {report.concept_tests} concepts marked"
        + (f" (skipped: {report.concept_tests_skipped})" if report.concept_tests_skipped else "")
    )  # fmt: skip
    print(
        f"bot process resident memory: idle {idle_rss:,.0f} MiB; TCAV stage start "
        f"{stage.rss_before_mib:,.0f} MiB, end {stage.rss_after_mib:,.0f} MiB, peak inside it "
        f"{rss.peak(stage.started_at, stage.ended_at):,.0f} MiB; peak of the whole rebuild "
        f"{rss.peak(started, ended):,.0f} MiB; right after the rebuild {after_rss:,.0f} MiB, "
        f"10 s later {later_rss:,.0f} MiB"
    )
    print(f"latency, hand-out to reply (+ time waiting for getUpdates), {args.rate:g} updates/s:")
    for name, (start, end) in phases.items():
        inside = [(lat, queued) for t, lat, queued in rows if start <= t < end]
        print(
            f"  {name}: {_percentiles([lat for lat, _ in inside])}; "
            f"waiting {_percentiles([q for _, q in inside])}"
        )
    print(f"updates sent: {players.sent}")
    print(
        "load average before / after (1, 5, 15 min): "
        f"{' '.join(f'{x:.2f}' for x in load_before)} / {' '.join(f'{x:.2f}' for x in load_after)}"
    )
    return 0


async def _latencies(url: str, since: float) -> list[tuple[float, float, float]]:
    from testkit.fake_telegram.client import FakeTelegramClient

    async with FakeTelegramClient(url) as fake:
        return await fake.latencies(since)


if __name__ == "__main__":
    raise SystemExit(main())
