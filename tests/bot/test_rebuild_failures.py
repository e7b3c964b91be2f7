"""A class that fails to rebuild is reported to researchers once, by the scheduled rebuild."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from bot import texts
from testkit.fake_telegram import FakeTelegram
from tests.bot.conftest import ADMIN_ID
from tests.bot.helpers import BotRunner, Player


@dataclass
class FailingReport:
    """What engine.rebuild.rebuild returns when class 3 keeps failing."""

    new_failures: dict[int, str]
    failed: dict[int, str] = field(default_factory=lambda: {3: "ParseException"})
    ran: bool = True

    def summary(self) -> str:
        return "Generation 2: 1 class rebuilt. Failed, previous results kept: 3 (ParseException)."


@pytest.fixture
def rebuild_runs(bot: BotRunner) -> threading.Semaphore:
    """A stand-in rebuild whose class 3 fails on every run (new only on the first)."""
    done = threading.Semaphore(0)
    calls: list[int] = []

    def rebuild(*, full: bool = False, progress=None) -> FailingReport:  # type: ignore[no-untyped-def]
        calls.append(1)
        done.release()
        return FailingReport(new_failures={3: "ParseException"} if len(calls) == 1 else {})

    bot.options["rebuild"] = rebuild
    bot.restart()
    return done


def test_a_failing_class_is_reported_to_researchers_once(
    rebuild_runs: threading.Semaphore, bot: BotRunner, fake: FakeTelegram
) -> None:
    admin = Player(fake, ADMIN_ID)
    started = admin.send("/help")  # a researcher who has talked to the bot can be messaged
    help_reply = admin.wait("sendMessage", after=started)
    job = bot.app.job_queue.get_jobs_by_name("rebuild")[0]
    expected = texts.REBUILD_CLASSES_FAILED.format(classes="3 (ParseException)")
    for run in range(3):  # three scheduled rebuilds, class 3 failing in each
        job.job.modify(next_run_time=datetime.now(UTC))  # the scheduler wakes up thread-safely
        assert rebuild_runs.acquire(timeout=10)
        if run == 0:
            alert = admin.wait("sendMessage", after=help_reply.seq, timeout=10)
            assert alert.text == expected and "ParseException" in alert.text
        time.sleep(0.5)  # let the job finish (one instance at a time)
    fake.settle()
    sent = [r.text for r in fake.requests("sendMessage", chat_id=ADMIN_ID)]
    assert sent.count(expected) == 1
