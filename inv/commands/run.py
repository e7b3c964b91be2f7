"""`inv run`: what `make run` does. With TELEGRAM_BOT_TOKEN set, explain the demo photos into
DATA_DIR and serve real Telegram users; without it, the offline demo.

Either way the database is first created or migrated (`inv init`). The photos are explained in a
child process, so that the bot's process never holds the classifier.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from inv.commands import bot, demo, init

if TYPE_CHECKING:
    from inv.settings import Settings

HELP = "serve Telegram users when TELEGRAM_BOT_TOKEN is set, else run the offline demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: each step runs with its own defaults and the settings."""


def _arguments(command: ModuleType, argv: Sequence[str] = ()) -> argparse.Namespace:
    """`command`'s arguments as its own parser reads `argv` (its defaults for the rest)."""
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(list(argv))


def run(args: argparse.Namespace, settings: Settings) -> int:
    status = init.run(_arguments(init), settings)
    if status:
        return status
    if not settings.token:
        return demo.run(_arguments(demo), settings)
    print(
        "TELEGRAM_BOT_TOKEN is set: explaining the demo photos, "
        "then serving Telegram users (Ctrl+C stops)."
    )
    status = subprocess.call([sys.executable, "-m", "inv.cli", "demo", "--prepare-only"])
    if status:
        return status
    return bot.run(_arguments(bot), settings)
