"""One bot under load: the phases the simulator plays against it, and the run of each bot.

Each bot (inv's own, or a reference R1/R2 from benchmarks/bot_reference.py) gets a fresh fake
Bot API server; the simulator, a separate process, plays the phases and reports each one as a
line of JSON, and the CPU this process and the two others used is read between the phases.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import json
import pstats
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.bot_load_figures import (
    database_check,
    database_counts,
    inv_load_figures,
    outbound_rates,
    proc_cpu,
    reference_figures,
    report_group,
    report_outbound,
)
from benchmarks.bot_load_setup import (
    ADMIN_ID,
    FIRST_ID,
    GROUP_ID,
    ROOT,
    TOKEN,
    WARM_CHAT,
    control,
    server_get,
    start_fake_server,
    warm_photos,
)


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
        written = writer.count() if writer is not None else None
        return reference_figures(name, results, cpu, written)
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
        db_timer = None
        if args.db_timing:
            from benchmarks.db_timing import TimedDbRunner

            services = app.bot_data["services"]
            services.db = db_timer = TimedDbRunner(services.db)
        bot_thread = BotThread(app, poll_timeout=10, poll_interval=args.poll_interval).start()
        started = time.monotonic()
        warmed = bot_thread.call(warm_photos(app), timeout=900)
        print(
            f"inv warm-up: {warmed} photos rendered and uploaded once in {time.monotonic() - started:.1f} s"
        )
        if db_timer is not None:
            db_timer.reset()  # the join, ceiling and steady phases, not the warm-up
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
        steady = results[2]
        rows = (asyncio.run(server_get(url, "latencies", since=steady["started_at"] + 2.0)))[
            "latencies"
        ]
        figures = inv_load_figures(args, results, cpu, child, rows)
        if db_timer is not None:
            figures["db_thread"] = db_timer.report()
        counts = database_counts(FIRST_ID, args.players)
        ok = database_check(args, results, counts, app.bot_data["flood"])
        figures["database_ok"] = ok

        if args.rate_limiter:
            body = asyncio.run(server_get(url, "events", since=0, limit=10**7))
            rates = outbound_rates(
                body["events"], steady["started_at"], steady["started_at"] + args.steady
            )
            figures["outbound"] = rates
            report_outbound(rates)
            if args.group_check:
                group = bot_thread.call(group_check(url, bot_thread), timeout=300)
                figures["group"] = group
                report_group(group)
        return figures, ok
    finally:
        if bot_thread is not None:
            bot_thread.stop()
        fake_proc.terminate()
        fake_proc.wait()
