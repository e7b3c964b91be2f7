"""A hostile crowd on the bot's front door: floods of updates, and a 429 aimed at one chat."""

from __future__ import annotations

import time

from sqlalchemy.engine import Engine

from bot import texts
from bot.flood import FloodGate, Verdict
from testkit.collection import Collection
from testkit.fake_telegram import FakeTelegram
from tests.bot.conftest import ADMIN_ID
from tests.bot.helpers import BotRunner, Player

FLOODER = 6100
OTHER = 6200


def test_token_bucket_refills_at_its_rate_and_notifies_once_per_run_of_drops() -> None:
    now = [0.0]
    gate = FloodGate(1.0, 3, clock=lambda: now[0])
    assert [gate.admit(1) for _ in range(3)] == [Verdict.PASS] * 3
    assert [gate.admit(1) for _ in range(3)] == [Verdict.NOTIFY, Verdict.DROP, Verdict.DROP]
    assert gate.admit(2) is Verdict.PASS  # another user has their own bucket
    now[0] = 1.0
    assert gate.admit(1) is Verdict.PASS
    assert gate.admit(1) is Verdict.NOTIFY  # a new run of drops is told again
    assert (gate.dropped, gate.notices, gate.users_dropped) == (4, 2, 1)
    assert FloodGate(0.0, 1).admit(1) is Verdict.PASS  # rate 0: no limit


def _replies(fake: FakeTelegram, chat_id: int, since: int) -> list[str]:
    return [r.text or "" for r in fake.requests("sendMessage", chat_id=chat_id, since=since)]


def test_a_flood_is_dropped_after_one_notice_and_counted_in_stats(
    fake: FakeTelegram, bot_env: Engine, collection: Collection
) -> None:
    runner = BotRunner(fake, flood_rate=0.2, flood_burst=5).start()
    try:
        start = fake.requests()[-1].seq if fake.requests() else 0
        for _ in range(30):
            fake.send(FLOODER, "/help")
        fake.settle(quiet=0.5)
        replies = _replies(fake, FLOODER, start)
        notices = [t for t in replies if t == texts.SLOW_DOWN]
        helps = [t for t in replies if t != texts.SLOW_DOWN]
        assert len(notices) == 1
        assert 5 <= len(helps) <= 6  # the burst, and at most one token refilled meanwhile
        assert replies.index(texts.SLOW_DOWN) == len(helps)  # the notice comes after the burst

        stats = Player(fake, ADMIN_ID).say("/stats")
        dropped = 30 - len(helps)
        assert f"{dropped} updates dropped from 1 user since" in stats.text
    finally:
        runner.stop()


def test_a_flood_of_button_presses_is_answered_once_with_slow_down(
    fake: FakeTelegram, bot_env: Engine, collection: Collection
) -> None:
    runner = BotRunner(fake, flood_rate=0.2, flood_burst=2).start()
    try:
        player = Player(fake, FLOODER)
        player.join()  # two updates: the burst is spent
        presses = [player.press("x:nonsense", forge=True) for _ in range(4)]
        fake.settle(quiet=0.5)
        answers = [fake.callback_answer(p.query_id or "") for p in presses]
        told = [a for a in answers if a and a.get("text") == texts.SLOW_DOWN_SHORT]
        assert len(told) == 1
        assert not any(a and a.get("text") == texts.CB_INVALID for a in answers)
    finally:
        runner.stop()


def test_a_429_for_one_chat_never_stalls_another_players_reply(
    fake: FakeTelegram, bot_env: Engine, collection: Collection
) -> None:
    runner = BotRunner(fake, rate_limiter=True).start()
    try:
        fake.fail("429", method="sendMessage", chat_id=FLOODER, retry_after=4)
        sent = fake.send(FLOODER, "/help")
        fake.wait_for("sendMessage", chat_id=FLOODER, after=sent, timeout=5)  # the 429
        other = Player(fake, OTHER)
        asked_at = time.time()
        reply = other.say("/help")
        assert reply.ok and reply.at - asked_at < 1.0
        # The flooder's own reply waited out its retry_after.
        delivered = fake.wait_for(
            "sendMessage", chat_id=FLOODER, after=sent, predicate=lambda r: r.ok, timeout=10
        )
        refused = fake.requests("sendMessage", chat_id=FLOODER, since=sent.seq)[0]
        assert refused.status == 429 and delivered.at - refused.at >= 3.9
    finally:
        runner.stop()


def test_the_simulator_counts_slow_down_notices_apart_from_losses(
    fake: FakeTelegram, bot_env: Engine, collection: Collection
) -> None:
    import asyncio

    from testkit.fake_telegram.client import FakeTelegramClient
    from testkit.simulate import Script, SimulatedPlayer, Simulator

    runner = BotRunner(fake, flood_rate=2.0, flood_burst=3).start()
    players = [SimulatedPlayer(6300 + i, Script(challenges=1, hints=2)) for i in range(3)]

    async def go():
        async with FakeTelegramClient(fake.url) as client:
            simulator = Simulator(
                client, players, slow_down_texts=(texts.SLOW_DOWN, texts.SLOW_DOWN_SHORT)
            )
            simulator.throttle_wait = 0.5
            return await simulator.run(timeout=60)

    try:
        result = asyncio.run(go())
        gate = runner.app.bot_data["flood"]
    finally:
        runner.stop()
    assert result.errors == [] and result.done == 3
    assert result.throttled > 0 and result.throttled == gate.notices


def test_a_flood_of_labels_stores_only_what_got_through(
    fake: FakeTelegram, bot_env: Engine, collection: Collection
) -> None:
    from sqlalchemy import func
    from sqlmodel import select

    from storage.db import session_scope
    from storage.models import Answer

    runner = BotRunner(fake, flood_rate=0.2, flood_burst=8).start()
    try:
        player = Player(fake, FLOODER)
        player.join()
        player.play()
        player.guess()  # five updates so far: three tokens left
        start = fake.requests()[-1].seq
        for i in range(30):
            fake.send(FLOODER, f"label {i}")
        fake.settle(quiet=0.5)
        replies = _replies(fake, FLOODER, start)
        # The words message is sent once, then edited for each message that got through.
        edits = [r.text for r in fake.requests("editMessageText", chat_id=FLOODER, since=start)]
        noted = [t for t in replies if t != texts.SLOW_DOWN] + edits
        assert replies.count(texts.SLOW_DOWN) == 1
        assert 3 <= len(noted) <= 4  # was 30 replies, one per message
        with session_scope() as session:
            stored = session.exec(select(func.count()).select_from(Answer)).one()
        assert stored == len(noted)
    finally:
        runner.stop()
