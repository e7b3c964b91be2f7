"""The command line's logging: whatever logger writes the bot token, the log shows `<token>`."""

from __future__ import annotations

import logging

import pytest

from inv.logs import configure_logging
from inv.settings import Settings

TOKEN = "123456:secret-part-of-the-token"


def test_the_token_is_replaced_in_every_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    configure_logging(Settings(telegram_bot_token=TOKEN, log_level="DEBUG"))
    logging.getLogger("some.library").info("GET https://api.telegram.org/bot%s/getMe", TOKEN)
    logging.getLogger("telegram.ext.ExtBot").debug("Set Bot API URL: base/bot%s", TOKEN)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert all(TOKEN not in m and "<token>" in m for m in messages), messages


def test_request_urls_stay_below_info() -> None:
    configure_logging(Settings(log_level="DEBUG"))
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
