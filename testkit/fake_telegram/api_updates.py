"""Bot API methods of the bot itself and its updates: getMe, getUpdates, webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from aiohttp import ClientSession, ClientTimeout

from testkit.fake_telegram.records import ApiError
from testkit.fake_telegram.state import World


class UpdatesApi(World):
    """Bot API methods of the bot itself and its updates: getMe, getUpdates, webhooks."""

    def api_getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        return self.bot_user

    def api_logOut(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        return True

    def api_close(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        return True

    async def api_getUpdates(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        if isinstance(offset, int) and offset != 0:
            # The offset confirms every earlier update: Telegram forgets them.
            if offset < 0:
                keep = -offset
                while len(self._queue) > keep:
                    self._queue.popleft()
                    self.confirmed += 1
            else:
                while self._queue and self._queue[0]["update_id"] < offset:
                    self._queue.popleft()
                    self.confirmed += 1
        limit = params.get("limit", 100)
        timeout = float(params.get("timeout", 0) or 0)
        allowed = params.get("allowed_updates")
        # A newer getUpdates call ends an older one that is still waiting, like Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        deadline = time.monotonic() + timeout
        while True:
            batch = [
                u
                for u in self._queue
                if not allowed or any(k in allowed for k in u if k != "update_id")
            ]
            if batch:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            async with self.changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), remaining)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure "
                    "that only one bot instance is running",
                )
        batch = batch[:limit]
        now = time.time()
        for update in batch:
            pending = self._pending.get(update["update_id"])
            if pending is not None:
                pending.handed_out_at = now
        self.handed_out += len(batch)
        return batch

    def api_setWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        self.webhook = {
            "url": params["url"],
            "secret_token": params.get("secret_token"),
            "allowed_updates": params.get("allowed_updates"),
        }
        if self._webhook_queue is None:
            self._webhook_queue = asyncio.Queue()
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver_webhooks())
        for update in list(self._queue):
            self._webhook_queue.put_nowait(update)
        self._queue.clear()
        return True

    def api_deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self.confirmed += len(self._queue)  # done with: the bot asked to drop them
            self._queue.clear()
        return True

    def api_getWebhookInfo(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }

    async def _deliver_webhooks(self) -> None:
        assert self._webhook_queue is not None
        async with ClientSession(timeout=ClientTimeout(total=10)) as session:
            while True:
                update = await self._webhook_queue.get()
                hook = self.webhook
                if hook is None:
                    self._queue.append(update)
                    continue
                headers = {"Content-Type": "application/json"}
                if hook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
                status = 0
                for _attempt in range(5):
                    try:
                        pending = self._pending.get(update["update_id"])
                        if pending is not None:
                            pending.handed_out_at = time.time()
                        async with session.post(
                            hook["url"], data=json.dumps(update), headers=headers
                        ) as resp:
                            status = resp.status
                        if status < 500:
                            break
                    except Exception:
                        status = -1
                    await asyncio.sleep(0.2)
                self.handed_out += 1
                self.confirmed += 1  # answered (or given up on): it is never delivered again
                self.webhook_deliveries.append({"update_id": update["update_id"], "status": status})
                self._notify()
