"""Saying no to taking part: stored minimally, never exported, and the reply says exactly that."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from sqlmodel import select

from bot import texts
from storage.db import session_scope
from storage.models import Participant
from testkit.fake_telegram import FakeTelegram
from tests.bot.helpers import BotRunner, Player
from tests.shell import write_export


def _participants_csv(path: Path) -> list[dict[str, str]]:
    with zipfile.ZipFile(path) as zf:
        return list(csv.DictReader(io.StringIO(zf.read("participants.csv").decode("utf-8"))))


def test_a_decline_keeps_only_the_id_and_time_and_is_never_exported(
    bot: BotRunner, fake: FakeTelegram, tmp_path: Path
) -> None:
    yes, no = Player(fake, 81), Player(fake, 82)
    yes.join()
    no.say("/start")
    pressed = no.press("c:0")
    reply = no.wait("editMessageText", after=pressed)
    assert reply.text == texts.CONSENT_DECLINED
    assert "Telegram id" in reply.text and "never part of the research data" in reply.text

    with session_scope() as session:
        row = session.exec(select(Participant).where(Participant.telegram_id == 82)).one()
        default = Participant(telegram_id=0, pseudonym="")
        assert row.consent_at is None and row.consent_declined_at is not None
        assert row.created_at == row.last_seen_at == row.consent_declined_at
        assert row.active is False and row.nickname is None
        for name in ("trust", "gold_seen", "gold_correct", "points", "streak", "best_streak"):
            assert getattr(row, name) == getattr(default, name), name
        declined_pseudonym = row.pseudonym

    # Not asked again: other messages get a short reminder without the consent buttons.
    reminder = no.say("/play")
    assert reminder.text == texts.CONSENT_DECLINED_REMINDER and reminder.callback_data == []
    assert no.say("some words").text == texts.CONSENT_DECLINED_REMINDER
    # /start is a request to see the question again.
    assert no.say("/start").callback_data == ["c:1", "c:0"]

    result = write_export(tmp_path / "export.zip")
    rows = _participants_csv(result.path)
    assert [r["pseudonym"] for r in rows] != [] and declined_pseudonym not in {
        r["pseudonym"] for r in rows
    }
    assert result.counts["participants"] == 1


def test_a_decliner_can_delete_even_the_note(bot: BotRunner, fake: FakeTelegram) -> None:
    no = Player(fake, 83)
    no.say("/start")
    no.wait("editMessageText", after=no.press("c:0"))
    confirm = no.say("/forget")
    pressed = no.press(confirm.callback_data[0])
    assert no.wait("editMessageText", after=pressed).text == texts.FORGET_DONE
    with session_scope() as session:
        assert (
            session.exec(select(Participant).where(Participant.telegram_id == 83)).first() is None
        )
