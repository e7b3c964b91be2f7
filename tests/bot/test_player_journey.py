"""One new player through the whole game, as on a phone, over the real bot and the fake Bot API.

Every text the player is shown is checked: plain words (no machine-learning words outside class
names and what the player typed), captions of at most 200 characters, and a next action at
every step (a button, or a command to send).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image
from sqlalchemy.engine import Engine

from bot import texts
from inv.settings import get_settings
from testkit.collection import Collection
from testkit.fake_telegram import FakeTelegram, Recorded
from tests.bot.helpers import BotRunner, Player

FORBIDDEN = re.compile(r"\b(layers?|filters?|clusters?|class(es)?|labels?|saliency)\b", re.I)
COMMAND = re.compile(r"/[a-z]+\b")
SHOWN = ("sendMessage", "sendPhoto", "editMessageText", "editMessageCaption", "editMessageMedia")
STUDY = "the Vision Lab at Example University"
CONTACT = "vision-study@example.org"


@pytest.fixture
def study_bot(
    fake: FakeTelegram, bot_env: Engine, collection: Collection, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BotRunner]:
    monkeypatch.setenv("STUDY_NAME", STUDY)
    monkeypatch.setenv("STUDY_CONTACT", CONTACT)
    get_settings.cache_clear()
    runner = BotRunner(fake, rate_limiter=False).start()
    yield runner
    runner.stop()


def brightness(data: bytes) -> float:
    return float(np.asarray(Image.open(io.BytesIO(data)).convert("L")).mean())


def plain(text: str, allowed: list[str]) -> str:
    """`text` without the class names and typed words it may legitimately contain."""
    for phrase in sorted(allowed, key=len, reverse=True):
        text = re.sub(re.escape(phrase), " ", text, flags=re.I)
    return text


def test_a_new_player_meets_plain_words_visible_stakes_and_a_payoff(
    study_bot: BotRunner, fake: FakeTelegram, collection: Collection
) -> None:
    player = Player(fake, 5151)
    start = fake.requests()[-1].seq if fake.requests() else 0
    typed = ["stripes", "pointy ears", "whiskers", "Mira the Great"]

    # /start: who runs the study, what the game is, scoring, what is kept and shared.
    welcome = player.say("/start")
    for needed in (
        STUDY,
        CONTACT,
        "100 points",
        "minus 10 for each Show more",
        "streak bonus",
        "another player also gave",
        "while the study runs",
        "exactly as you typed them",
        "leaderboards, also in groups",
        "hidden checks",
        "cannot recall exports already made",
    ):
        assert needed in welcome.text, needed
    pressed = player.press("c:1")
    thanks = player.wait("editMessageText", after=pressed)
    assert "1. /play" in thanks.text and thanks.callback_data == ["n"]

    # The challenge: progress dots and the points at stake, edited in place.
    photo = player.play()
    assert "Challenge 1 ●○○○○○ now worth 100 points" in photo.text
    dark = brightness(next(iter(photo.files.values())))
    for level in (1, 2):
        pressed = player.press(prefix="h:")
        edit = player.wait("editMessageMedia", after=pressed)
        assert "●" * (level + 1) in edit.text and f"worth {100 - 10 * level} points" in edit.text
    pressed = player.press(prefix="g:")
    choices = player.wait("editMessageCaption", after=pressed)
    assert "What did the AI take this for?" in choices.text and "worth 80 points" in choices.text
    names = [b["text"] for b in choices.buttons if b["callback_data"].startswith("o:")]
    assert len(names) >= 4

    # The payoff: the whole photo, the AI's answer and confidence, the stage named only now.
    assert not re.search(r"\b(early|middle|late)\b", photo.text + edit.text + choices.text)
    pressed = player.press(
        next(b for b in choices.buttons if b["callback_data"].startswith("o:"))["callback_data"]
    )
    result = player.wait("editMessageMedia", after=pressed, predicate=lambda r: r.ok)
    assert result.params["message_id"] == photo.result["message_id"]
    assert re.search(r"The AI took this for: .+ \(90% sure\)\.", result.text), result.text
    assert re.search(r"at an? (early|middle|late) stage", result.text)
    assert "What made you guess?" in result.text
    assert brightness(next(iter(result.files.values()))) > dark + 20, "the whole photo is shown"

    # Words: one message, edited in place, with Done; the summary replaces the photo's caption.
    sent = player.send("stripes, pointy ears")
    words = player.wait("sendMessage", after=sent)
    sent = player.send("whiskers")
    listed = player.wait("editMessageText", after=sent)
    assert listed.params["message_id"] == words.result["message_id"]
    assert "stripes, pointy ears, whiskers" in listed.text and listed.callback_data[0].startswith(
        "d:"
    )
    pressed = player.press(listed.callback_data[0], message_id=words.result["message_id"])
    summary = player.wait("editMessageCaption", after=pressed)
    assert summary.params["message_id"] == photo.result["message_id"]
    assert "3 words saved" in summary.text and summary.callback_data == ["n"]

    # Score, names, leaderboard, help.
    score = player.say("/score")
    assert "/nickname" in score.text
    usage = player.say("/nickname")
    assert usage.text.startswith("Your name on leaderboards is ") and "To change it" in usage.text
    assert "now" not in usage.text
    renamed = player.say("/nickname Mira the Great")
    assert "Mira the Great" in renamed.text
    board = player.say("/leaderboard")
    assert "Mira the Great" in board.text
    helped = player.say("/help")
    assert helped.text.startswith(texts.HOW_TO) and texts.SCORING in helped.text
    assert "/stats" not in helped.text and "/export" not in helped.text

    # The next challenge, given up: the whole photo with the AI's answer.
    pressed = player.press("n")
    player.wait("sendPhoto", after=pressed, predicate=lambda r: r.ok)
    pressed = player.press(prefix="r:")
    gave_up = player.wait("editMessageMedia", after=pressed, predicate=lambda r: r.ok)
    assert gave_up.text.startswith("You gave up. The AI took this for: ")
    assert gave_up.callback_data == ["n"]

    # /forget, confirmed.
    asked = player.say("/forget")
    pressed = player.press(asked.callback_data[0])
    player.wait("editMessageText", after=pressed)
    fake.settle()

    class_names = [texts.class_label(name) for name in collection.classes]
    class_names += [part.strip() for name in collection.classes for part in name.split(",")]
    allowed = class_names + typed
    shown: list[Recorded] = [
        r
        for r in fake.requests(since=start)
        if r.method in SHOWN and r.chat_id == player.user_id and r.ok
    ]
    answers = [r for r in fake.requests("answerCallbackQuery", since=start) if r.ok]
    assert len(shown) >= 19  # every step above
    for request in shown:
        text = request.text or ""
        assert not FORBIDDEN.search(plain(text, allowed)), (request.method, text)
        if request.method in ("sendPhoto", "editMessageCaption", "editMessageMedia"):
            assert len(text) <= texts.MAX_SHORT_CAPTION, (len(text), text)
        assert request.buttons or COMMAND.search(text), f"no next action: {text!r}"
    for request in answers:
        text = request.params.get("text") or ""
        assert not FORBIDDEN.search(plain(text, allowed)), text
    assert not fake.violations
