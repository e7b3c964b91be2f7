"""What the bot prints about itself: the token never, raw Telegram ids never at INFO or above."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.redact import RedactToken, redact
from inv.settings import get_settings
from testkit.fake_telegram import FakeTelegram

WRONG_TOKEN = "999:wrong-secret-half"


def _inv() -> str:
    return shutil.which("inv", path=str(Path(sys.executable).parent)) or "inv"


def _env(fake: FakeTelegram, token: str, **extra: str) -> dict[str, str]:
    settings = get_settings()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env.update(
        INV_ENV_FILE="",
        DATA_DIR=str(settings.data_dir),
        DATABASE_URL=settings.sqlalchemy_url,
        TELEGRAM_BOT_TOKEN=token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        PSEUDONYM_SECRET="test-pseudonym-secret-of-enough-length-0123",
        **extra,
    )
    return env


def test_a_rejected_token_is_one_line_naming_botfather_and_exit_status_2(
    fake: FakeTelegram, bot_env: Engine
) -> None:
    result = subprocess.run(
        [_inv(), "bot"], env=_env(fake, WRONG_TOKEN), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "rejected" in lines[0] and "@BotFather" in lines[0]
    assert "wrong-secret-half" not in lines[0]


def test_a_rejected_token_is_never_printed_even_at_debug(
    fake: FakeTelegram, bot_env: Engine
) -> None:
    result = subprocess.run(
        [_inv(), "bot"],
        env=_env(fake, WRONG_TOKEN, LOG_LEVEL="DEBUG"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "wrong-secret-half" not in result.stdout + result.stderr
    assert "@BotFather" in result.stderr


def test_tracebacks_that_quote_the_token_are_redacted() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed with %s", ("a",), None)
    try:
        raise RuntimeError(f"The token `{WRONG_TOKEN}` was rejected")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    RedactToken(WRONG_TOKEN).filter(record)
    text = logging.Formatter().format(record)
    assert "wrong-secret-half" not in text and "<token>" in text
    assert redact(f"https://x/bot{WRONG_TOKEN}/getMe", WRONG_TOKEN) == "https://x/bot<token>/getMe"


@pytest.mark.parametrize("token", ["", "no-colon-token"])
def test_redact_without_a_bot_id(token: str) -> None:
    assert redact(f"url {token} end", token) == (
        f"url {token} end" if not token else "url <token> end"
    )


def test_a_webhook_secret_on_the_command_line_is_refused(
    fake: FakeTelegram, bot_env: Engine
) -> None:
    result = subprocess.run(
        [_inv(), "bot", "--webhook-url", "https://example.org/hook", "--webhook-secret", "abc"],
        env=_env(fake, fake.token),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "WEBHOOK_SECRET" in result.stderr and "ps" in result.stderr
    assert fake.requests("setWebhook") == []
