"""Whole games over HTTP against the fake Bot API: one player, restarts, stale buttons."""

from __future__ import annotations

from sqlmodel import select

from bot.catalogue import clear_catalogues
from bot.photo_file_ids import FULL_PHOTO_LEVEL
from storage.db import session_scope
from storage.models import Answer, Cluster, Participant, Play, RenderedPhoto
from testkit.fake_telegram import FakeTelegram
from tests.bot.helpers import BotRunner, Player


def _plays() -> list[Play]:
    with session_scope() as session:
        return list(session.exec(select(Play).order_by(Play.id)).all())


def _participant(user_id: int) -> Participant:
    with session_scope() as session:
        return session.exec(select(Participant).where(Participant.telegram_id == user_id)).one()


def test_one_player_plays_a_whole_challenge(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    player.join()
    photo = player.play()
    assert photo.files, "the first photo is uploaded"
    assert "●○○○○○ now worth 100 points" in photo.text and len(photo.text) <= 200
    pressed = player.press(prefix="h:")
    edit = player.wait("editMessageMedia", after=pressed)
    assert "●●○○○○ now worth 90 points" in edit.text
    assert edit.params["message_id"] == photo.result["message_id"], (
        "the same message is edited in place"
    )
    result = player.guess()
    assert "What made you guess" in result.text and "The AI took this for:" in result.text
    assert result.params["message_id"] == photo.result["message_id"]
    assert [b["callback_data"] for b in result.buttons] == [f"d:{_plays()[0].id}"]
    sent = player.send("stripes, pointy ears")
    ack = player.wait("sendMessage", after=sent)
    assert "stripes" in ack.text and "pointy ears" in ack.text
    assert ack.callback_data == [f"d:{_plays()[0].id}"]
    sent = player.send("whiskers")
    listed = player.wait("editMessageText", after=sent)
    assert listed.params["message_id"] == ack.result["message_id"], "one words message, edited"
    assert "stripes, pointy ears, whiskers" in listed.text
    done = player.press(ack.callback_data[0], message_id=ack.result["message_id"])
    summary = player.wait("editMessageCaption", after=done)
    assert summary.params["message_id"] == photo.result["message_id"], "the summary edits the photo"
    assert "Challenge done: 3 words saved" in summary.text and "rank 1 of 1" in summary.text
    assert summary.callback_data == ["n"]
    (play,) = _plays()
    assert (
        play.stage == "done"
        and play.hint_level == 1
        and play.message_id == photo.result["message_id"]
    )
    with session_scope() as session:
        answers = session.exec(select(Answer).order_by(Answer.id)).all()
        assert [(a.label, a.raw_message) for a in answers] == [
            ("stripes", "stripes, pointy ears"),
            ("pointy ears", "stripes, pointy ears"),
            ("whiskers", "whiskers"),
        ]
        assert all(a.hint_level == 1 and a.accepted for a in answers)
        assert session.exec(select(RenderedPhoto)).all()
    participant = _participant(player.user_id)
    assert participant.points == play.guess_points + play.streak_points + play.bonus_points
    assert play.guess_points in (0, 90)


def test_right_guess_earns_points_and_streaks_grow(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    player.join()
    totals = []
    for _ in range(3):
        player.play()
        play = _plays()[-1]
        with session_scope() as session:
            from storage.models import Cluster, Image, Model

            cluster = session.get(Cluster, play.cluster_id)
            model = session.get(Model, session.get(Image, cluster.image_id).model_id)
            right = model.classes[cluster.class_index]
        from bot.texts import class_label

        player.guess(answer=class_label(right))
        player.press(prefix="d:")
        totals.append(_participant(player.user_id).points)
    plays = _plays()
    assert [p.correct for p in plays] == [True, True, True]
    assert [p.guess_points for p in plays] == [100, 100, 100]
    assert [p.streak_points for p in plays] == [0, 10, 20]
    assert _participant(player.user_id).best_streak == 3
    fake.settle()
    assert _participant(player.user_id).points == 330


def test_show_more_up_to_the_last_level_then_give_up(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    player.join()
    player.play()
    for level in range(1, 6):
        pressed = player.press(prefix="h:")
        edit = player.wait("editMessageMedia", after=pressed)
        assert "●" * (level + 1) + "○" * (5 - level) in edit.text
    assert not any(d.startswith("h:") for d in edit.callback_data), "no Show more at the last level"
    pressed = player.press(prefix="r:")
    gave_up = player.wait("editMessageMedia", after=pressed)
    assert gave_up.text.startswith("You gave up. The AI took this for:")
    assert gave_up.callback_data == ["n"]
    (play,) = _plays()
    assert (play.stage, play.outcome, play.hint_level) == ("resigned", "resign", 5)
    # Next starts another challenge.
    pressed = player.press("n")
    player.wait("sendPhoto", after=pressed)
    assert len(_plays()) == 2


def test_next_without_guessing_counts_a_skip(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    player.join()
    player.play()
    photo = player.play()
    assert photo.text.startswith("The previous challenge was skipped.")
    first, second = _plays()
    assert (first.stage, first.outcome) == ("skipped", "skip") and second.stage == "reveal"
    assert first.cluster_id != second.cluster_id


def test_photos_are_uploaded_once_and_then_reused_by_file_id(
    bot: BotRunner, fake: FakeTelegram
) -> None:
    a, b = Player(fake, 11), Player(fake, 12)
    a.join()
    b.join()
    first = a.play()
    cluster = _plays()[-1].cluster_id
    assert first.files
    # b gets the same cluster when it is the one closest to done: a's play counts toward it.
    second = b.play()
    if _plays()[-1].cluster_id == cluster:
        assert not second.files and second.params["photo"] == first.result["photo"][-1]["file_id"]
    uploads = [r for r in fake.requests("sendPhoto") if r.files]
    with session_scope() as session:
        stored = session.exec(select(RenderedPhoto)).all()
    assert len(stored) == len(uploads)


def test_a_reply_to_a_finished_challenge_is_not_mixed_into_the_next(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    player.join()
    first_photo = player.play()
    player.guess()
    player.press(prefix="d:")
    player.play()
    sent = player.send("late words", reply_to=first_photo.result["message_id"])
    reply = player.wait("sendMessage", after=sent)
    assert "finished" in reply.text
    player.guess()
    sent = player.send("fresh words")
    player.wait("sendMessage", after=sent)
    with session_scope() as session:
        labels = [(a.label, a.play_id) for a in session.exec(select(Answer)).all()]
    assert labels == [("fresh words", _plays()[-1].id)]


def test_restart_in_the_middle_of_a_challenge_resumes_it(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    player.join()
    player.play()
    pressed = player.press(prefix="h:")
    player.wait("editMessageMedia", after=pressed)
    bot.restart()
    # The buttons sent before the restart still work: state is in the database.
    pressed = player.press(prefix="h:")
    edit = player.wait("editMessageMedia", after=pressed)
    assert "●●●○○○" in edit.text
    player.guess()
    bot.restart()
    sent = player.send("after restart")
    ack = player.wait("sendMessage", after=sent)
    assert "after restart" in ack.text
    bot.restart()
    done = player.press(prefix="d:")
    player.wait("editMessageCaption", after=done)
    (play,) = _plays()
    assert play.stage == "done" and play.hint_level == 2


def test_stale_and_repeated_buttons_say_so(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    player.join()
    photo = player.play()
    old_hint = photo.callback_data[0]
    pressed = player.press(old_hint)
    player.wait("editMessageMedia", after=pressed)
    # The same (now outdated) Show more again, e.g. a double tap: nothing changes.
    again = player.press(old_hint, message_id=photo.result["message_id"], forge=True)
    assert "Already" in player.wait_answer(again).params["text"]
    player.guess()
    done = player.press(prefix="d:")
    player.wait("editMessageCaption", after=done)
    # Every button of the finished challenge now answers that it expired or is done.
    for data in (
        old_hint,
        f"g:{_plays()[0].id}",
        f"o:{_plays()[0].id}:0",
        f"r:{_plays()[0].id}",
        f"d:{_plays()[0].id}",
    ):
        sent = player.press(data, message_id=photo.result["message_id"], forge=True)
        text = player.wait_answer(sent).params.get("text", "")
        assert "expired" in text or "Already done" in text, (data, text)
    assert fake.requests("editMessageMedia", since=done.seq) == []


def test_restart_while_updates_are_queued_loses_nothing(bot: BotRunner, fake: FakeTelegram) -> None:
    players = [Player(fake, 100 + i) for i in range(5)]
    for p in players:
        p.join()
    for p in players:
        p.send("/play")
    bot.stop()  # may stop between fetching and processing: nothing fetched may be lost
    for p in players:
        p.send("/cancel")
    bot.start()
    bot.settle()
    plays = _plays()
    assert len(plays) == 5 and all(p.outcome == "skip" for p in plays)
    for p in players:
        assert len(fake.requests("sendPhoto", chat_id=p.user_id)) == 1


def test_a_file_id_telegram_refuses_is_replaced_by_a_new_upload(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    """Stored file_ids from another bot token: the challenge, its next hint and the whole photo
    are each tried by file_id, refused, rendered and uploaded again, and the new id is kept."""
    with session_scope() as session:
        clusters = session.exec(select(Cluster.id)).all()
        session.add_all(
            RenderedPhoto(cluster_id=cid, hint_level=level, telegram_file_id=f"stale-{cid}-{level}")
            for cid in clusters
            for level in (0, 1, FULL_PHOTO_LEVEL)
        )
    clear_catalogues()
    player.join()
    photo = player.play()
    pressed = player.press(prefix="h:")
    player.wait("editMessageMedia", after=pressed, predicate=lambda r: r.ok)
    player.guess()
    cluster = _plays()[0].cluster_id
    photo_calls = [r for r in fake.requests() if r.method in ("sendPhoto", "editMessageMedia")]
    refused = [r for r in photo_calls if not r.ok]
    assert [(r.method, r.error) for r in refused] == [
        ("sendPhoto", "Bad Request: wrong file identifier/HTTP URL specified"),
        ("editMessageMedia", "Bad Request: wrong file identifier/HTTP URL specified"),
        ("editMessageMedia", "Bad Request: wrong file identifier/HTTP URL specified"),
    ]
    uploads = [r for r in photo_calls if r.ok]
    assert [bool(r.files) for r in uploads] == [True, True, True], "each retry uploads bytes"
    assert photo.seq == uploads[0].seq
    with session_scope() as session:
        stored = dict(
            session.exec(
                select(RenderedPhoto.hint_level, RenderedPhoto.telegram_file_id).where(
                    RenderedPhoto.cluster_id == cluster
                )
            ).all()
        )
    assert stored == {
        level: upload.result["photo"][-1]["file_id"]
        for level, upload in zip((0, 1, FULL_PHOTO_LEVEL), uploads, strict=True)
    }
