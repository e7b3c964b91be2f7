"""Plumbing between python-telegram-bot and the game: ordering, the database thread, retries.

- `PerUserUpdateProcessor`: updates of different users run concurrently (up to a limit); one
  user's updates run one after another, in the order Telegram sent them.
- `DbRunner`: the game's synchronous database functions run in worker threads, never on the
  event loop (SQLite: one writer thread, so writers queue instead of spinning on the file lock).
- `ResilientRateLimiter`: a rate limiter (bot.ratelimit: Telegram's 30 messages/s overall, 20/min
  per group, a 429's retry_after honoured in its own chat) plus retries of transient failures (5xx, timeouts, network).
  With `limiter=None` it only retries (and still honours 429), which is the benchmark's
  "rate limiter off".
- `shorten_switch_interval`: the interpreter hands its lock between the event loop and the
  database threads sooner while the bot runs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from telegram import Update
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter, BaseUpdateProcessor

from bot import dbcontext

log = logging.getLogger(__name__)
T = TypeVar("T")

# The event loop and the database threads share one interpreter lock, and a thread running
# Python code keeps it for up to the switch interval (5 ms by default) before a waiting thread
# gets a turn. One update hands over several times (the job to the database thread, its result
# back, each HTTP send), so at the default the loop spends much of an update waiting for the lock
# while neither thread is busy. In benchmarks/bot_load.py 0.5 ms raised the ceiling by about a
# fifth and halved the median latency; the cost is a little more switching in CPU-bound threads.
SWITCH_INTERVAL_S = 0.0005


def shorten_switch_interval(interval: float = SWITCH_INTERVAL_S) -> float:
    """Set the interpreter's switch interval to `interval`; returns the value it replaced."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    return before


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across users, sequential per user (or per chat for updates without a user)."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    @staticmethod
    def _key(update: object) -> int | None:
        if isinstance(update, Update):
            if update.effective_user is not None:
                return update.effective_user.id
            if update.effective_chat is not None:
                return update.effective_chat.id
        return None

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = self._key(update)
        if key is None:
            await super().process_update(update, coroutine)
            return
        # The application starts one task per update in arrival order; asyncio.Lock wakes waiters
        # first-in first-out, so taking the user's lock before the shared semaphore keeps order.
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                await super().process_update(update, coroutine)
        finally:
            self._waiting[key] -= 1
            if self._waiting[key] == 0:
                del self._waiting[key]
                self._locks.pop(key, None)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class DbRunner:
    """Runs synchronous database functions in dedicated worker threads.

    The threads use a pooled engine (`storage.db.make_engine(url, pool=N)`), so each keeps its
    SQLite connection open between updates.
    """

    def __init__(
        self, workers: int = 1, engine: Engine | None = None, *, owns_engine: bool = False
    ) -> None:
        self.workers = workers
        self.engine = engine
        self.owns_engine = owns_engine
        self._pool = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="inv-db",
            initializer=dbcontext.bind,
            initargs=(engine,),
        )

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
        if self.engine is not None and self.owns_engine:
            self.engine.dispose()


def is_transient(exc: BaseException) -> bool:
    """5xx answers, timeouts and connection errors (BadRequest is a NetworkError in PTB; not it)."""
    return isinstance(exc, NetworkError) and not isinstance(exc, BadRequest)


class ResilientRateLimiter(BaseRateLimiter[int]):
    """Wraps an optional rate limiter and retries transient failures with backoff."""

    def __init__(
        self,
        limiter: BaseRateLimiter[int] | None,
        *,
        retries: int = 3,
        backoff: float = 0.5,
        max_retry_after: float = 60.0,
    ) -> None:
        self.limiter = limiter
        self.retries = retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after

    async def initialize(self) -> None:
        if self.limiter is not None:
            await self.limiter.initialize()

    async def shutdown(self) -> None:
        if self.limiter is not None:
            await self.limiter.shutdown()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        attempt = 0
        while True:
            try:
                if self.limiter is not None:
                    return await self.limiter.process_request(
                        callback, args, kwargs, endpoint, data, rate_limit_args
                    )
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                # Only reached without the inner limiter (it retries 429s itself) or when it gave up.
                if self.limiter is not None or attempt >= self.retries:
                    raise
                delay = (
                    exc.retry_after.total_seconds()
                    if hasattr(exc.retry_after, "total_seconds")
                    else float(exc.retry_after)
                )  # type: ignore[union-attr]
                if delay > self.max_retry_after:
                    raise
                log.warning("Telegram asked to wait %.1f s before %s; waiting", delay, endpoint)
                await asyncio.sleep(delay)
            except NetworkError as exc:
                if not is_transient(exc) or attempt >= self.retries:
                    raise
                delay = self.backoff * (2**attempt)
                log.warning(
                    "%s failed (%s); retry %d of %d in %.1f s",
                    endpoint,
                    exc.__class__.__name__,
                    attempt + 1,
                    self.retries,
                    delay,
                )
                await asyncio.sleep(delay)
            attempt += 1
