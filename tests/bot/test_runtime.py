"""Ordering, retries, Telegram's rate limits, the token in logs, and `inv bot` as a process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from telegram import Chat, Message, Update, User
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot import assignment, consent, play_flow, refusals
from bot.runtime import SWITCH_INTERVAL_S, PerUserUpdateProcessor, ResilientRateLimiter
from inv.settings import get_settings
from storage.db import session_scope
from storage.models import ClusterStatus, Play
from testkit.collection import Collection
from testkit.fake_telegram import FakeTelegram
from tests.bot.helpers import BotRunner, Player

# ---- per-user order ----------------------------------------------------------------------------


def _update(update_id: int, user_id: int) -> Update:
    user = User(user_id, "u", False)
    message = Message(
        update_id, datetime.now(UTC), Chat(user_id, "private"), from_user=user, text="x"
    )
    return Update(update_id, message=message)


def test_updates_of_one_user_keep_their_order_across_users_they_run_at_once() -> None:
    async def run() -> tuple[dict[int, list[int]], int]:
        processor = PerUserUpdateProcessor(8)
        done: dict[int, list[int]] = {}
        running = 0
        most = 0
        rng = random.Random(1)

        async def handle(update: Update) -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            await asyncio.sleep(rng.random() / 200)
            done.setdefault(update.effective_user.id, []).append(update.update_id)
            running -= 1

        updates = [_update(i, 100 + i % 5) for i in range(60)]
        # As the Application does: one task per update, created in arrival order.
        await asyncio.gather(
            *(asyncio.create_task(processor.process_update(u, handle(u))) for u in updates)
        )
        return done, most

    done, most = asyncio.run(run())
    for user, ids in done.items():
        assert ids == sorted(ids), user
    assert sum(len(v) for v in done.values()) == 60
    assert most > 1  # different users did overlap


# ---- retries -----------------------------------------------------------------------------------


def test_transient_failures_are_retried_and_bad_requests_are_not() -> None:
    async def run() -> None:
        limiter = ResilientRateLimiter(None, retries=3, backoff=0.001)
        calls = {"n": 0}

        async def flaky() -> bool:
            calls["n"] += 1
            if calls["n"] < 3:
                raise (TimedOut() if calls["n"] == 1 else NetworkError("Bad Gateway"))
            return True

        assert await limiter.process_request(flaky, (), {}, "sendMessage", {}, None) is True
        assert calls["n"] == 3

        async def bad() -> bool:
            calls["n"] += 1
            raise BadRequest("Message is too long")

        calls["n"] = 0
        with pytest.raises(BadRequest):
            await limiter.process_request(bad, (), {}, "sendMessage", {}, None)
        assert calls["n"] == 1

        async def limited() -> bool:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RetryAfter(1)
            return True

        calls["n"] = 0
        started = time.monotonic()
        assert await limiter.process_request(limited, (), {}, "sendMessage", {}, None) is True
        assert time.monotonic() - started >= 0.9

        async def down() -> bool:
            raise NetworkError("Internal Server Error (500)")

        with pytest.raises(NetworkError):
            await limiter.process_request(down, (), {}, "sendMessage", {}, None)

    asyncio.run(run())


# ---- Telegram's limits ---------------------------------------------------------------------------


def _most_in_window(times: list[float], window: float) -> int:
    most = 0
    for i, t in enumerate(times):
        most = max(most, sum(1 for u in times[i:] if u - t < window))
    return most


@pytest.mark.slow
def test_the_rate_limiter_keeps_telegrams_limits(
    fake: FakeTelegram, bot_env: Engine, collection: Collection
) -> None:
    runner = BotRunner(fake, rate_limiter=True).start()
    try:
        first = fake.requests()[-1].seq if fake.requests() else 0
        for i in range(45):
            fake.send(7000 + i, "/help")
        fake.wait_until(
            lambda s: sum(1 for r in s.requests[first:] if r.method == "sendMessage") >= 45, 10
        )
        times = sorted(r.at for r in fake.requests("sendMessage", since=first))
        # At most 30 messages in any second, however they were asked for.
        assert _most_in_window(times, 1.0) <= 30
        assert times[-1] - times[0] >= 44 / 30 - 0.05

        fake.add_group(-555, "Busy group", members=list(range(8000, 8003)))
        since = fake.requests()[-1].seq
        for uid in range(8000, 8003):
            fake.send(uid, "/leaderboard", chat_id=-555)
        fake.wait_until(lambda s: sum(1 for r in s.requests[since:] if r.chat_id == -555) >= 3, 15)
        posts = sorted(r.at for r in fake.requests("sendMessage", chat_id=-555, since=since))
        # 20 per minute in a group: one every 3 s.
        assert posts[1] - posts[0] >= 2.9 and posts[2] - posts[1] >= 2.9
    finally:
        runner.stop()


# ---- assignment over the database ----------------------------------------------------------------


def test_play_counter_matches_the_exact_query(bot_env: Engine, collection: Collection) -> None:
    settings = get_settings().bot_config()
    rng = random.Random(4)
    for uid in range(1, 8):
        consent.record_consent(uid, True, key=settings.pseudonym_key)
        for _ in range(3):
            started = play_flow.start_challenge(uid, settings, rng=rng)
            if uid % 2:
                play_flow.cancel(uid)  # a skip: does not count toward retirement
            else:
                play_flow.open_guess(uid, started.challenge.play_id)
    counter = assignment.PlayCounter(ttl=0)
    with session_scope() as session:
        pid = session.exec(select(Play.participant_id)).first()
        exact = sorted(assignment.load_candidates(session, pid, 5), key=lambda c: c.cluster_id)
        cached = sorted(
            counter.candidates(session, pid, 5, time.monotonic()), key=lambda c: c.cluster_id
        )
        assert exact == cached
        played = {
            p.cluster_id for p in session.exec(select(Play).where(Play.participant_id == pid)).all()
        }
        assert not played & {c.cluster_id for c in exact}
        total, recent = assignment.play_counts(session, pid, datetime(2000, 1, 1, tzinfo=UTC))
        assert total == recent == len(played)


def test_retirement_after_plays_per_challenge(
    bot_env: Engine, collection: Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYS_PER_CHALLENGE", "2")
    monkeypatch.setenv("GOLD_RATE", "0")
    get_settings.cache_clear()
    settings = get_settings().bot_config()
    served: dict[int, int] = {}
    for uid in range(1, 30):
        consent.record_consent(uid, True, key=settings.pseudonym_key)
        try:
            started = play_flow.start_challenge(uid, settings, rng=random.Random(uid))
        except refusals.GameError as exc:
            assert exc.code == "no_challenges"
            continue
        play_flow.open_guess(uid, started.challenge.play_id)
        served[started.challenge.cluster_id] = served.get(started.challenge.cluster_id, 0) + 1
    regular = [c for c in collection.cluster_ids if c not in collection.gold_ids]
    # Every regular cluster got exactly 2 plays; then gold ones (nothing else left) were served.
    assert all(served.get(c) == 2 for c in regular)
    assert max(served.values()) == 2


@pytest.mark.parametrize("adaptive", [True, False])
def test_adaptive_retirement_skips_settled_clusters_and_serves_unsettled_first(
    bot_env: Engine, collection: Collection, monkeypatch: pytest.MonkeyPatch, adaptive: bool
) -> None:
    monkeypatch.setenv("PLAYS_PER_CHALLENGE", "3")
    monkeypatch.setenv("GOLD_RATE", "0")
    monkeypatch.setenv("ADAPTIVE_RETIREMENT", str(adaptive).lower())
    get_settings.cache_clear()
    settings = get_settings().bot_config()
    regular = [c for c in collection.cluster_ids if c not in collection.gold_ids]
    settled, unsettled = regular[0], regular[-1]
    with session_scope() as session:
        session.add(ClusterStatus(cluster_id=settled, generation=1, settled=True, labellers=2))
        session.add(ClusterStatus(cluster_id=unsettled, generation=1, settled=False, labellers=2))
    first_served: list[int] = []
    served: dict[int, int] = {}
    for uid in range(1, 40):
        consent.record_consent(uid, True, key=settings.pseudonym_key)
        try:
            started = play_flow.start_challenge(uid, settings, rng=random.Random(uid))
        except refusals.GameError as exc:
            assert exc.code == "no_challenges"
            continue
        play_flow.open_guess(uid, started.challenge.play_id)
        first_served.append(started.challenge.cluster_id)
        served[started.challenge.cluster_id] = served.get(started.challenge.cluster_id, 0) + 1
    if adaptive:
        # The rebuild found it settled: retired before PLAYS_PER_CHALLENGE.
        assert settled not in served
        # The one it found unsettled comes first, until it retires at PLAYS_PER_CHALLENGE.
        assert first_served[:3] == [unsettled] * 3
    else:
        assert served[settled] == 3
    assert max(served.values()) == 3


# ---- logs and the command line --------------------------------------------------------------------


def test_the_token_never_reaches_a_log(
    fake: FakeTelegram, bot_env: Engine, collection: Collection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    runner = BotRunner(fake).start()
    try:
        player = Player(fake, 4343)
        player.join()
        fake.fail("5xx", method="sendPhoto", times=2)
        fake.fail("timeout", method="answerCallbackQuery", delay=2.5)
        player.play()
        pressed = player.press(prefix="h:")
        player.wait("editMessageMedia", after=pressed, timeout=10)
        fake.fail(
            "400", method="sendMessage", chat_id=4343, description="Bad Request: chat not found"
        )
        player.send("/help")
        fake.settle()
    finally:
        runner.stop()
    assert len(caplog.records) > 20
    secret = fake.token.split(":", 1)[1]
    for record in caplog.records:
        text = record.getMessage() + (
            logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        )
        assert secret not in text, record.name


def test_the_bot_shortens_the_switch_interval_while_it_runs_and_restores_it(
    fake: FakeTelegram, bot_env: Engine
) -> None:
    before = sys.getswitchinterval()
    assert before != SWITCH_INTERVAL_S
    runner = BotRunner(fake).start()
    try:
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S
        assert SWITCH_INTERVAL_S == 0.0005
    finally:
        runner.stop()
    assert sys.getswitchinterval() == before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _inv() -> str:
    return shutil.which("inv", path=str(Path(sys.executable).parent)) or "inv"


def _bot_env(fake: FakeTelegram, **extra: str) -> dict[str, str]:
    settings = get_settings()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env.update(
        INV_ENV_FILE="",
        DATA_DIR=str(settings.data_dir),
        DATABASE_URL=settings.sqlalchemy_url,
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        LOG_LEVEL="DEBUG",
        PSEUDONYM_SECRET="test-pseudonym-secret-9f4c2a7e1b3d5f60",
        **extra,
    )
    return env


def test_inv_bot_needs_a_token(bot_env: Engine, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env.update(INV_ENV_FILE="", DATA_DIR=str(tmp_path))
    result = subprocess.run([_inv(), "bot"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "TELEGRAM_BOT_TOKEN" in result.stderr


@pytest.mark.slow
def test_inv_bot_polls_and_shuts_down_gracefully(
    fake: FakeTelegram, bot_env: Engine, collection: Collection
) -> None:
    proc = subprocess.Popen(
        [_inv(), "bot"],
        env=_bot_env(fake),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # deleteWebhook is the last call before polling starts (a long poll is recorded when answered).
        fake.wait_for("deleteWebhook", timeout=30)
        player = Player(fake, 4444, timeout=15)
        player.join()
        sent = [player.send("/play")]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    output = proc.stdout.read() if proc.stdout else ""
    assert fake.token.split(":", 1)[1] not in output
    assert fake.commands(), "setMyCommands was called"
    # The /play sent just before SIGTERM was either answered or is still queued for next time.
    answered = fake.requests("sendPhoto", chat_id=4444)
    with session_scope() as session:
        plays = session.exec(select(Play)).all()
    assert len(plays) == len(answered) <= 1
    if not answered:
        assert fake.call(lambda s: any(u["update_id"] == sent[0].update_id for u in s._queue))


@pytest.mark.slow
def test_inv_bot_on_a_webhook(fake: FakeTelegram, bot_env: Engine, collection: Collection) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    proc = subprocess.Popen(
        [
            _inv(),
            "bot",
            "--webhook-url",
            url,
            "--listen",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=_bot_env(fake, WEBHOOK_SECRET="s3cret-token"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        hook = fake.wait_for("setWebhook", timeout=30)
        assert hook.params["url"] == url and hook.params["secret_token"] == "s3cret-token"
        reply = Player(fake, 4545, timeout=15).say("/start")
        assert "Do you agree" in reply.text
        forged = httpx.post(
            url,
            json={"update_id": 1, "message": {}},
            headers={"X-Telegram-Bot-Api-Secret-Token": "x"},
        )
        assert forged.status_code == 403
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert fake.requests("getUpdates") == []
    assert json.dumps(fake.call(lambda s: s.webhook_deliveries)).count('"status": 200') >= 1
