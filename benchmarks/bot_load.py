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
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "123456789:BENCH-fake-token-0000000000000000000"
FIRST_ID = 2_000_000
ADMIN_ID = 1_999_999
WARM_CHAT = 1_999_998
GROUP_ID = -1_000_000_000_001


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
        "--timeline", action="store_true", help="print latency per second of the steady phase"
    )
    return parser.parse_args()


# ---- setup -----------------------------------------------------------------------------------


def prepare_environment(args: argparse.Namespace, tmp: Path) -> tuple[str | None, str | None]:
    """Point settings at a fresh database; returns (admin URL, database name) for PostgreSQL."""
    os.environ.update(
        INV_ENV_FILE="",
        DATA_DIR=str(tmp / "data"),
        PSEUDONYM_SECRET="bench-pseudonym-key-4c1f9e27a8d3b605",
        ADMIN_USER_IDS=str(ADMIN_ID),
        TELEGRAM_BOT_TOKEN=TOKEN,
        PLAYS_PER_CHALLENGE="5",
        DAILY_CAP="1000",
        LOG_LEVEL="WARNING",
    )
    if not args.database_url:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'data' / 'inv.db'}"
        return None, None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"inv_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    os.environ["DATABASE_URL"] = (
        make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    )
    return admin_url, name


def drop_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    from storage.db import dispose_engines

    dispose_engines()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def seed(images: int) -> int:
    """A collection like precompute writes: crops, 16-bit map files, clusters (gold included)."""
    from inv.settings import get_settings
    from storage.db import session_scope
    from testkit.collection import seed_collection

    with session_scope() as session:
        collection = seed_collection(
            session,
            get_settings().data_dir,
            images=images,
            layers=2,
            clusters_per_layer=2,
            classes=[f"class {i}" for i in range(1000)],
            size=224,
            layer_sides=(28, 14),
            model_name="benchnet",
        )
    return len(collection.cluster_ids)


def start_fake_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "testkit.fake_telegram", "--token", TOKEN],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info["url"]


async def control(url: str, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from testkit.fake_telegram.client import FakeTelegramClient

    async with FakeTelegramClient(url) as fake:
        return await fake.actions(actions)


async def server_get(url: str, what: str, **params: Any) -> Any:
    from testkit.fake_telegram.client import FakeTelegramClient

    async with FakeTelegramClient(url) as fake:
        return await fake._get(f"/_fake/{what}", **params)


async def warm_photos(app: Any) -> int:
    """Render and upload every challenge photo of hint levels 0 and 1 once (file_ids stored)."""
    from sqlmodel import select

    from bot import photo_file_ids, photos
    from inv.settings import get_settings
    from storage.db import session_scope
    from storage.models import Cluster, Image

    data_dir = get_settings().data_dir
    with session_scope(readonly=True) as session:
        rows = session.exec(select(Cluster.id, Image.crop_file, Cluster.map_file).join(Image)).all()
    semaphore = asyncio.Semaphore(4)

    async def one(cluster_id: int, crop: str, map_file: str, level: int) -> None:
        async with semaphore:
            data = await photos.render(data_dir, crop, map_file, level)
            message = await app.bot.send_photo(WARM_CHAT, data)
            await asyncio.to_thread(
                photo_file_ids.remember_photo, cluster_id, level, photos.uploaded_file_id(message)
            )

    await asyncio.gather(*(one(c, crop, m, level) for c, crop, m in rows for level in (0, 1)))
    return 2 * len(rows)


# ---- measuring -------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "n": len(ordered),
        "p50": pick(0.50),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": ordered[-1] * 1000,
        "mean": statistics.fmean(ordered) * 1000,
    }


def outbound_rates(events: list[dict[str, Any]], start: float, end: float) -> dict[str, float]:
    """Messages (requests with a chat_id) per second: mean, and the most in any 1 s window."""
    times = sorted(
        e["at"]
        for e in events
        if e.get("chat_id") is not None and start <= e["at"] <= end and e["method"] != "getUpdates"
    )
    most = 0
    j = 0
    for i, t in enumerate(times):
        while times[j] < t - 1.0:
            j += 1
        most = max(most, i - j + 1)
    return {
        "messages": len(times),
        "mean_per_s": len(times) / max(end - start, 1e-9),
        "max_in_1s": most,
    }


def database_counts(first_id: int, players: int) -> dict[str, int]:
    from sqlalchemy import func
    from sqlmodel import select

    from storage.db import session_scope
    from storage.models import Answer, Participant, Play

    ids = (Participant.telegram_id >= first_id) & (Participant.telegram_id < first_id + players)
    with session_scope(readonly=True) as session:
        plays = session.exec(
            select(func.count()).select_from(Play).join(Participant).where(ids)
        ).one()
        done = session.exec(
            select(func.count())
            .select_from(Play)
            .join(Participant)
            .where(ids, Play.stage == "done")
        ).one()
        answers = session.exec(
            select(func.count()).select_from(Answer).join(Play).join(Participant).where(ids)
        ).one()
        distinct = session.exec(
            select(func.count()).select_from(
                select(Play.participant_id, Play.cluster_id)
                .join(Participant)
                .where(ids)
                .distinct()
                .subquery()
            )
        ).one()
        consented = session.exec(
            select(func.count())
            .select_from(Participant)
            .where(ids, Participant.consent_at.is_not(None))
        ).one()
    return {
        "plays": plays,
        "done": done,
        "answers": answers,
        "distinct_pairs": distinct,
        "participants": consented,
    }


async def group_check(url: str, bot_thread: Any) -> dict[str, Any]:
    """30 leaderboard posts to one subscribed group through /announce; their timing."""
    await control(
        url,
        [
            {"op": "group", "chat_id": GROUP_ID, "title": "Bench", "admins": [ADMIN_ID]},
            {"op": "text", "user_id": ADMIN_ID, "text": "/subscribe", "chat_id": GROUP_ID},
        ],
    )
    await asyncio.sleep(1.0)
    since = (await server_get(url, "stats"))["requests"]
    await control(
        url, [{"op": "text", "user_id": ADMIN_ID, "text": "/announce"} for _ in range(30)]
    )
    posts: list[float] = []
    deadline = time.monotonic() + 120
    while len(posts) < 30 and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        body = await server_get(url, "events", since=since, limit=100000)
        posts = [
            e["at"]
            for e in body["events"]
            if e.get("chat_id") == GROUP_ID and e["method"] == "sendMessage"
        ]
    gaps = [b - a for a, b in itertools.pairwise(posts)]
    in_first_minute = sum(1 for t in posts if t - posts[0] < 60) if posts else 0
    return {
        "posts": len(posts),
        "burst": sum(1 for g in gaps[:19] if g < 0.5) + 1 if posts else 0,
        "mean_gap_after_burst_s": statistics.fmean(gaps[20:]) if len(gaps) > 20 else None,
        "posts_in_first_60s": in_first_minute,
    }


# ---- one bot under load ------------------------------------------------------------------------


def phase_plan(args: argparse.Namespace, *, steady: bool) -> list[dict[str, Any]]:
    """join (every player /start + consent), the saturation ceiling and, for inv, steady load."""
    plan: list[dict[str, Any]] = [
        {"name": "join", "rate": None, "max_updates": 2 * args.players, "timeout": 900},
        {"name": "ceiling", "rate": None, "max_updates": args.backlog, "timeout": 900},
    ]
    if steady:
        step: dict[str, Any] = {"name": "steady", "duration": args.steady}
        if args.rate:
            step["rate"] = args.rate
        else:
            step["rate_fraction"] = args.steady_fraction
        plan.append({**step, "timeout": args.steady + 120})
    return plan


def simulate(
    url: str,
    args: argparse.Namespace,
    first_id: int,
    plan: list[dict[str, Any]],
    fake_proc: subprocess.Popen[str],
) -> tuple[list[dict[str, Any]], list[float], list[tuple[float, float]]]:
    """Run the simulator; its per-phase results with this process's and the children's CPU."""
    from bot import texts

    command = [
        sys.executable,
        "-m",
        "testkit.simulate",
        "--url",
        url,
        "--players",
        str(args.players),
        "--first-id",
        str(first_id),
        "--hints",
        "1",
        # The bot's "slow down" replies: the simulator sends the dropped step again later.
        "--slow-down-text",
        texts.SLOW_DOWN,
        "--slow-down-text",
        texts.SLOW_DOWN_SHORT,
        "--phases",
        json.dumps(plan),
    ]

    def own_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    simulator = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert simulator.stdout is not None
    results: list[dict[str, Any]] = []
    cpu_marks = [own_cpu()]
    child_marks = [(proc_cpu(fake_proc.pid), proc_cpu(simulator.pid))]
    requests = [asyncio.run(server_get(url, "stats"))["requests"]]
    for line in simulator.stdout:
        result = json.loads(line)
        cpu_marks.append(own_cpu())
        child_marks.append((proc_cpu(fake_proc.pid), proc_cpu(simulator.pid)))
        # Every request the fake server saw in the phase (the bot's, getUpdates included, and
        # the simulator's control calls), per update: a bot that sends more pays more.
        requests.append(asyncio.run(server_get(url, "stats"))["requests"])
        result["requests_per_update"] = (requests[-1] - requests[-2]) / max(result["sent"], 1)
        results.append(result)
    if simulator.wait() != 0 or len(results) != len(plan):
        raise RuntimeError("the simulator failed")
    return results, cpu_marks, child_marks


def run_reference(args: argparse.Namespace, tmp: Path, *, write: bool) -> dict[str, Any]:
    """R1 (write=False) or R2 through a fresh fake server: its ceiling and CPU per update."""
    import numpy as np
    from PIL import Image as PILImage

    from benchmarks.bot_reference import RowWriter, build_reference, upload_photo
    from bot.app import BotThread

    name = "R2" if write else "R1"
    fake_proc, url = start_fake_server()
    writer = RowWriter(tmp / "data" / "inv.db") if write else None
    bot_thread = None
    try:
        asyncio.run(control(url, [{"op": "user", "user_id": WARM_CHAT}]))
        app = build_reference(
            token=TOKEN,
            base_url=f"{url}/bot",
            base_file_url=f"{url}/file/bot",
            concurrency=args.concurrency,
            writer=writer,
        )
        bot_thread = BotThread(app, poll_timeout=10, poll_interval=args.poll_interval).start()
        buffer = io.BytesIO()
        pixels = np.random.default_rng(0).integers(0, 255, (224, 224, 3), dtype=np.uint8)
        PILImage.fromarray(pixels, "RGB").save(buffer, "PNG")
        bot_thread.call(upload_photo(app, WARM_CHAT, buffer.getvalue()))
        plan = phase_plan(args, steady=False)
        results, cpu, _children = simulate(url, args, FIRST_ID, plan, fake_proc)
        _join, ceiling = results
        sent = sum(r["sent"] for r in results)
        errors = [e for r in results for e in r["errors"]]
        written = writer.count() if writer is not None else None
        figures = {
            "ceiling_updates_per_s": ceiling["sent"] / ceiling["seconds"],
            "cpu_ms_per_update": 1000 * (cpu[2] - cpu[1]) / max(ceiling["sent"], 1),
            "requests_per_update": ceiling["requests_per_update"],
            # CPU seconds per wall second the bot got in its ceiling phase: on a shared machine
            # a ceiling is only comparable with another one measured at a similar share.
            "cpu_share": (cpu[2] - cpu[1]) / max(ceiling["seconds"], 1e-9),
            "updates": sent,
            "rows_written": written,
            "lost": bool(errors) or (written is not None and written != sent),
        }
        print(
            f"{name}: ceiling {figures['ceiling_updates_per_s']:.0f} updates/s, "
            f"{figures['cpu_ms_per_update']:.2f} ms CPU per update, "
            f"{figures['requests_per_update']:.2f} server requests per update, "
            f"{figures['cpu_share']:.2f} CPU s per s"
            + (f", {written} rows for {sent} updates" if written is not None else "")
            + (f"; errors: {errors[:3]}" if errors else "")
        )
        return figures
    finally:
        if bot_thread is not None:
            bot_thread.stop()
        if writer is not None:
            writer.close()
        fake_proc.terminate()
        fake_proc.wait()


def run_inv(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    """inv's bot: warm-up, join, ceiling, steady at a share of that ceiling; the database check."""
    from bot.app import BotThread
    from inv.settings import get_settings
    from inv.wiring import bot_application

    settings = get_settings()
    fake_proc, url = start_fake_server()
    bot_thread = None
    profiler = cProfile.Profile() if args.profile else None
    try:
        asyncio.run(
            control(
                url, [{"op": "user", "user_id": WARM_CHAT}, {"op": "user", "user_id": ADMIN_ID}]
            )
        )
        # The flood limit is set here, never taken from the environment: the simulated players
        # act as soon as a reply comes, which the limit (meant for people) would refuse.
        app = bot_application(
            settings,
            token=TOKEN,
            base_url=f"{url}/bot",
            base_file_url=f"{url}/file/bot",
            concurrency=args.concurrency,
            db_workers=args.db_workers,
            rate_limiter=args.rate_limiter,
            flood_rate=args.flood_rate,
            flood_burst=args.flood_burst,
        )
        bot_thread = BotThread(app, poll_timeout=10, poll_interval=args.poll_interval).start()
        started = time.monotonic()
        warmed = bot_thread.call(warm_photos(app), timeout=900)
        print(
            f"inv warm-up: {warmed} photos rendered and uploaded once in {time.monotonic() - started:.1f} s"
        )
        if profiler is not None:

            async def enable() -> None:
                profiler.enable()

            bot_thread.call(enable())
        plan = phase_plan(args, steady=True)
        results, cpu, child = simulate(url, args, FIRST_ID, plan, fake_proc)
        if profiler is not None:

            async def disable() -> None:
                profiler.disable()

            bot_thread.call(disable())
            pstats.Stats(profiler).dump_stats(str(args.profile))
        join, ceiling, steady = results

        rows = (asyncio.run(server_get(url, "latencies", since=steady["started_at"] + 2.0)))[
            "latencies"
        ]
        in_window = [lat for t, lat, _q in rows if t <= steady["started_at"] + args.steady]
        queued = [q for t, _lat, q in rows if t <= steady["started_at"] + args.steady]
        lat = percentiles(in_window)
        offered = steady["sent"] / steady["sending_seconds"] if steady["sending_seconds"] else 0.0
        throughput = ceiling["sent"] / ceiling["seconds"] if ceiling["seconds"] else 0.0
        cpu_ceiling = 1000 * (cpu[2] - cpu[1]) / max(ceiling["sent"], 1)
        cpu_steady = 1000 * (cpu[3] - cpu[2]) / max(steady["sent"], 1)
        print(
            f"inv: ceiling {ceiling['sent']} updates in {ceiling['seconds']:.2f} s = "
            f"{throughput:.0f} updates/s, {cpu_ceiling:.2f} ms CPU per update, "
            f"{ceiling['requests_per_update']:.2f} server requests per update, "
            f"{(cpu[2] - cpu[1]) / max(ceiling['seconds'], 1e-9):.2f} CPU s per s"
        )
        print(
            f"  steady load: {steady['sent']} updates offered in {steady['sending_seconds']:.1f} s "
            f"({offered:.0f} updates/s = {offered / max(throughput, 1e-9):.2f} of the ceiling), "
            f"{args.players} players, rate limiter {'on' if args.rate_limiter else 'off'}"
        )
        print(
            f"  latency getUpdates hand-out -> first reply request (n={lat['n']}): "
            f"p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms"
        )
        q = percentiles(queued)
        print(
            f"  (time queued at the server before hand-out: p50 {q['p50']:.1f} ms, p99 {q['p99']:.1f} ms)"
        )
        print(f"  bot process CPU in the steady phase: {cpu_steady:.2f} ms per update")
        for name, result, (fa, sa), (fb, sb) in (
            ("ceiling", ceiling, child[1], child[2]),
            ("steady", steady, child[2], child[3]),
        ):
            n = max(result["sent"], 1)
            print(
                f"  fake server / simulator CPU in the {name} phase: {1000 * (fb - fa) / n:.2f} / "
                f"{1000 * (sb - sa) / n:.2f} ms per update"
            )
        if args.timeline:
            for second in range(int(args.steady)):
                t0 = steady["started_at"] + second
                window = [lat for t, lat, _q in rows if t0 <= t < t0 + 1]
                if window:
                    w = percentiles(window)
                    print(
                        f"    t={second:3d}s n={w['n']:4d} p50 {w['p50']:6.1f} max {w['max']:6.1f} ms"
                    )

        counts = database_counts(FIRST_ID, args.players)
        expected = {
            "plays": steady["plays"],
            "done": steady["done"],
            "answers": steady["labels"],
            "distinct_pairs": steady["plays"],
            "participants": args.players,
        }
        errors = [e for r in results for e in r["errors"]]
        ok = counts == expected and not errors
        gate = app.bot_data["flood"]
        throttled = sum(r["throttled"] for r in results)
        print(
            f"  flood limit {'off' if not gate.enabled else f'{gate.rate:g}/s burst {gate.burst}'}: "
            f"{gate.dropped} updates dropped; {throttled} steps told to slow down and sent again "
            "(refusals, not losses)"
        )
        print(f"  database: {counts}")
        print(f"  expected: {expected}")
        print(
            f"  check: {'OK, nothing lost or doubled' if ok else 'MISMATCH'}"
            + (f"; errors: {errors[:5]}" if errors else "")
        )
        figures: dict[str, Any] = {
            "ceiling_updates_per_s": throughput,
            "cpu_ms_per_update": cpu_ceiling,
            "requests_per_update": ceiling["requests_per_update"],
            "cpu_share": (cpu[2] - cpu[1]) / max(ceiling["seconds"], 1e-9),
            "steady_offered_per_s": offered,
            "steady_fraction_of_ceiling": offered / max(throughput, 1e-9),
            "steady_latency_ms": lat,
            "steady_cpu_ms_per_update": cpu_steady,
            "join_updates_per_s": join["sent"] / join["seconds"] if join["seconds"] else 0.0,
            "database_ok": ok,
        }

        if args.rate_limiter:
            body = asyncio.run(server_get(url, "events", since=0, limit=10**7))
            rates = outbound_rates(
                body["events"], steady["started_at"], steady["started_at"] + args.steady
            )
            figures["outbound"] = rates
            print(
                f"\noutbound with the rate limiter (steady phase): {rates['messages']} messages, "
                f"{rates['mean_per_s']:.1f}/s on average, at most {rates['max_in_1s']} in any 1 s window"
            )
            if args.group_check:
                group = bot_thread.call(group_check(url, bot_thread), timeout=300)
                figures["group"] = group
                print(
                    f"group: {group['posts']} posts; first {group['burst']} at once, then one every "
                    f"{group['mean_gap_after_burst_s']:.2f} s; {group['posts_in_first_60s']} within the first 60 s"
                )
        return figures, ok
    finally:
        if bot_thread is not None:
            bot_thread.stop()
        fake_proc.terminate()
        fake_proc.wait()


# ---- main ------------------------------------------------------------------------------------

# Targets, as ratios to R2 measured in the same run (and an absolute latency at a load that is
# itself a share of inv's own ceiling, so it means the same on any machine).
CEILING_AT_LEAST = 0.75
CPU_AT_MOST = 1.4
P99_AT_MOST_MS = 250.0


def main() -> int:
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
            r2 = references["R2"]
            ceiling = figures["ceiling_updates_per_s"] / r2["ceiling_updates_per_s"]
            cpu = figures["cpu_ms_per_update"] / r2["cpu_ms_per_update"]
            p99 = figures["steady_latency_ms"]["p99"]
            record.ratio(
                "ceiling_vs_R2", ceiling, f">= {CEILING_AT_LEAST}", ceiling >= CEILING_AT_LEAST
            )
            record.ratio("cpu_per_update_vs_R2", cpu, f"<= {CPU_AT_MOST}", cpu <= CPU_AT_MOST)
            record.ratio("steady_p99_ms", p99, f"<= {P99_AT_MOST_MS:g} ms", p99 <= P99_AT_MOST_MS)
            print("targets (inv / R2, same run):")
            print(
                f"  ceiling {ceiling:.2f}x R2 (target >= {CEILING_AT_LEAST}); "
                f"CPU per update {cpu:.2f}x R2 (target <= {CPU_AT_MOST}); "
                f"p99 {p99:.0f} ms at {figures['steady_fraction_of_ceiling']:.2f} of the ceiling "
                f"(target <= {P99_AT_MOST_MS:g} ms); {'nothing lost' if not lost else 'LOST OR DOUBLED'}"
            )
            print(
                f"  R1 {references['R1']['ceiling_updates_per_s']:.0f}/s "
                f"{references['R1']['cpu_ms_per_update']:.2f} ms; R2 {r2['ceiling_updates_per_s']:.0f}/s "
                f"{r2['cpu_ms_per_update']:.2f} ms; inv {figures['ceiling_updates_per_s']:.0f}/s "
                f"{figures['cpu_ms_per_update']:.2f} ms"
            )
        if not args.no_record:
            print(f"record: {record.write().relative_to(ROOT)}")
        return 1 if lost else 0
    finally:
        if admin_url and db_name:
            drop_database(admin_url, db_name)


if __name__ == "__main__":
    raise SystemExit(main())
