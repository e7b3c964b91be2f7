"""Load benchmark of the Telegram bot: 1,000 simulated participants through the fake Bot API.

    .venv/bin/python benchmarks/bot_load.py                       # SQLite, rate limiter off
    .venv/bin/python benchmarks/bot_load.py --database-url postgresql://...   # or INV_TEST_POSTGRES_URL
    .venv/bin/python benchmarks/bot_load.py --rate-limiter --group-check      # Telegram's limits

Three processes: the fake Bot API server (`python -m testkit.fake_telegram`), the simulator
(`python -m testkit.simulate`: 1,000 players, each plays whole challenges: /play, one Show more, Guess,
an option, two labels as two messages, Done; they join with /start + consent first) and the bot
(this process: the real Application from `bot.app.build_application`, long polling).

Phases:
  0. warm-up: every challenge photo of hint levels 0 and 1 is rendered and uploaded once, as a
     running bot does over time (its file_id is then reused); reported, not part of the figures.
  1. steady load: the simulator offers --rate updates/s for --steady seconds. Latency = from the
     moment getUpdates hands an update out to the moment the bot's first request answering it
     arrives (answerCallbackQuery for a button, else the first message to that chat), measured by
     the fake server; the first two seconds are left out.
  2. saturation ceiling: every player acts as soon as its previous step is answered, until
     --backlog updates (5,000) went through; updates/s = backlog / (last reply - first send).
Then the database is checked against what the simulator sent and saw answered: plays, answers
and finished challenges, exactly (nothing lost, nothing doubled), and no challenge twice.
With --rate-limiter: the outbound message rate (requests with a chat_id) per 1 s window and, with
--group-check, 30 leaderboard posts to one group (Telegram allows 20/minute per group).

The pieces: benchmarks/bot_load_setup.py (database, seeding, fake server, warm-up),
benchmarks/bot_load_runs.py (the phases and each bot's run), benchmarks/bot_load_figures.py
(the figures, their report and the targets).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="offered updates/s in the steady phase (default: --steady-fraction of the ceiling)",
    )
    parser.add_argument(
        "--steady-fraction",
        type=float,
        default=0.6,
        help="the steady phase offers this share of inv's ceiling measured just before",
    )
    parser.add_argument("--steady", type=float, default=20.0, help="seconds of steady load")
    parser.add_argument(
        "--no-references", action="store_true", help="skip the reference bots R1 and R2"
    )
    parser.add_argument(
        "--no-record", action="store_true", help="write no JSON record to benchmarks/results/"
    )
    parser.add_argument("--backlog", type=int, default=5000, help="updates in the saturation phase")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="updates of different users at once (4 suits loopback; inv bot uses 16 for a remote API)",
    )
    parser.add_argument(
        "--db-workers",
        type=int,
        default=None,
        help="database threads (default: 1 SQLite, 4 PostgreSQL)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=0.02,
        help="pause between getUpdates calls, so that updates arrive in batches (s)",
    )
    parser.add_argument(
        "--rate-limiter", action="store_true", help="Telegram's limits on (default off)"
    )
    parser.add_argument(
        "--flood-rate",
        type=float,
        default=0.0,
        help="per-user updates/s of the bot's flood limit (default 0: off; the simulated players "
        "act as fast as replies come, which a person does not)",
    )
    parser.add_argument(
        "--flood-burst", type=int, default=8, help="burst of the flood limit (with --flood-rate)"
    )
    parser.add_argument(
        "--group-check", action="store_true", help="with --rate-limiter: 30 posts to a group"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("INV_TEST_POSTGRES_URL"),
        help="PostgreSQL server URL (a fresh database is created in it); default SQLite",
    )
    parser.add_argument(
        "--images", type=int, default=80, help="images seeded (x2 layers x2 clusters)"
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="write a cProfile of the bot's event loop"
    )
    parser.add_argument(
        "--db-timing",
        action="store_true",
        help="time each game function in the database thread (wall, CPU, queueing)",
    )
    parser.add_argument(
        "--timeline", action="store_true", help="print latency per second of the steady phase"
    )
    return parser.parse_args()


def main() -> int:
    from benchmarks.bot_load_figures import report_targets
    from benchmarks.bot_load_runs import run_inv, run_reference
    from benchmarks.bot_load_setup import drop_database, prepare_environment, seed
    from benchmarks.record import Record, load_average

    args = parse_args()
    record = Record("bot_load")
    tmp = Path(tempfile.mkdtemp(prefix="inv-bot-load-"))
    admin_url, db_name = prepare_environment(args, tmp)
    from inv.settings import get_settings
    from storage import migrate
    from storage.db import get_engine, use_database

    # What `inv` does after loading settings: their database is the one used without an engine.
    use_database(get_settings().sqlalchemy_url)
    print(f"load average before: {load_average()}")
    try:
        migrate.upgrade(get_engine())
        started = time.monotonic()
        clusters = seed(args.images)
        print(
            f"database: {'PostgreSQL' if admin_url else 'SQLite'}; {clusters} challenges seeded "
            f"in {time.monotonic() - started:.1f} s; {args.backlog} updates for each ceiling"
        )
        references = {}
        if not args.no_references:
            for write in (False, True):
                figures = run_reference(args, tmp, write=write)
                references["R2" if write else "R1"] = figures
                record.reference("R2" if write else "R1", figures)
        figures, ok = run_inv(args)
        record.figures(figures)
        lost = not ok or any(r["lost"] for r in references.values())
        print(f"\nload average after: {load_average()}")
        if "R2" in references:
            report_targets(record, figures, references, lost)
        if not args.no_record:
            print(f"record: {record.write().relative_to(ROOT)}")
        return 1 if lost else 0
    finally:
        if admin_url and db_name:
            drop_database(admin_url, db_name)


if __name__ == "__main__":
    raise SystemExit(main())
