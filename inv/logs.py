"""Logging of every `inv` command: one format, LOG_LEVEL, and never the bot token."""

from __future__ import annotations

import logging

from bot.redact import protect_token
from inv.settings import Settings

# Loggers that are chatty at INFO: httpx prints request URLs (which contain the token), the others
# print a line per migration step or per scheduled job.
NOISY_LOGGERS = ("httpx", "httpcore", "alembic", "apscheduler.executors.default")


def configure_logging(settings: Settings) -> None:
    """Root logging at LOG_LEVEL; the bot token never reaches a log line."""
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if settings.token:
        protect_token(settings.token)
