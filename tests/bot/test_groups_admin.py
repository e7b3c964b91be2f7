"""Groups (subscriptions, scheduled leaderboards) and the researchers' commands."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot import texts
from storage.db import session_scope
from storage.models import ConceptTest, Export, Generation, GroupChat, Participant, Play
from testkit.fake_telegram import FakeTelegram
from tests.bot.conftest import ADMIN_ID
from tests.bot.helpers import BotRunner, Player

GROUP = -100123


def subscribed() -> dict[int, bool]:
    with session_scope() as session:
        return {g.chat_id: g.subscribed for g in session.exec(select(GroupChat)).all()}


def test_only_group_admins_subscribe(bot: BotRunner, fake: FakeTelegram) -> None:
    fake.add_group(GROUP, "Vision lab", admins=[1], members=[2], creator=3)
    member = fake.send(2, "/subscribe", chat_id=GROUP)
    assert fake.wait_for("sendMessage", chat_id=GROUP, after=member).text == texts.GROUP_ADMINS_ONLY
    assert subscribed() == {}
    admin = fake.send(1, "/subscribe", chat_id=GROUP)
    reply = fake.wait_for("sendMessage", chat_id=GROUP, after=admin).text
    assert "leaderboard every day." in reply and "every 1 day" not in reply
    assert subscribed() == {GROUP: True}
    member = fake.send(2, "/unsubscribe", chat_id=GROUP)
    assert fake.wait_for("sendMessage", chat_id=GROUP, after=member).text == texts.GROUP_ADMINS_ONLY
    owner = fake.send(3, "/unsubscribe", chat_id=GROUP)
    assert fake.wait_for("sendMessage", chat_id=GROUP, after=owner).text == texts.UNSUBSCRIBED
    assert subscribed() == {GROUP: False}
    private = Player(fake, 1).say("/subscribe")
    assert private.text == texts.GROUP_ONLY.format(command="subscribe")


def test_a_group_that_removes_the_bot_is_unsubscribed(bot: BotRunner, fake: FakeTelegram) -> None:
    fake.add_group(GROUP, "Lab", admins=[1])
    sent = fake.send(1, "/subscribe", chat_id=GROUP)
    fake.wait_for("sendMessage", chat_id=GROUP, after=sent)
    fake.member_update(GROUP, "member", "left", actor_id=1)
    fake.settle()
    assert subscribed() == {GROUP: False}


def test_leaderboard_in_a_group(bot: BotRunner, fake: FakeTelegram) -> None:
    fake.add_group(GROUP, "Lab", members=[8])
    sent = fake.send(8, "/leaderboard", chat_id=GROUP)
    assert "No one has played yet" in fake.wait_for("sendMessage", chat_id=GROUP, after=sent).text


@pytest.fixture
def scheduled_bot(fake: FakeTelegram, bot_env, collection, monkeypatch) -> Iterator[BotRunner]:
    monkeypatch.setenv("LEADERBOARD_INTERVAL", "1")
    from inv.settings import get_settings

    get_settings.cache_clear()
    runner = BotRunner(fake).start()
    yield runner
    runner.stop()


def test_scheduled_leaderboard_posts(scheduled_bot: BotRunner, fake: FakeTelegram) -> None:
    fake.add_group(GROUP, "Lab", admins=[1])
    fake.add_group(GROUP - 1, "Other", admins=[1])
    for chat in (GROUP, GROUP - 1):
        sent = fake.send(1, "/subscribe", chat_id=chat)
        fake.wait_for("sendMessage", chat_id=chat, after=sent)
    post = fake.wait_for(
        "sendMessage",
        chat_id=GROUP,
        after=sent,
        predicate=lambda r: r.text.startswith("No one") or "leaderboard" in r.text,
        timeout=5,
    )
    assert post.ok
    fake.wait_for(
        "sendMessage", chat_id=GROUP, after=post.seq, timeout=5
    )  # and again a second later
    with session_scope() as session:
        group = session.exec(select(GroupChat).where(GroupChat.chat_id == GROUP)).one()
    assert group.last_announced_at is not None and group.announce_message_id is not None
    job = scheduled_bot.app.job_queue.get_jobs_by_name("leaderboard")[0]
    assert (
        job.job.coalesce is True and job.job.max_instances == 1 and job.job.misfire_grace_time >= 1
    )


def test_researcher_commands_are_refused_to_others(
    bot: BotRunner, fake: FakeTelegram, player: Player
) -> None:
    fake.add_group(GROUP, "Lab", admins=[1])
    sent = fake.send(1, "/subscribe", chat_id=GROUP)
    fake.wait_for("sendMessage", chat_id=GROUP, after=sent)
    before = fake.stats()["requests"]
    for command in ("/stats", "/export", "/announce"):
        assert player.say(command).text == texts.ADMIN_ONLY
    fake.settle()
    # Nothing else happened: one refusal each, no document, no group post, no participant row.
    sent_since = [r for r in fake.requests(since=before) if r.method != "getUpdates"]
    assert [r.method for r in sent_since] == ["sendMessage"] * 3
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(Participant)).one() == 0
        assert session.exec(select(func.count()).select_from(Export)).one() == 0


def test_stats(bot: BotRunner, fake: FakeTelegram, player: Player) -> None:
    player.join()
    player.play()
    player.guess()
    player.say("stripes")
    reply = Player(fake, ADMIN_ID).say("/stats")
    lines = reply.text.splitlines()
    # 12 clusters × 5 plays needed, one served; the summary opens with the overall progress.
    assert lines[0] == (
        "Progress: 1 of 60 plays done (2%); 1 player active today; 1 word; 0 concepts."
    )
    assert "Players: 1 joined (1 reachable), 0 declined." in lines
    assert "Last 24 h: 1 play, 1 word." in lines
    assert any(line.startswith("Least done (3 classes): ") for line in lines)
    assert "features.10" not in reply.text and len(reply.text) <= texts.MAX_TEXT
    assert all(len(line) <= 200 for line in lines)


def test_stats_counts_the_network_tests_of_the_current_generation(
    bot: BotRunner, fake: FakeTelegram
) -> None:
    admin = Player(fake, ADMIN_ID)
    assert "tested against the network (TCAV): none yet" in admin.say("/stats").text
    with session_scope() as session:
        session.add(Generation(id=1, status="done", is_current=False))
        session.add(Generation(id=2, status="done", is_current=True))
        session.flush()
        tests = [(1, "validated")] + [(2, "validated")] + [(2, "too few examples")] * 3
        for gen, verdict in tests:
            session.add(
                ConceptTest(
                    generation=gen,
                    class_index=0,
                    layer_name="features.10",
                    concept_name="stripes",
                    examples=3,
                    random_sets=0,
                    verdict=verdict,
                )
            )
    reply = admin.say("/stats")
    assert "(TCAV): 3 too few examples, 1 validated" in reply.text


def test_export_by_document(bot: BotRunner, fake: FakeTelegram, player: Player) -> None:
    player.join()
    player.say("/nickname Secret Name")
    player.play()
    player.guess()
    player.say("stripes, ears")
    admin = Player(fake, ADMIN_ID)
    sent = admin.send("/export")
    document = admin.wait("sendDocument", after=sent, timeout=10)
    assert document.ok and "plays 1" in document.params["caption"]
    (name,) = document.files
    payload = document.files[name]
    archive = zipfile.ZipFile(io.BytesIO(payload))
    assert {"manifest.json", "participants.csv", "plays.csv", "answers.csv"} <= set(
        archive.namelist()
    )
    blob = b"".join(archive.read(n) for n in archive.namelist())
    assert b"4242" not in blob and b"Secret Name" not in blob and b"User4242" not in blob
    done = admin.wait("editMessageText", after=sent)
    assert done.text.startswith("Export ready")
    with session_scope() as session:
        (row,) = session.exec(select(Export)).all()
    assert row.requested_by != str(ADMIN_ID) and len(row.requested_by) == 16


def test_export_over_50_mb_says_where_it_is(
    bot: BotRunner, fake: FakeTelegram, monkeypatch
) -> None:
    import storage.export

    monkeypatch.setattr(storage.export, "TELEGRAM_DOCUMENT_LIMIT", 10)
    admin = Player(fake, ADMIN_ID)
    sent = admin.send("/export")
    status = admin.wait("editMessageText", after=sent, timeout=10)
    assert "over Telegram's 50 MB limit" in status.text and ".zip" in status.text
    assert fake.requests("sendDocument") == []


@dataclass
class FakeReport:
    """What engine.rebuild.rebuild returns, as far as the bot reads it."""

    ran: bool = True
    generation: int | None = 1
    classes_rebuilt: list[int] = field(default_factory=lambda: [0])
    answers: int = 3
    concepts: int = 2
    charts: int = 4
    seconds: float = 0.1
    error: str | None = None

    def summary(self) -> str:
        return (
            f"Generation {self.generation}: rebuilt {self.classes_rebuilt}" if self.ran else "busy"
        )


@pytest.fixture
def rebuild_calls(bot: BotRunner, monkeypatch) -> list[dict]:
    """A stand-in rebuild so the bot's wiring is tested without spaCy and SBERT."""
    calls: list[dict] = []

    def rebuild(*, full: bool = False, progress=None) -> FakeReport:
        calls.append({"full": full})
        for step, fraction in (("clean", 0.2), ("embed", 0.6), ("charts", 0.9)):
            progress(step, fraction)
            time.sleep(0.3)
        return FakeReport()

    from bot import admin as bot_admin

    monkeypatch.setattr(bot_admin, "PROGRESS_EDIT_SECONDS", 0.2)
    bot.options["rebuild"] = rebuild
    bot.restart()
    return calls


def test_rebuild_command_reports_progress_in_place(
    rebuild_calls: list[dict], bot: BotRunner, fake: FakeTelegram
) -> None:
    admin = Player(fake, ADMIN_ID)
    assert "/rebuild" in admin.say("/help").text
    sent = admin.send("/rebuild full")
    status = admin.wait("sendMessage", after=sent)
    assert status.text == texts.REBUILD_STARTED
    final = admin.wait(
        "editMessageText",
        after=sent,
        predicate=lambda r: r.text.startswith("Rebuilt"),
        timeout=10,
    )
    # Class names, not numbers; stages in words.
    assert final.text.startswith("Rebuilt 1 class (tabby): 2 concepts from 3 words")
    edits = [r for r in fake.requests("editMessageText", chat_id=ADMIN_ID) if r.seq > sent.seq]
    progress = [r.text for r in edits if r.text.startswith("Rebuilding:")]
    assert progress and all(
        any(words in text for words in ("cleaning the words", "comparing", "drawing the charts"))
        for text in progress
    ), progress
    assert {r.params["message_id"] for r in edits} == {status.result["message_id"]}
    assert final.ok and rebuild_calls == [{"full": True}]
    assert Player(fake, 5).say("/rebuild").text == texts.ADMIN_ONLY
    assert len(rebuild_calls) == 1
    job = bot.app.job_queue.get_jobs_by_name("rebuild")[0]
    assert (
        job.job.coalesce is True and job.job.max_instances == 1 and job.job.misfire_grace_time >= 1
    )


def test_without_a_rebuild_there_is_no_rebuild_command(bot: BotRunner, fake: FakeTelegram) -> None:
    bot.options["rebuild"] = None
    bot.restart()
    admin = Player(fake, ADMIN_ID)
    assert admin.say("/rebuild").text == texts.UNKNOWN_COMMAND
    assert not bot.app.job_queue.get_jobs_by_name("rebuild")
    assert "/rebuild" not in admin.say("/help").text


def test_announce_now(bot: BotRunner, fake: FakeTelegram, player: Player) -> None:
    player.join()
    player.play()
    player.guess()
    player.press(prefix="d:")
    fake.add_group(GROUP, "Lab", admins=[1])
    sent = fake.send(1, "/subscribe", chat_id=GROUP)
    fake.wait_for("sendMessage", chat_id=GROUP, after=sent)
    reply = Player(fake, ADMIN_ID).say("/announce")
    assert reply.text == texts.ANNOUNCED.format(posted=1, removed=0)
    post = fake.requests("sendMessage", chat_id=GROUP)[-1]
    first, medal, total = post.text.splitlines()
    assert first.startswith("inv leaderboard, ") and first.endswith("(posted every day)")
    assert medal.startswith("🥇 ") and total == "1 player in total. Press Play to join in."
    assert post.buttons == [
        {"text": "Play", "url": f"https://t.me/{fake.bot_user['username']}?start=play"}
    ]
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(Play)).one() == 1


@pytest.mark.parametrize("command", ["/export", "/stats", "/announce"])
def test_researcher_commands_in_a_group_are_refused_with_a_link_to_the_private_chat(
    bot: BotRunner, fake: FakeTelegram, player: Player, command: str
) -> None:
    player.join()
    player.play()
    fake.add_group(GROUP, "Lab", admins=[ADMIN_ID], members=[player.user_id])
    before = fake.stats()["requests"]
    sent = fake.send(ADMIN_ID, command, chat_id=GROUP)
    reply = fake.wait_for("sendMessage", chat_id=GROUP, after=sent)
    assert reply.text == texts.RESEARCHERS_PRIVATE_ONLY.format(
        link=f"https://t.me/{fake.bot_user['username']}"
    )
    fake.settle()
    sent_since = [r for r in fake.requests(since=before) if r.method != "getUpdates"]
    assert [r.method for r in sent_since] == ["sendMessage"]  # no document, no stats, no post
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(Export)).one() == 0
