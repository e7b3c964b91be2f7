"""Fixtures of the bot tests: the fake Bot API server, a seeded collection, a running bot.

Every test that uses `fake` ends by asserting that the bot sent nothing the Bot API
specification forbids and called no method the fake server does not serve.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy.engine import Engine

from inv.settings import get_settings
from storage.db import session_scope
from testkit.fake_telegram import FakeTelegram
from tests.bot.helpers import BotRunner, Player
from tests.bot.seed import Collection, seed_collection

ADMIN_ID = 900


def _install_stand_in_renderer() -> None:
    """Only when engine.render is missing: a tiny renderer with the same interface, for fixtures."""
    try:
        if importlib.util.find_spec("engine.render") is not None:
            return
    except ModuleNotFoundError:
        pass
    module = types.ModuleType("engine.render")
    module.HINT_LEVELS = (2, 4.5, 8, 13, 20, 30)

    def load_map(path: str | Path) -> np.ndarray:
        return np.load(Path(path)).astype(np.float32)

    def render_challenge(crop: PILImage.Image, cluster_map: np.ndarray, hint_level: int) -> bytes:
        image = crop.convert("RGB")
        q = np.percentile(cluster_map, 100 - module.HINT_LEVELS[hint_level])
        mask = PILImage.fromarray(((cluster_map >= q) * 255).astype(np.uint8)).resize(image.size)
        out = io.BytesIO()
        PILImage.composite(image, PILImage.new("RGB", image.size), mask).save(out, "JPEG")
        return out.getvalue()

    module.load_map = load_map
    module.render_challenge = render_challenge
    sys.modules["engine.render"] = module


_install_stand_in_renderer()


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
