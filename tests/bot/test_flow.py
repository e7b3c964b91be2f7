"""A whole game over HTTP: consent, challenge, hints, guess, labels, points."""

from __future__ import annotations

from sqlmodel import select

from bot.fake_telegram import FakeTelegram
from storage.db import session_scope
from storage.models import Answer, Participant, Play, RenderedPhoto
from tests.bot.helpers import BotRunner, Player


def test_one_player_plays_a_whole_challenge(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    player.join()
    photo = player.play()
    assert photo.files, "the first photo is uploaded"
    assert any(d.startswith("h:") for d in photo.callback_data)
    pressed = player.press(prefix="h:")
    edit = player.wait("editMessageMedia", after=pressed)
    assert "hint 2/6" in edit.text
    result = player.guess()
    assert "What made you guess" in result.text
    sent = player.send("stripes, pointy ears")
    ack = player.wait("sendMessage", after=sent)
    assert "stripes" in ack.text
    done = player.press(prefix="d:")
    summary = player.wait("sendMessage", after=done)
    assert "Challenge done" in summary.text
    with session_scope() as session:
        play = session.exec(select(Play)).one()
        assert play.stage == "done" and play.hint_level == 1
        answers = session.exec(select(Answer)).all()
        assert sorted(a.label for a in answers) == ["pointy ears", "stripes"]
        assert session.exec(select(RenderedPhoto)).all()
        participant = session.exec(select(Participant)).one()
        assert participant.points == play.guess_points + play.streak_points + play.bonus_points
