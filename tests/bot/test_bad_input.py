"""Bad input gets a clear reply and loses nothing."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot import texts
from storage.db import session_scope
from storage.models import Answer, Cluster, Participant, Play
from testkit.fake_telegram import FakeTelegram
from tests.bot.helpers import BotRunner, Player


@pytest.fixture
def labelling(bot: BotRunner, fake: FakeTelegram, player: Player) -> Player:
    """A player whose challenge waits for labels."""
    player.join()
    player.play()
    player.guess()
    return player


def labels() -> list[str]:
    with session_scope() as session:
        return [a.label for a in session.exec(select(Answer).order_by(Answer.id)).all()]


def stage() -> str:
    with session_scope() as session:
        return session.exec(select(Play.stage).order_by(Play.id.desc())).first()


@pytest.mark.parametrize(
    "kind", ["sticker", "photo", "voice", "document", "location", "video", "contact"]
)
def test_non_text_messages(labelling: Player, kind: str) -> None:
    sent = labelling.fake.send_media(labelling.user_id, kind)
    assert labelling.wait("sendMessage", after=sent).text == texts.NOT_TEXT
    assert labels() == [] and stage() == "labelling"
    # The challenge goes on.
    assert "ears" in labelling.say("ears").text


def test_text_inputs(labelling: Player) -> None:
    too_long = labelling.say("x" * 10_000)
    assert too_long.text == texts.LABEL_MESSAGE_TOO_LONG.format(limit=1000)
    assert labelling.say("y" * 65).text == texts.LABEL_TOO_LONG.format(limit=64)
    assert labelling.say("🙂🐱🙂").text == texts.LABEL_NO_WORDS
    assert labelling.say(" ,,, ").text == texts.LABEL_NO_WORDS
    many = ", ".join(f"w{i}" for i in range(11))
    assert labelling.say(many).text == texts.LABEL_TOO_MANY.format(limit=10)
    assert labels() == [] and stage() == "labelling"
    rtl = "خطوط سوداء, פסים"
    assert "خطوط سوداء" in labelling.say(rtl).text
    sql = "'); DROP TABLE answer; --"
    assert "DROP TABLE" in labelling.say(sql).text
    html = "<b>bold</b> & <script>alert(1)</script>"
    echo = labelling.say(html)
    assert html in echo.text and "parse_mode" not in echo.params
    # Semicolons separate labels like commas; the raw message is kept whole.
    assert labels() == ["خطوط سوداء", "פסים", "DROP TABLE answer", html]
    with session_scope() as session:
        raws = [a.raw_message for a in session.exec(select(Answer).order_by(Answer.id)).all()]
    assert raws[2] == sql
    with session_scope() as session:
        assert session.exec(select(Cluster)).first() is not None  # the database is intact


def test_duplicates_are_flagged_and_a_full_challenge_refuses_more(labelling: Player) -> None:
    labelling.say("stripes")
    reply = labelling.say("Stripes!")
    assert "repeated or sent too fast" in reply.text
    for i in range(2):
        labelling.say(", ".join(f"thing{i}{j}" for j in range(5)))
    labelling.say("a, b, c")
    # The challenge holds 15 labels: the next message is refused whole, nothing stored.
    assert labelling.say("one, more").text == texts.LABEL_PLAY_LIMIT.format(limit=15)
    with session_scope() as session:
        answers = session.exec(select(Answer).order_by(Answer.id)).all()
    assert answers[1].flags == "duplicate" and not answers[1].accepted
    assert len(answers) == 15  # the flagged one is kept for the researchers


def test_labels_before_guessing_or_without_a_challenge(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    player.join()
    assert player.say("stripes").text == texts.LABELS_NOT_NOW
    player.play()
    assert player.say("stripes").text == texts.LABELS_NOT_NOW_REVEAL
    assert labels() == []


def test_commands_unknown_and_with_garbage_arguments(labelling: Player) -> None:
    assert labelling.say("/frobnicate").text == texts.UNKNOWN_COMMAND
    assert labelling.say("/play now please").text == texts.NO_ARGUMENTS.format(command="play")
    assert labelling.say("/score 💥💥").text == texts.NO_ARGUMENTS.format(command="score")
    assert labelling.say("/cancel ' OR 1=1").text == texts.NO_ARGUMENTS.format(command="cancel")
    assert labelling.say("/leaderboard x").text == texts.NO_ARGUMENTS.format(command="leaderboard")
    assert stage() == "labelling"


def test_edited_messages_change_nothing(labelling: Player) -> None:
    sent = labelling.send("stripes")
    labelling.wait("sendMessage", after=sent)
    edited = labelling.fake.edit(labelling.user_id, sent.message_id, "spots")
    assert labelling.wait("sendMessage", after=edited).text == texts.EDITED
    assert labels() == ["stripes"]


def test_forged_callbacks(bot: BotRunner, fake: FakeTelegram) -> None:
    mallory, victim = Player(fake, 66), Player(fake, 67)
    victim.join()
    victim.play()
    mallory.join()
    mallory.play()
    with session_scope() as session:
        victim_play = session.exec(
            select(Play).join(Participant).where(Participant.telegram_id == 67)
        ).one()
    cases = {
        f"h:{victim_play.id}:0": texts.CB_NOT_YOURS,
        f"g:{victim_play.id}": texts.CB_NOT_YOURS,
        f"r:{victim_play.id}": texts.CB_NOT_YOURS,
        "g:999999": texts.CB_GONE,
        "o:999999:1": texts.CB_GONE,
        "h:1:x": texts.CB_INVALID,
        "totally bogus": texts.CB_INVALID,
        "g:00000000000000000000001": texts.CB_INVALID,
    }
    for data, expected in cases.items():
        sent = mallory.press(data, forge=True)
        assert mallory.wait_answer(sent).params["text"] == expected, data
    with session_scope() as session:
        after = session.get(Play, victim_play.id)
    assert (after.stage, after.hint_level) == ("reveal", 0)
    # A forged option index on one's own challenge.
    opened = mallory.press(prefix="g:")
    mallory.wait("editMessageCaption", after=opened)
    own = mallory.button("o:").rsplit(":", 1)[0]
    sent = mallory.press(f"{own}:42", forge=True)
    assert mallory.wait_answer(sent).params["text"] == texts.CB_INVALID


def test_callback_on_a_deleted_challenge(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    player.join()
    player.play()
    with session_scope() as session:
        play = session.exec(select(Play)).one()
        session.delete(session.get(Cluster, play.cluster_id))  # cascades to the play
    sent = player.press(prefix="g:")
    assert player.wait_answer(sent).params["text"] == texts.CB_GONE
    assert "Challenge" in player.play().text  # the player simply goes on


def test_channels_and_groups(bot: BotRunner, fake: FakeTelegram, player: Player) -> None:
    fake.add_group(-100500, "Lab", members=[player.user_id])
    sent = player.send("/play", chat_id=-100500)
    reply = fake.wait_for("sendMessage", chat_id=-100500, after=sent)
    assert "private chat" in reply.text and "t.me/inv_test_bot" in reply.text
    quiet = player.send("just chatting", chat_id=-100500)
    other_bot = player.send("/frobnicate@other_bot", chat_id=-100500)
    post = fake.channel_post(-100777, "hello channel")
    command = fake.channel_post(-100777, "/play")
    assert (
        fake.wait_for("sendMessage", chat_id=-100777, after=command).text
        == texts.CHANNEL_ONLY_PRIVATE
    )
    fake.settle()
    assert fake.requests(chat_id=-100500, since=quiet.seq) == []
    assert fake.requests(chat_id=-100777, since=post.seq)[0].seq > command.seq
    assert other_bot.update_id is not None
    with session_scope() as session:
        assert session.exec(select(Play)).all() == []
