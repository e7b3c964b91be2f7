"""The one factory of inv's Telegram application, and ways to run it.

    app = build_application(config, rebuild=rebuild)
    app.run_polling(...)                      # what `inv bot` does

`build_application` wires a real python-telegram-bot 22 `Application`: base_url / base_file_url
from its config (a local or fake Bot API in tests), `PerChatRateLimiter` with retries wrapped in
`ResilientRateLimiter`, the per-user flood limit on incoming updates, the JobQueue (leaderboard posts, scheduled rebuild), the error handler,
and per-user ordered concurrent update processing. `BotThread` runs it in a background thread
with long polling (tests, the benchmark and the demo).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, TypeHandler

from bot import admin, flood, handlers, texts
from bot.config import BotConfig
from bot.ratelimit import PerChatRateLimiter
from bot.redact import protect_token, quiet_url_loggers
from bot.runtime import (
    DbRunner,
    PerUserUpdateProcessor,
    ResilientRateLimiter,
    shorten_switch_interval,
)
from bot.services import Services
from storage.db import make_engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timeouts:
    """HTTP timeouts (seconds) of Bot API requests; tests use short ones."""

    connect: float = 5.0
    read: float = 10.0
    write: float = 20.0
    pool: float = 5.0
    get_updates_read: float = 40.0


def telegram_limiter(retries: int) -> PerChatRateLimiter:
    """Pacing at Telegram's rates where a 429 pauses only the chat it was about."""
    return PerChatRateLimiter(max_retries=retries)


def build_application(
    settings: BotConfig,
    *,
    token: str | None = None,
    base_url: str | None = None,
    base_file_url: str | None = None,
    concurrency: int = 16,
    rate_limiter: bool = True,
    retries: int = 3,
    retry_backoff: float = 0.5,
    timeouts: Timeouts = Timeouts(),
    db_workers: int | None = None,
    jobs: bool = True,
    rng: random.Random | None = None,
    flood_rate: float | None = None,
    flood_burst: int | None = None,
    rebuild: Callable[..., Any] | None = None,
) -> Application:
    """A ready-to-run Application for `settings` (token and URLs may be overridden).

    `rebuild(full=..., progress=...)` runs the rebuild behind /rebuild and the scheduled job;
    without it the bot offers neither.
    """
    quiet_url_loggers()
    token = token or settings.token
    if not token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    protect_token(token)
    limiter = ResilientRateLimiter(
        telegram_limiter(retries) if rate_limiter else None,
        retries=retries,
        backoff=retry_backoff,
    )
    builder: ApplicationBuilder = (
        Application.builder()
        .token(token)
        .base_url(base_url or settings.telegram_api_base_url)
        .base_file_url(base_file_url or settings.telegram_api_base_file_url or "")
        .rate_limiter(limiter)
        .concurrent_updates(PerUserUpdateProcessor(max(1, concurrency)))
        .connect_timeout(timeouts.connect)
        .read_timeout(timeouts.read)
        .write_timeout(timeouts.write)
        .pool_timeout(timeouts.pool)
        # httpcore checks every idle connection on each request: no more than the handlers can use.
        .connection_pool_size(max(2, concurrency + 1))
        .get_updates_read_timeout(timeouts.get_updates_read)
        .get_updates_connect_timeout(timeouts.connect)
        .get_updates_pool_timeout(timeouts.pool)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    app = builder.build()
    workers = db_workers or (1 if settings.is_sqlite else 2)
    app.bot_data["services"] = Services(
        settings=settings,
        db=DbRunner(workers, make_engine(settings.database_url, pool=workers), owns_engine=True),
        rng=rng or random.Random(),
        rebuild=rebuild,
    )
    app.bot_data["flood"] = flood.FloodGate(
        settings.flood_rate if flood_rate is None else flood_rate,
        settings.flood_burst if flood_burst is None else flood_burst,
    )
    # Group -1 runs before every handler and can stop an update from reaching them.
    app.add_handler(TypeHandler(Update, flood.guard), group=-1)
    handlers.register(app, admin.admin_handlers(rebuild is not None))
    if jobs:
        admin.schedule_jobs(
            app,
            leaderboard_interval=settings.leaderboard_interval,
            rebuild_interval=settings.rebuild_interval if rebuild is not None else None,
        )
    return app


def command_lists(*, rebuild_available: bool) -> dict[str, list[BotCommand]]:
    """Commands per scope: players (default), groups, researchers (their private chats)."""
    players = [BotCommand(c, d) for c, d in texts.PLAYER_COMMANDS]
    groups = [BotCommand(c, d) for c, d in texts.GROUP_COMMANDS]
    researchers = players + [
        BotCommand(c, d) for c, d in texts.ADMIN_COMMANDS if rebuild_available or c != "rebuild"
    ]
    return {"default": players, "groups": groups, "admins": researchers}


async def register_commands(app: Application) -> None:
    """setMyCommands for every scope; a researcher who never opened the chat is skipped."""
    svc: Services = app.bot_data["services"]
    lists = command_lists(rebuild_available=svc.rebuild is not None)
    await app.bot.set_my_commands(lists["default"], scope=BotCommandScopeDefault())
    await app.bot.set_my_commands(lists["groups"], scope=BotCommandScopeAllGroupChats())
    for admin_id in svc.settings.admin_user_ids:
        try:
            await app.bot.set_my_commands(lists["admins"], scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:
            log.info("researcher commands not registered for one admin chat: %s", exc)


async def _post_init(app: Application) -> None:
    app.bot_data["switch_interval_before"] = shorten_switch_interval()
    await register_commands(app)


async def _post_shutdown(app: Application) -> None:
    svc: Services = app.bot_data["services"]
    svc.db.shutdown()
    svc.rebuild_pool.shutdown(wait=False)
    before = app.bot_data.pop("switch_interval_before", None)
    if before is not None:
        sys.setswitchinterval(before)


# ---- running ------------------------------------------------------------------------------------


async def start(
    app: Application, *, poll_timeout: float = 10.0, poll_interval: float = 0.0
) -> None:
    """What run_polling does before it blocks: initialise, post_init, poll, start."""
    await app.initialize()
    if app.post_init is not None:
        await app.post_init(app)
    assert app.updater is not None
    await app.updater.start_polling(
        poll_interval=poll_interval, timeout=int(poll_timeout), allowed_updates=Update.ALL_TYPES
    )
    await app.start()


async def stop(app: Application) -> None:
    """Stop fetching, finish every update already fetched, shut down (nothing is lost)."""
    assert app.updater is not None
    if app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    await app.shutdown()
    if app.post_shutdown is not None:
        await app.post_shutdown(app)


class BotThread:
    """An Application polling on its own thread and event loop (tests, benchmark, demo)."""

    def __init__(
        self, app: Application, *, poll_timeout: float = 2.0, poll_interval: float = 0.0
    ) -> None:
        self.app = app
        self.poll_timeout = poll_timeout
        self.poll_interval = poll_interval
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> BotThread:
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self.loop = loop
            try:
                loop.run_until_complete(
                    start(
                        self.app, poll_timeout=self.poll_timeout, poll_interval=self.poll_interval
                    )
                )
            except BaseException as exc:
                ready.set_exception(exc)
                loop.close()
                return
            ready.set_result(None)
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="inv-bot", daemon=True)
        self._thread.start()
        ready.result(timeout=30)
        return self

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the bot's loop and wait for its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop is None or self._thread is None:
            return
        try:
            self.call(stop(self.app), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop = None
            self._thread = None

    def __enter__(self) -> BotThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
