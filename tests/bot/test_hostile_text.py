"""Every text the crowd can type reaches the bot's handlers and gets a clear answer, never an error.

Hypothesis generates the text: callback data (forged presses), command arguments and label
messages, sent through the fake Bot API to the real Application. An error would show as the
apology to the player and as an alert to the researchers; neither may happen.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import texts
from bot.callbacks import MAX_CALLBACK_BYTES
from testkit.fake_telegram import FakeTelegram
from tests.bot.conftest import ADMIN_ID
from tests.bot.helpers import BotRunner, Player

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Arbitrary Unicode (no lone surrogates: Telegram sends UTF-8) plus the known troublemakers.
crowd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=80
) | st.sampled_from(
    [
        "$x^{$",
        "wheel$^{$x",
        "\\\\{}\\n",
        "\u202eevil\u202c",
        "a\u200bb\u200dc",
        "ㅤㅤㅤ",
        "<b>x</b>&amp;",
        '=HYPERLINK("http://x")',
        "👍" * 50,
        "x" * 4000,
        "!" * 999 + "a",
    ]
)

callback_data = st.one_of(
    st.text(min_size=1, max_size=64).filter(lambda s: len(s.encode()) <= MAX_CALLBACK_BYTES),
    st.from_regex(r"[hgordncf]:[-0-9٠-٩]{0,14}(:[-0-9]{0,14})?", fullmatch=True),
)


def _no_error(fake: FakeTelegram, since: int, caplog: pytest.LogCaptureFixture) -> None:
    sent = fake.requests("sendMessage", since=since)
    assert not any(r.text == texts.APOLOGY for r in sent)
    assert not any(r.chat_id == ADMIN_ID for r in sent)  # no alert
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def _mark(fake: FakeTelegram) -> int:
    requests = fake.requests()
    return requests[-1].seq if requests else 0


@FUZZ
@given(data=callback_data)
def test_any_callback_data_is_answered_without_an_error(
    bot: BotRunner, fake: FakeTelegram, caplog: pytest.LogCaptureFixture, data: str
) -> None:
    player = Player(fake, 91)
    if not fake.requests("sendPhoto", chat_id=91):
        player.join()
        player.play()
    since = _mark(fake)
    pressed = player.press(data, forge=True)
    assert player.wait_answer(pressed).ok
    fake.settle()
    _no_error(fake, since, caplog)


@FUZZ
@given(
    command=st.sampled_from(
        [
            "start",
            "play",
            "score",
            "leaderboard",
            "nickname",
            "help",
            "forget",
            "cancel",
            "subscribe",
            "unsubscribe",
            "stats",
            "export",
            "announce",
            "rebuild",
            "nosuch",
        ]
    ),
    argument=crowd_text,
)
def test_any_command_argument_gets_a_clear_answer(
    bot: BotRunner,
    fake: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
    command: str,
    argument: str,
) -> None:
    player = Player(fake, 92)
    if not fake.requests("editMessageText", chat_id=92):
        player.join()
    since = _mark(fake)
    reply = player.say(f"/{command} {argument}")
    assert reply.ok
    fake.settle()
    _no_error(fake, since, caplog)


@FUZZ
@given(message=crowd_text)
def test_any_label_message_gets_a_clear_answer(
    bot: BotRunner, fake: FakeTelegram, caplog: pytest.LogCaptureFixture, message: str
) -> None:
    player = Player(fake, 93)
    if not fake.requests("sendPhoto", chat_id=93):
        player.join()
        player.play()
        player.guess()
    since = _mark(fake)
    reply = player.say(message)
    assert reply.ok and reply.text
    fake.settle()
    _no_error(fake, since, caplog)
