"""How the shell hands the libraries their configuration and each other's functions.

The bot never imports the rebuild (it would bring the label models' libraries into the bot's
imports); the shell gives it the rebuild as a function bound to this application's data folder,
label models and database.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from inv.settings import Settings
from storage.db import get_engine

if TYPE_CHECKING:
    from telegram.ext import Application

    from engine.rebuild import RebuildReport


def precompute_options(settings: Settings) -> dict[str, Any]:
    """The arguments of `engine.precompute.precompute` that settings choose."""
    return {
        "data_dir": settings.data_dir,
        "model": settings.model,
        "weights": settings.weights,
        "layers": settings.layers,
        "reduction": settings.reduction,
    }


def rebuild_function(settings: Settings) -> Callable[..., RebuildReport]:
    """`rebuild(full=..., progress=...)` for this application's data and database."""
    from engine.rebuild import rebuild

    return partial(
        rebuild,
        data_dir=settings.data_dir,
        labels=settings.label_config(),
        weights=settings.weights,
        engine=get_engine(settings.sqlalchemy_url),
    )


def bot_application(settings: Settings, **options: Any) -> Application:
    """The Telegram application for `settings`, with /rebuild; `options` go to the builder."""
    from bot.app import build_application

    options.setdefault("rebuild", rebuild_function(settings))
    return build_application(settings.bot_config(), **options)
