"""Fixtures of the bot tests: the fake Bot API server, a seeded collection, a running bot.

Every test that uses `fake` ends by asserting that the bot sent nothing the Bot API
specification forbids and called no method the fake server does not serve.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from inv.settings import get_settings
from storage.db import session_scope
from testkit.collection import Collection, seed_collection
from testkit.fake_telegram import FakeTelegram
from tests.bot.helpers import BotRunner, Player

ADMIN_ID = 900


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_server: FakeTelegram) -> Iterator[FakeTelegram]:
    """The fake Bot API, empty; at the end, no request may have broken the specification."""
    fake_server.reset()
    yield fake_server
    violations = fake_server.violations
    unsupported = fake_server.unsupported
    fake_server.clear_faults()
    assert violations == [], f"requests broke the Bot API specification: {violations}"
    assert unsupported == [], (
        f"the bot called methods the fake server does not serve: {unsupported}"
    )


@pytest.fixture
def bot_env(
    db_engine: Engine, fake_server: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> Engine:
    """Settings for the game tests: the fake server, one researcher, no minimum answer time."""
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", fake_server.token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake_server.base_url)
    monkeypatch.setenv("ADMIN_USER_IDS", str(ADMIN_ID))
    monkeypatch.setenv("MIN_ANSWER_SECONDS", "0")
    # Scripted players press faster than people; the flood limit has its own tests (test_flood).
    monkeypatch.setenv("FLOOD_RATE", "0")
    get_settings.cache_clear()
    return db_engine


@pytest.fixture
def collection(bot_env: Engine) -> Collection:
    with session_scope() as session:
        return seed_collection(session, get_settings().data_dir)


@pytest.fixture
def bot(fake: FakeTelegram, bot_env: Engine, collection: Collection) -> Iterator[BotRunner]:
    # Telegram's pacing (one message per 3 s in a group) is tested on its own in test_runtime;
    # here it would only slow the tests down.
    runner = BotRunner(fake, rate_limiter=False).start()
    yield runner
    runner.stop()


@pytest.fixture
def player(fake: FakeTelegram) -> Player:
    return Player(fake, 4242)
