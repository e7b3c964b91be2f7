"""A per-user limit on incoming updates: a token bucket per Telegram user.

Every message, command and button press of a user takes one token; tokens come back at
FLOOD_RATE per second up to FLOOD_BURST. An update that finds the bucket empty is dropped
before any handler runs (no database work, no reply), except that the first one of a run of
drops gets one "slow down" notice. Drops are counted for /stats; they are refusals, not losses.

The buckets live in memory: a restart forgets them, which only ever lets a user through.
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import texts

MAX_BUCKETS = 10_000  # above this, full (idle) buckets are forgotten


class Verdict(enum.Enum):
    PASS = "pass"
    NOTIFY = "notify"  # dropped; tell the user once
    DROP = "drop"  # dropped silently (already told)


@dataclass
class Bucket:
    tokens: float
    updated: float
    notified: bool = False


class FloodGate:
    """Token buckets per user id; `rate` <= 0 turns the limit off."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self.dropped = 0
        self.notices = 0
        self._buckets: dict[int, Bucket] = {}
        self._flooders: set[int] = set()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    @property
    def users_dropped(self) -> int:
        """How many different users had an update dropped (since the bot started)."""
        return len(self._flooders)

    def admit(self, user_id: int) -> Verdict:
        if not self.enabled:
            return Verdict.PASS
        now = self.clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            self._forget_idle(now)
            bucket = self._buckets[user_id] = Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.notified = False
            return Verdict.PASS
        self.dropped += 1
        self._flooders.add(user_id)
        if bucket.notified:
            return Verdict.DROP
        bucket.notified = True
        self.notices += 1
        return Verdict.NOTIFY

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) < MAX_BUCKETS:
            return
        full_after = self.burst / self.rate
        for user_id, bucket in list(self._buckets.items()):
            if now - bucket.updated >= full_after:
                del self._buckets[user_id]
        if len(self._flooders) > MAX_BUCKETS:
            self._flooders.clear()  # only a count for /stats; never used to refuse anyone


def _from_user(update: Update) -> int | None:
    """The user who sent this update, or None for updates Telegram itself sends (membership)."""
    if update.my_chat_member is not None or update.chat_member is not None:
        return None
    user = update.effective_user
    return user.id if user is not None else None


async def guard(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Handler of group -1: stop an update over its user's limit before any other handler."""
    gate: FloodGate | None = context.application.bot_data.get("flood")
    if gate is None or not isinstance(update, Update):
        return
    user_id = _from_user(update)
    if user_id is None:
        return
    verdict = gate.admit(user_id)
    if verdict is Verdict.PASS:
        return
    if verdict is Verdict.NOTIFY:
        # The notice is a courtesy: if it cannot be delivered, the update is still dropped.
        with contextlib.suppress(TelegramError):
            await _notify(update, context)
    raise ApplicationHandlerStop


async def _notify(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(texts.SLOW_DOWN_SHORT)
        return
    chat = update.effective_chat
    # Groups are not told: a notice there would itself be noise for everyone else.
    if chat is not None and chat.type == ChatType.PRIVATE:
        await context.bot.send_message(chat.id, texts.SLOW_DOWN)


def stats_line(gate: FloodGate | None) -> str:
    if gate is None or not gate.enabled:
        return "Flood limit: off."
    return (
        f"Flood limit ({gate.rate:g}/s, burst {gate.burst}): "
        f"{texts.plural(gate.dropped, 'update')} dropped from "
        f"{texts.plural(gate.users_dropped, 'user')} since the bot started."
    )
