"""Telegram failing: 429, 5xx, timeouts and Forbidden, injected by the fake server."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot import texts
from bot.app import Timeouts
from storage.db import session_scope
from storage.models import Answer, GroupChat, Participant, Play
from testkit.collection import Collection
from testkit.fake_telegram import FakeTelegram
from tests.bot.conftest import ADMIN_ID
from tests.bot.helpers import BotRunner, Player


@pytest.fixture
def quick_bot(fake: FakeTelegram, bot_env, collection) -> Iterator[BotRunner]:
    """A bot that gives up on a request after 0.5 s (then retries it)."""
    runner = BotRunner(
        fake, timeouts=Timeouts(connect=1, read=0.5, write=1, pool=1, get_updates_read=3)
    ).start()
    yield runner
    runner.stop()


def answers() -> list[str]:
    with session_scope() as session:
        return [a.label for a in session.exec(select(Answer)).all()]


def participant(user_id: int) -> Participant:
    with session_scope() as session:
        return session.exec(select(Participant).where(Participant.telegram_id == user_id)).one()


@pytest.mark.parametrize("limiter", [True, False], ids=["AIORateLimiter", "retries-only"])
def test_429_is_waited_out_and_nothing_is_lost(
    fake: FakeTelegram,
    bot_env: Engine,
    collection: Collection,
    player: Player,
    limiter: bool,
) -> None:
    runner = BotRunner(fake, rate_limiter=limiter).start()
    try:
        _waits_out_429(fake, player)
    finally:
        runner.stop()


def _waits_out_429(fake: FakeTelegram, player: Player) -> None:
    player.join()
    fake.fail("429", method="sendPhoto", retry_after=1)
    sent = player.send("/play")
    photo = player.wait("sendPhoto", after=sent, predicate=lambda r: r.ok)
    refused = fake.requests("sendPhoto")[0]
    assert refused.status == 429 and photo.at - refused.at >= 0.9
    with session_scope() as session:
        assert len(session.exec(select(Play)).all()) == 1


def test_5xx_is_retried(bot: BotRunner, fake: FakeTelegram, player: Player) -> None:
    player.join()
    player.play()
    fake.fail("5xx", method="editMessageCaption", status=502, times=2)
    result = player.guess()
    assert result.ok and "What made you guess" in result.text
    # Guess shows the choices (a caption edit, retried); the answer shows the whole photo.
    assert [r.status for r in fake.requests("editMessageCaption")] == [502, 502, 200]
    assert [r.status for r in fake.requests("editMessageMedia")] == [200]


def test_timeouts_are_retried_and_the_answer_kept(
    quick_bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    player.join()
    player.play()
    player.guess()
    fake.fail("timeout", method="sendMessage", delay=1.0)
    sent = player.send("feathers")
    ack = player.wait("sendMessage", after=sent, predicate=lambda r: r.ok)
    assert "feathers" in ack.text
    assert answers() == ["feathers"]


def test_a_failure_that_persists_is_reported_and_loses_nothing(
    bot: BotRunner, fake: FakeTelegram, player: Player, caplog
) -> None:
    fake.add_user(ADMIN_ID)
    player.join()
    player.play()
    player.guess()
    fake.fail("5xx", method="sendMessage", chat_id=player.user_id, times=5)
    with caplog.at_level(logging.ERROR, logger="bot.handlers"):
        sent = player.send("scales")
        alert = fake.wait_for("sendMessage", chat_id=ADMIN_ID, after=sent)
        apology = player.wait("sendMessage", after=sent, predicate=lambda r: r.ok)
    assert answers() == ["scales"]  # stored before the reply failed
    assert apology.text == texts.APOLOGY
    assert "NetworkError" in alert.text
    assert any("error while handling update" in r.message and r.exc_info for r in caplog.records)
    # The next error within the minute is logged but the researchers are not messaged again.
    fake.fail("5xx", method="sendMessage", chat_id=player.user_id, times=5)
    sent = player.send("fins")
    player.wait("sendMessage", after=sent, predicate=lambda r: r.ok and r.text == texts.APOLOGY)
    assert len(fake.requests("sendMessage", chat_id=ADMIN_ID)) == 1
    assert answers() == ["scales", "fins"]


def test_unexpected_bad_request_gets_an_apology(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    player.join()
    fake.fail("400", method="sendPhoto", description="Bad Request: PHOTO_INVALID_DIMENSIONS")
    sent = player.send("/play")
    assert player.wait("sendMessage", after=sent).text == texts.APOLOGY
    assert "Challenge" in player.play().text  # and the game goes on


def test_a_user_who_blocked_the_bot_becomes_inactive(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    player.join()
    fake.block(player.user_id)
    sent = player.send("/play")
    refused = player.wait("sendPhoto", after=sent)
    assert refused.status == 403
    fake.settle()
    assert participant(player.user_id).active is False
    fake.unblock(player.user_id)
    player.play()
    assert participant(player.user_id).active is True


def test_block_and_unblock_updates(bot: BotRunner, fake: FakeTelegram, player: Player) -> None:
    player.join()
    fake.add_user(player.user_id)
    fake.member_update(player.user_id, "member", "kicked", actor_id=player.user_id)
    fake.settle()
    assert participant(player.user_id).active is False
    fake.member_update(player.user_id, "kicked", "member", actor_id=player.user_id)
    fake.settle()
    assert participant(player.user_id).active is True


def test_polling_survives_server_errors(bot: BotRunner, fake: FakeTelegram, player: Player) -> None:
    fake.fail("5xx", method="getUpdates", status=500, times=2)
    reply = player.say("/help")
    assert "/play" in reply.text


def test_announcing_to_a_group_that_removed_the_bot_unsubscribes_it(
    bot: BotRunner, fake: FakeTelegram
) -> None:
    fake.add_group(-2001, "Gone", admins=[5])
    fake.add_group(-2002, "Stays", admins=[5])
    for chat in (-2001, -2002):
        sent = fake.send(5, "/subscribe", chat_id=chat)
        fake.wait_for("sendMessage", chat_id=chat, after=sent)
    fake.call(lambda s: s.removed_from.add(-2001))  # kicked without the bot noticing
    admin = Player(fake, ADMIN_ID)
    reply = admin.say("/announce")
    assert reply.text == texts.ANNOUNCED.format(posted=1, removed=1)
    with session_scope() as session:
        subscribed = {g.chat_id: g.subscribed for g in session.exec(select(GroupChat)).all()}
    assert subscribed == {-2001: False, -2002: True}
    again = admin.say("/announce")
    assert again.text == texts.ANNOUNCED.format(posted=1, removed=0)
