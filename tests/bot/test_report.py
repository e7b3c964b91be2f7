"""`inv report` and /report on a database made the production way: `inv precompute`, then real
players through the bot (not the demo), then `inv rebuild`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot import texts
from inv.cli import main
from testkit.fake_telegram import FakeTelegram
from tests.bot.conftest import ADMIN_ID
from tests.bot.helpers import BotRunner, Player

FACTORY = "tests.engine.engine_testkit:small_cnn"
LABELS = ["stripes, ears", "whiskers", "stripes"]


def precomputed(folder: Path) -> None:
    from tests.engine.engine_testkit import photo

    for index, name in enumerate(["cat", "dog"]):
        (folder / name).mkdir(parents=True)
        photo(10 + index).save(folder / name / f"{name}.png")
    args = ["precompute", "--images", str(folder), "--model", FACTORY, "--device", "cpu"]
    assert main([*args, "--no-progress"]) == 0


@pytest.fixture
def live(
    fake: FakeTelegram,
    bot_env: Engine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[BotRunner]:
    # Three players rarely meet on one cluster; one player's label is enough to form a concept.
    monkeypatch.setenv("MIN_AGREEMENT", "1")
    # The test network is untrained, so never confident: serve its photos all the same.
    monkeypatch.setenv("MIN_CONFIDENCE", "0")
    precomputed(tmp_path / "photos")
    capsys.readouterr()
    runner = BotRunner(fake, rate_limiter=False).start()
    for index, user_id in enumerate((5001, 5002, 5003)):
        player = Player(fake, user_id)
        player.join()
        for _round in range(2):
            player.play()
            player.guess()
            player.say(LABELS[index])
    yield runner
    runner.stop()


def test_inv_report_on_precompute_and_bot_data(
    live: BotRunner, fake: FakeTelegram, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rebuild", "--quiet"]) == 0
    out = tmp_path / "mine" / "report.html"
    assert main(["report", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert "<h3>cat</h3>" in page and "<h3>dog</h3>" in page  # both photos
    assert "3 participants, 6 plays" in page
    assert "<b>stripe</b>" in page  # the players' label, as a concept of its class
    assert re.search(r"Written \d{4}-\d\d-\d\d \d\d:\d\d UTC", page)

    admin = Player(fake, ADMIN_ID)
    sent = admin.send("/report")
    document = admin.wait("sendDocument", after=sent, timeout=30)
    (payload,) = document.files.values()
    assert payload.startswith(b"<!doctype html>") and b"<h3>cat</h3>" in payload
    assert admin.wait("editMessageText", after=sent).text.startswith("Report ready")


def test_report_over_telegrams_limit_says_where_it_is(
    live: BotRunner, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    import storage.export

    monkeypatch.setattr(storage.export, "TELEGRAM_DOCUMENT_LIMIT", 10)
    admin = Player(fake, ADMIN_ID)
    sent = admin.send("/report")
    status = admin.wait("editMessageText", after=sent, timeout=30)
    assert "over Telegram's 50 MB limit" in status.text and ".html" in status.text
    path = Path(re.search(r"written to (\S+\.html)", status.text).group(1))
    assert path.is_file()
    assert fake.requests("sendDocument") == []


def test_report_is_for_researchers_only(live: BotRunner, fake: FakeTelegram) -> None:
    assert Player(fake, 5001).say("/report").text == texts.ADMIN_ONLY
