"""What every handler reaches through the application: the bot's configuration, the database
thread, the random source, researcher alerts and the rebuild. Game state is not here: it is in
the database."""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from telegram.ext import ContextTypes

from bot.config import BotConfig
from bot.runtime import DbRunner

ADMIN_ALERT_INTERVAL = 60.0


Context = ContextTypes.DEFAULT_TYPE


@dataclass
class AdminAlerts:
    """Tell the researchers about errors, at most once per interval (the rest are counted)."""

    interval: float = ADMIN_ALERT_INTERVAL
    last_sent: float = float("-inf")
    suppressed: int = 0

    def due(self, now: float) -> int | None:
        """The number of errors to report now, or None while rate-limited."""
        self.suppressed += 1
        if now - self.last_sent < self.interval:
            return None
        count, self.suppressed, self.last_sent = self.suppressed, 0, now
        return count


@dataclass
class Services:
    """What handlers need besides the update: not game state (that is in the database)."""

    settings: BotConfig
    db: DbRunner
    rng: random.Random = field(default_factory=random.Random)
    alerts: AdminAlerts = field(default_factory=AdminAlerts)
    rebuild: Callable[..., Any] | None = None
    rebuild_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="inv-rebuild")
    )


def services(context: Context) -> Services:
    return context.application.bot_data["services"]
