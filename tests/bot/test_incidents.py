"""Errors reveal nothing: no statement parameters, no raw Telegram ids, alerts with an incident id."""

from __future__ import annotations

import logging
import re
import traceback

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from inv.settings import get_settings
from storage.db import make_engine
from testkit.fake_telegram import FakeTelegram
from tests.bot.conftest import ADMIN_ID
from tests.bot.helpers import BotRunner, Player

RAW_ID = 123456789


@pytest.mark.parametrize("pool", [None, 1])
def test_database_errors_never_quote_their_parameters(
    any_db_engine: Engine, pool: int | None
) -> None:
    url = get_settings().sqlalchemy_url
    engine = make_engine(url, pool=pool)
    insert = text(
        "INSERT INTO participant (telegram_id, pseudonym, active, trust, gold_seen, "
        "gold_correct, points, streak, best_streak, created_at, last_seen_at) VALUES "
        "(:tid, :pseudonym, true, 0.5, 0, 0, 0, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    try:
        with engine.begin() as conn:
            conn.execute(insert, {"tid": RAW_ID, "pseudonym": "acdd4158b73a4cd8"})
        with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
            conn.execute(insert, {"tid": RAW_ID, "pseudonym": "acdd4158b73a4cd8"})
    finally:
        engine.dispose()
    message = str(caught.value)
    assert "parameters hidden" in message
    # What a traceback prints of the exception and of the driver's exception (its cause).
    chain = [caught.value, caught.value.__cause__, caught.value.__context__]
    printed = "".join(
        line for exc in chain if exc is not None for line in traceback.format_exception_only(exc)
    )
    assert str(RAW_ID) not in printed and "acdd4158b73a4cd8" not in printed


def test_an_alert_names_the_error_class_and_an_incident_id_found_in_the_log(
    bot: BotRunner, fake: FakeTelegram, player: Player, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake.fail(
        "400",
        method="sendMessage",
        chat_id=player.user_id,
        description=f"Bad Request: chat {player.user_id} said 'my secret words'",
    )
    player.send("/help")
    alert = fake.wait_for("sendMessage", chat_id=ADMIN_ID, timeout=5)
    assert "BadRequest" in alert.text
    assert str(player.user_id) not in alert.text and "secret words" not in alert.text
    incident = re.search(r"incident ([0-9a-f]{8})", alert.text)
    assert incident is not None
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(incident.group(1) in r.getMessage() for r in logged)


def test_a_blocked_users_id_is_never_logged_at_info_or_above(
    bot: BotRunner, fake: FakeTelegram, player: Player, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    player.join()
    fake.block(player.user_id)
    sent = player.send("/play")
    assert player.wait("sendPhoto", after=sent).status == 403
    fake.settle()
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert any("refused to deliver" in r.getMessage() for r in records)
    for record in records:
        formatted = logging.Formatter().format(record)
        assert str(player.user_id) not in formatted, formatted
