"""Outgoing pacing at Telegram's limits, where a 429 pauses only the chat it was about.

PTB's AIORateLimiter stops *every* request when any request gets `429 Too Many Requests`, so
one flooded chat made every other player wait out its retry_after. `PerChatRateLimiter` keeps
the same two limits (about 30 messages per second overall, 20 per minute in a group) but
remembers a retry_after per chat: later requests to that chat wait until it has passed, and
requests to other chats go on at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

# Telegram's limits (Bot FAQ): about 30 messages per second overall, 20 per minute in a group.
MESSAGES_PER_SECOND = 30
GROUP_MESSAGES_PER_MINUTE = 20
# How much longer than retry_after a paused chat waits (Telegram's clock is not ours).
RETRY_MARGIN_SECONDS = 0.1
MAX_GROUP_LIMITERS = 512

ChatKey = int | str


def retry_after_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def chat_key(data: dict[str, Any]) -> ChatKey | None:
    """The chat a request is about (an int id, or a '@channel' name), or None."""
    chat_id = data.get("chat_id")
    if chat_id is None:
        return None
    with contextlib.suppress(TypeError, ValueError):
        return int(chat_id)
    return str(chat_id)


def is_group(key: ChatKey | None) -> bool:
    return (isinstance(key, int) and key < 0) or isinstance(key, str)


class PerChatRateLimiter(BaseRateLimiter[int]):
    """Telegram's overall and per-group limits; a retry_after pauses its own chat only.

    Both limits are leaky buckets of one message, refilled every 1/30 s (every 3 s in a
    group): a bucket of 30 plus what drains during the next second would let up to twice the
    limit through in a sliding window, while a bucket of one keeps every window within it and
    an idle chat still sends at once.

    A request whose chat is paused waits before it takes a slot of either bucket, so a paused
    chat never holds up the others. A request without a chat (answerCallbackQuery) that gets
    a 429 waits and retries alone.
    """

    def __init__(
        self,
        *,
        messages_per_second: float = MESSAGES_PER_SECOND,
        group_messages_per_minute: float = GROUP_MESSAGES_PER_MINUTE,
        max_retries: int = 3,
        max_retry_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._overall = (
            AsyncLimiter(1, 1 / messages_per_second) if messages_per_second > 0 else None
        )
        self._group_period = 60 / group_messages_per_minute if group_messages_per_minute else 0.0
        self._groups: dict[ChatKey, AsyncLimiter] = {}
        self._paused_until: dict[ChatKey, float] = {}
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self._clock = clock

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    def paused_for(self, key: ChatKey | None) -> float:
        """Seconds the chat must still wait (0 when it may send)."""
        if key is None:
            return 0.0
        until = self._paused_until.get(key)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            self._paused_until.pop(key, None)
            return 0.0
        return left

    def pause(self, key: ChatKey, seconds: float) -> None:
        until = self._clock() + seconds
        self._paused_until[key] = max(until, self._paused_until.get(key, until))

    def _group_limiter(self, key: ChatKey) -> AsyncLimiter:
        if len(self._groups) > MAX_GROUP_LIMITERS:
            # Forget idle groups (their bucket is full again) so the dict stays small.
            for other, limiter in list(self._groups.items()):
                if other != key and limiter.has_capacity(limiter.max_rate):
                    del self._groups[other]
        limiter = self._groups.get(key)
        if limiter is None:
            limiter = self._groups[key] = AsyncLimiter(1, self._group_period)
        return limiter

    async def _send(
        self,
        key: ChatKey | None,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        while (wait := self.paused_for(key)) > 0:
            await asyncio.sleep(wait)
        group = (
            self._group_limiter(key)
            if key is not None and is_group(key) and self._group_period
            else contextlib.nullcontext()
        )
        overall = self._overall if key is not None and self._overall else contextlib.nullcontext()
        async with group, overall:
            # Pacing took time: a 429 of this chat may have arrived meanwhile.
            while (wait := self.paused_for(key)) > 0:
                await asyncio.sleep(wait)
            return await callback(*args, **kwargs)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        key = chat_key(data)
        retries = self.max_retries if rate_limit_args is None else rate_limit_args
        attempt = 0
        while True:
            try:
                return await self._send(key, callback, args, kwargs)
            except RetryAfter as exc:
                delay = retry_after_seconds(exc) + RETRY_MARGIN_SECONDS
                if attempt >= retries or delay > self.max_retry_after:
                    raise
                # No chat id here: chat ids of private chats are user ids.
                log.info("Telegram asked to wait %.1f s before %s to one chat", delay, endpoint)
                if key is None:
                    await asyncio.sleep(delay)
                else:
                    self.pause(key, delay)
            attempt += 1
