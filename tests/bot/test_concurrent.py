"""Many participants at once, driven by the simulator; on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import select

from inv.settings import get_settings
from storage.db import session_scope
from storage.models import Answer, Participant, Play
from testkit.collection import seed_collection
from testkit.fake_telegram import FakeTelegram
from testkit.fake_telegram.client import FakeTelegramClient
from testkit.simulate import Script, SimulatedPlayer, Simulator
from tests.bot.helpers import BotRunner


@pytest.fixture
def crowd_bot(
    fake: FakeTelegram, any_db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BotRunner]:
    monkeypatch.setenv("MIN_ANSWER_SECONDS", "0")
    get_settings.cache_clear()
    with session_scope() as session:
        seed_collection(session, get_settings().data_dir, images=8, layers=2, clusters_per_layer=2)
    # Telegram's 30 messages/s would pace this test to half a minute; test_runtime covers the limits.
    runner = BotRunner(fake, rate_limiter=False).start()
    yield runner
    runner.stop()


def simulate(fake: FakeTelegram, players: list[SimulatedPlayer], rate: float | None = None):
    async def go():
        async with FakeTelegramClient(fake.url) as client:
            return await Simulator(client, players, rate=rate).run(timeout=120)

    return asyncio.run(go())


def test_many_participants_at_once_lose_and_double_nothing(
    crowd_bot: BotRunner, fake: FakeTelegram
) -> None:
    players = [
        SimulatedPlayer(50_000 + i, Script(challenges=2, hints=i % 3, one_message=i % 2 == 0))
        for i in range(30)
    ]
    result = simulate(fake, players)
    assert result.errors == []
    assert result.finished_players == 30
    assert (result.plays, result.done, result.labels) == (60, 60, 120)
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(Participant)).one() == 30
        plays = session.exec(select(Play)).all()
        assert len(plays) == 60 and all(p.stage == "done" for p in plays)
        assert session.exec(select(func.count()).select_from(Answer)).one() == 120
        # Nobody got the same challenge twice.
        pairs = [(p.participant_id, p.cluster_id) for p in plays]
        assert len(set(pairs)) == len(pairs)
        # Each player's labels are stored in the order they were sent (per-user order is kept).
        by_play: dict[int, list[int]] = {}
        for answer in session.exec(select(Answer).order_by(Answer.id)).all():
            by_play.setdefault(answer.play_id, []).append(answer.id)
        for player in players:
            pid = session.exec(
                select(Participant.id).where(Participant.telegram_id == player.user_id)
            ).one()
            hints = sorted(p.hint_level for p in plays if p.participant_id == pid)
            assert hints == [player.script.hints] * 2
    stats = fake.stats()
    assert stats["unanswered"] == 0


def test_paced_load_is_answered(crowd_bot: BotRunner, fake: FakeTelegram) -> None:
    players = [SimulatedPlayer(60_000 + i, Script(challenges=1)) for i in range(10)]
    result = simulate(fake, players, rate=100)
    assert result.errors == [] and result.done == 10
    assert result.updates_per_second <= 110
