"""What the bot needs to know, handed to it by the application that starts it.

The application reads its settings once and builds this; the bot reads nothing else. Field names
follow the settings they come from (TELEGRAM_API_BASE_URL → `telegram_api_base_url`, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, kw_only=True)
class BotConfig:
    """The bot's configuration: Telegram, the database, the game's rules and its schedule.

    No defaults: the application's settings own them, so each is written once.
    """

    token: str | None
    database_url: str
    data_dir: Path
    pseudonym_key: bytes = field(repr=False)
    telegram_api_base_url: str
    telegram_api_base_file_url: str | None
    admin_user_ids: tuple[int, ...]
    # The game
    plays_per_challenge: int
    # Retire a challenge once the last rebuild found its top concept settled; serve unsettled first.
    adaptive_retirement: bool
    gold_rate: float
    daily_cap: int
    min_answer_seconds: float
    max_label_length: int
    # Photos the game may serve: the network's answer at least this confident, or its true class.
    min_confidence: float
    # Challenges before the same photo may come back to a player.
    photo_cooldown: int
    # Per-user limit on incoming updates: `flood_rate` per second, bursts of `flood_burst`.
    flood_rate: float
    flood_burst: int
    # Schedule (seconds)
    rebuild_interval: int
    leaderboard_interval: int
    # Who runs the study, shown in the consent text.
    study_name: str
    study_contact: str | None
    # The settings that shaped the data, recorded in /export's manifest.
    export_parameters: Mapping[str, Any]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def is_admin(self, telegram_user_id: int | None) -> bool:
        return telegram_user_id is not None and telegram_user_id in self.admin_user_ids
