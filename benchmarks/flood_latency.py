"""Another player's reply latency while one account floods the bot or is paused by a 429.

    .venv/bin/python benchmarks/flood_latency.py

One process: the fake Bot API server and the real Application (SQLite, Telegram's outgoing
pacing on). A well-behaved player B sends /score (a database read and a reply) once a second;
the latency is from B's message to the bot's reply arriving at the server. Phases:

  1. reference: B alone;
  2. flood: account A sends --flood messages as fast as it can, with the flood limit off and
     then at its defaults (FLOOD_RATE=1, FLOOD_BURST=8);
  3. 429: the server answers A's next message with `429 retry_after=--retry-after`; B's
     latency with PTB's AIORateLimiter (which pauses every chat) and with PerChatRateLimiter.

Figures are ratios to the reference measured in the same run (the machine may be busy).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

FLOODER = 777
PLAYER = 888


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10, help="/score requests per phase")
    parser.add_argument("--flood", type=int, default=300, help="messages the flooder sends")
    parser.add_argument("--retry-after", type=int, default=8, help="seconds of the injected 429")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="inv-flood-"))
    os.environ.update(
        INV_ENV_FILE="",
        DATA_DIR=str(tmp),
        DATABASE_URL=f"sqlite:///{tmp / 'inv.db'}",
        PSEUDONYM_SECRET="flood-latency-benchmark-secret-0123456789",
        LOG_LEVEL="WARNING",
        FLOOD_RATE="1",
        FLOOD_BURST="8",
    )
    from telegram.ext import AIORateLimiter

    import bot.app
    from bot.app import BotThread
    from inv.settings import get_settings
    from inv.wiring import bot_application
    from storage import migrate
    from storage.db import get_engine, use_database
    from testkit.fake_telegram import FakeTelegram

    settings = get_settings()
    use_database(settings.sqlalchemy_url)
    migrate.upgrade(get_engine())

    joined: list[int] = []

    def one_score(fake: FakeTelegram) -> float:
        started = time.time()
        sent = fake.send(PLAYER, "/score")
        reply = fake.wait_for("sendMessage", chat_id=PLAYER, after=sent, timeout=60)
        return reply.at - started

    def measure(fake: FakeTelegram, samples: int) -> list[float]:
        values = []
        for _ in range(samples):
            # B behaves like a person: at most one message a second, within the flood limit.
            started = time.monotonic()
            values.append(one_score(fake))
            time.sleep(max(0.0, 1.1 - (time.monotonic() - started)))
        return values

    def run_bot(fake: FakeTelegram, phase: Callable[[FakeTelegram], list[float]], **options):
        app = bot_application(
            settings,
            token=fake.token,
            base_url=fake.base_url,
            base_file_url=fake.base_file_url,
            jobs=False,
            **options,
        )
        with BotThread(app, poll_timeout=1.0):
            if not joined:
                sent = fake.send(PLAYER, "/start")
                fake.wait_for("sendMessage", chat_id=PLAYER, after=sent, timeout=30)
                pressed = fake.press(PLAYER, "c:1")
                fake.wait_for("editMessageText", chat_id=PLAYER, after=pressed, timeout=30)
                joined.append(PLAYER)
            return phase(fake)

    def flood_phase(fake: FakeTelegram) -> list[float]:
        def flood() -> None:
            for i in range(args.flood):
                fake.send(FLOODER, f"label number {i}, again and again")

        flooder = threading.Thread(target=flood)
        flooder.start()
        try:
            return measure(fake, args.samples)
        finally:
            flooder.join()

    def retry_after_phase(fake: FakeTelegram) -> list[float]:
        fake.fail("429", method="sendMessage", chat_id=FLOODER, retry_after=args.retry_after)
        sent = fake.send(FLOODER, "/help")
        fake.wait_for("sendMessage", chat_id=FLOODER, after=sent, timeout=30)  # the 429 itself
        return measure(fake, args.samples)

    def report(name: str, values: list[float], reference: float) -> None:
        p50 = statistics.median(values)
        print(
            f"{name:<58} p50 {1000 * p50:7.1f} ms  max {1000 * max(values):7.1f} ms  "
            f"(p50 = {p50 / reference:5.1f}x reference)"
        )

    per_chat = bot.app.telegram_limiter

    def aio_limiter(retries: int) -> AIORateLimiter:
        return AIORateLimiter(
            overall_max_rate=1,
            overall_time_period=1 / 30,
            group_max_rate=1,
            group_time_period=3,
            max_retries=retries,
        )

    with FakeTelegram() as fake:
        reference_values = run_bot(fake, lambda f: measure(f, args.samples))
        reference = statistics.median(reference_values)
        report("reference (player alone)", reference_values, reference)
        fake.reset()
        report(
            f"flood of {args.flood} messages, flood limit off",
            run_bot(fake, flood_phase, flood_rate=0),
            reference,
        )
        fake.reset()
        values = run_bot(fake, flood_phase)
        report(f"flood of {args.flood} messages, limit 1/s burst 8", values, reference)
        fake.reset()
        bot.app.telegram_limiter = aio_limiter  # type: ignore[assignment]
        try:
            values = run_bot(fake, retry_after_phase)
        finally:
            bot.app.telegram_limiter = per_chat  # type: ignore[assignment]
        report(
            f"429 retry_after={args.retry_after} for the flooder, AIORateLimiter", values, reference
        )
        fake.reset()
        values = run_bot(fake, retry_after_phase)
        report(
            f"429 retry_after={args.retry_after} for the flooder, PerChatRateLimiter",
            values,
            reference,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
