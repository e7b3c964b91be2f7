"""Every player command, consent, and what is (not) stored before consent."""

from __future__ import annotations

import json
import time

from sqlalchemy import func
from sqlmodel import select

from bot import texts
from bot.names import friendly_name
from storage.db import session_scope
from storage.models import Answer, Participant, Play
from testkit.fake_telegram import FakeTelegram
from tests.bot.conftest import ADMIN_ID
from tests.bot.helpers import BotRunner, Player


def count(model: type) -> int:
    with session_scope() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_commands_are_registered_for_every_scope(bot: BotRunner, fake: FakeTelegram) -> None:
    commands = fake.commands()
    default = {c["command"] for c in commands[json.dumps({"type": "default"})]}
    groups = {c["command"] for c in commands[json.dumps({"type": "all_group_chats"})]}
    assert default == {
        "start",
        "play",
        "score",
        "leaderboard",
        "nickname",
        "help",
        "forget",
        "cancel",
    }
    assert {"subscribe", "unsubscribe"} <= groups
    help_text = Player(fake, 1).say("/help").text
    for command in default | groups:
        assert f"/{command}" in help_text
    assert not any(f"/{c} " in help_text for c in ("stats", "export", "announce", "rebuild"))
    researcher_help = Player(fake, ADMIN_ID).say("/help").text
    for command in default | groups | {"stats", "export", "announce"}:
        assert f"/{command}" in researcher_help


def test_nothing_but_the_decision_is_stored_before_consent(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    welcome = player.say("/start")
    assert "Do you agree" in welcome.text and welcome.callback_data == ["c:1", "c:0"]
    for text in ("/play", "stripes", "/score", "/nickname Ada"):
        reply = player.say(text)
        assert reply.callback_data == ["c:1", "c:0"], (
            text
        )  # every path leads to the consent question
    assert count(Participant) == 0 and count(Play) == 0
    pressed = player.press("c:0")
    declined = player.wait("editMessageText", after=pressed)
    assert declined.text == texts.CONSENT_DECLINED
    with session_scope() as session:
        (p,) = session.exec(select(Participant)).all()
        assert p.consent_at is None and p.consent_declined_at is not None and p.nickname is None
    player.say("/start")
    pressed = player.press("c:1")
    thanks = player.wait("editMessageText", after=pressed)
    assert "How to play" in thanks.text and thanks.callback_data == ["n"]
    again = player.say("/start")
    assert again.text == texts.ALREADY_CONSENTED


def test_score_and_leaderboard(bot: BotRunner, fake: FakeTelegram) -> None:
    alice, bob = Player(fake, 21), Player(fake, 22)
    for p in (alice, bob):
        p.join()
        p.play()
        p.guess()
        p.press(prefix="d:")
    fake.settle()
    score = alice.say("/score")
    assert "points, rank" in score.text and "1 played" in score.text
    assert "/nickname" in score.text
    board = bob.say("/leaderboard")
    lines = board.text.splitlines()
    assert lines[0] == "inv leaderboard" and "2 players in total." in board.text
    assert any("(you)" in line for line in lines)
    with session_scope() as session:
        joined = session.exec(select(Participant)).all()
    names = [p.nickname for p in joined]
    # Friendly default names, derived from the pseudonym, one per player.
    assert names == [friendly_name(p.pseudonym) for p in joined] and len(set(names)) == 2
    assert all(f"{n}: " in board.text for n in names) and "player-" not in board.text
    assert lines[1].startswith("🥇 ") and lines[2].startswith(("🥇 ", "🥈 "))
    assert "User21" not in board.text and "User22" not in board.text  # never a Telegram name


def test_nickname(bot: BotRunner, fake: FakeTelegram) -> None:
    alice, bob = Player(fake, 31), Player(fake, 32)
    alice.join()
    bob.join()
    assert "/nickname NAME" in alice.say("/nickname").text
    assert alice.say("/nickname Ada Lovelace").text == texts.NICKNAME_SET.format(
        name="Ada Lovelace"
    )
    assert bob.say("/nickname ada lovelace").text == texts.NICKNAME_TAKEN
    assert bob.say("/nickname <script>").text == texts.NICKNAME_INVALID
    assert bob.say("/nickname " + "x" * 500).text == texts.NICKNAME_INVALID
    assert "Ada Lovelace" in bob.say("/leaderboard").text
    assert alice.say("/nickname Ada Lovelace").text.startswith(
        "Your leaderboard name"
    )  # own name again


def test_cancel_leaves_any_pending_step(bot: BotRunner, fake: FakeTelegram, player: Player) -> None:
    player.join()
    assert player.say("/cancel").text == texts.CANCEL_NOTHING
    player.play()
    assert player.say("/cancel").text == texts.CANCEL_SKIPPED
    player.play()
    player.guess()
    player.say("wheels")
    reply = player.say("/cancel")
    assert reply.text.startswith(texts.CANCEL_LABELS) and "1 word saved" in reply.text
    with session_scope() as session:
        outcomes = [
            (p.stage, p.outcome) for p in session.exec(select(Play).order_by(Play.id)).all()
        ]
    assert outcomes[0] == ("skipped", "skip") and outcomes[1][0] == "done"
    assert player.say("more words after cancel").text == texts.LABELS_NOT_NOW


def test_forget_asks_then_deletes_everything(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    other = Player(fake, 77)
    other.join()
    other.play()
    other.guess()
    other.say("stays")
    player.join()
    player.say("/nickname Gone Soon")
    player.play()
    player.guess()
    player.say("stripes, fur")
    confirm = player.say("/forget")
    assert "cannot be undone" in confirm.text
    kept = player.press(prefix="f:0")
    assert player.wait("editMessageText", after=kept).text == texts.FORGET_KEPT
    assert count(Answer) == 3
    player.say("/forget")
    yes = player.press(prefix="f:1:")
    done = player.wait("editMessageText", after=yes)
    assert done.text == texts.FORGET_DONE
    with session_scope() as session:
        left = session.exec(select(Participant)).all()
        assert [p.telegram_id for p in left] == [77]
        assert {a.label for a in session.exec(select(Answer)).all()} == {"stays"}
        assert all(p.participant_id == left[0].id for p in session.exec(select(Play)).all())
    # Old buttons of the deleted participant: they must consent again; nothing is recreated.
    pressed = player.press(prefix="d:")
    assert player.wait_answer(pressed).params["text"] == texts.CONSENT_NEEDED
    assert count(Participant) == 1
    assert player.say("/forget").text.startswith("This deletes")
    yes = player.press(prefix="f:1:")
    assert player.wait("editMessageText", after=yes).text == texts.FORGET_NOTHING


def test_forget_confirmation_expires(bot: BotRunner, fake: FakeTelegram, player: Player) -> None:
    player.join()
    player.say("/forget")
    stale = f"f:1:{int(time.time()) - 3600}"
    pressed = player.press(stale, forge=True)
    assert player.wait_answer(pressed).params["text"] == texts.FORGET_EXPIRED
    assert count(Participant) == 1


def test_daily_cap_and_running_out_of_challenges(
    bot: BotRunner, fake: FakeTelegram, player: Player, monkeypatch
) -> None:
    player.join()
    # The seeded collection has 12 clusters: a player sees each at most once, then runs out.
    for _ in range(12):
        player.play()
    assert player.say("/play").text == texts.NO_CHALLENGES
    monkeypatch.setenv("DAILY_CAP", "2")
    from inv.settings import get_settings

    get_settings.cache_clear()
    bot.restart()
    late = Player(fake, 99)
    late.join()
    late.play()
    late.play()
    assert late.say("/play").text == texts.DAILY_CAP.format(cap=2)
