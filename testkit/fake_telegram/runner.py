"""`FakeTelegram`: the fake Bot API server on its own thread, with a synchronous, thread-safe API.

All state lives on the server's event loop; every method here hops onto that loop and back, so
tests (synchronous), the bot (on another loop) and the server never share data unsafely.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from testkit.fake_telegram.app import make_app
from testkit.fake_telegram.server import DEFAULT_TOKEN, FakeState, Fault, Recorded
from testkit.fake_telegram.validate import Violation

T = TypeVar("T")


@dataclass(frozen=True)
class Sent:
    """What an injected action produced: its update and the request counter at that moment."""

    update_id: int | None
    chat_id: int | None
    message_id: int | None
    seq: int
    query_id: str | None = None


class FakeTelegram:
    """A fake Bot API server on 127.0.0.1 (see the package docstring for the whole API)."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "inv_test_bot",
    ) -> None:
        self.token = token
        self.host = host
        self._port = port
        self._bot_username = bot_username
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._state: FakeState | None = None
        self._cond = threading.Condition()
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                return
            ready.set_result(None)
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-telegram", daemon=True)
        self._thread.start()
        ready.result(timeout=30)
        return self

    async def _serve(self) -> None:
        self._state = FakeState(self.token, bot_username=self._bot_username)
        self._state.listeners.append(self._wake)
        self._runner = web.AppRunner(make_app(self._state), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._state is not None:
            self._state.close()
            await asyncio.sleep(0)
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For TELEGRAM_API_BASE_URL / ApplicationBuilder.base_url."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        return self.call(lambda s: dict(s.bot_user))

    # ---- running code on the server loop -----------------------------------------------------

    def call(self, fn: Callable[[FakeState], T]) -> T:
        """Run `fn(state)` on the server loop and return its result (exceptions propagate)."""
        if self._loop is None or self._state is None:
            raise RuntimeError("the fake Telegram server is not running")
        state = self._state
        if threading.current_thread() is self._thread:
            return fn(state)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def task() -> None:
            try:
                future.set_result(fn(state))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(task)
        return future.result(timeout=30)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def wait_until(
        self, predicate: Callable[[FakeState], T], timeout: float = 5.0, message: str = "condition"
    ) -> T:
        """Block until `predicate(state)` is truthy (evaluated on the server loop); return it."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.call(predicate)
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {message}")
            with self._cond:
                self._cond.wait(timeout=min(remaining, 0.05))

    # ---- users and chats ---------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str = "",
        username: str | None = None,
        language_code: str = "en",
    ) -> dict[str, Any]:
        return self.call(lambda s: dict(s.add_user(user_id, first_name, username, language_code)))

    def add_group(
        self,
        chat_id: int,
        title: str = "Group",
        *,
        admins: list[int] | None = None,
        members: list[int] | None = None,
        creator: int | None = None,
        channel: bool = False,
    ) -> dict[str, Any]:
        return self.call(
            lambda s: dict(
                s.add_group(
                    chat_id, title, admins=admins, members=members, creator=creator, channel=channel
                )
            )
        )

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends to their chat answer 403 from now on."""
        self.call(lambda s: s.blocked.add(user_id))

    def unblock(self, user_id: int) -> None:
        self.call(lambda s: s.blocked.discard(user_id))

    # ---- injecting updates -------------------------------------------------------------------

    def _sent(
        self, s: FakeState, msg: dict[str, Any] | None = None, query: dict[str, Any] | None = None
    ) -> Sent:
        update_id = s.last_update_id
        if query is not None:
            message = query["message"]
            return Sent(
                update_id,
                message["chat"]["id"],
                message["message_id"],
                len(s.requests),
                query["id"],
            )
        assert msg is not None
        return Sent(update_id, msg["chat"]["id"], msg["message_id"], len(s.requests))

    def send(
        self, user_id: int, text: str, *, chat_id: int | None = None, reply_to: int | None = None
    ) -> Sent:
        """The user sends `text` (a /command gets its entity) in their private chat or `chat_id`."""
        return self.call(
            lambda s: self._sent(
                s, s.user_message(user_id, text, chat_id=chat_id, reply_to=reply_to)
            )
        )

    def send_media(
        self, user_id: int, kind: str, *, chat_id: int | None = None, caption: str | None = None
    ) -> Sent:
        """The user sends a sticker, photo, voice, document, location, video, audio or contact."""
        return self.call(
            lambda s: self._sent(s, s.user_media(user_id, kind, chat_id=chat_id, caption=caption))
        )

    def edit(self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None) -> Sent:
        """The user edits one of their messages (an `edited_message` update)."""
        return self.call(
            lambda s: self._sent(s, s.user_edit(user_id, message_id, text, chat_id=chat_id))
        )

    def press(
        self,
        user_id: int,
        data: str | None = None,
        *,
        prefix: str | None = None,
        message_id: int | None = None,
        chat_id: int | None = None,
        forge: bool = False,
    ) -> Sent:
        """The user presses an inline button (see FakeState.press)."""
        return self.call(
            lambda s: self._sent(
                s,
                query=s.press(
                    user_id,
                    data,
                    prefix=prefix,
                    message_id=message_id,
                    chat_id=chat_id,
                    forge=forge,
                ),
            )
        )

    def channel_post(self, chat_id: int, text: str) -> Sent:
        return self.call(lambda s: self._sent(s, s.channel_post(chat_id, text)))

    def member_update(
        self,
        chat_id: int,
        old: str,
        new: str,
        *,
        actor_id: int | None = None,
        subject_id: int | None = None,
    ) -> Sent:
        """The bot's membership (or `subject_id`'s) in `chat_id` changes from `old` to `new`."""

        def run(s: FakeState) -> Sent:
            s.member_update(chat_id, old, new, actor_id=actor_id, subject_id=subject_id)
            return Sent(s.last_update_id, chat_id, None, len(s.requests))

        return self.call(run)

    def inject(self, update: dict[str, Any]) -> int:
        """Queue a raw update dict; returns its update_id."""
        return self.call(lambda s: s.inject(update))

    # ---- faults ----------------------------------------------------------------------------

    def fail(
        self,
        kind: str,
        *,
        method: str | None = None,
        chat_id: int | None = None,
        times: int = 1,
        retry_after: int = 1,
        status: int = 500,
        delay: float = 1.0,
        description: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests with a fault: 429, 5xx, 403, 400 or timeout."""
        fault = Fault(kind, method, chat_id, times, retry_after, status, delay, description)
        self.call(lambda s: s.add_fault(fault))

    def clear_faults(self) -> None:
        self.call(lambda s: s.faults.clear())

    # ---- reading ---------------------------------------------------------------------------

    def requests(
        self, method: str | None = None, *, chat_id: int | None = None, since: int = 0
    ) -> list[Recorded]:
        """Recorded requests (optionally of one method / to one chat) with seq > since."""

        def pick(s: FakeState) -> list[Recorded]:
            return [
                r
                for r in s.requests[since:]
                if (method is None or r.method == method)
                and (chat_id is None or r.chat_id == chat_id)
            ]

        return self.call(pick)

    def wait_for(
        self,
        method: str | None = None,
        *,
        chat_id: int | None = None,
        after: int | Sent = 0,
        predicate: Callable[[Recorded], bool] | None = None,
        timeout: float = 5.0,
    ) -> Recorded:
        """The first recorded request after `after` matching method/chat/predicate (waits for it)."""
        since = after.seq if isinstance(after, Sent) else after

        def find(s: FakeState) -> Recorded | None:
            for rec in s.requests[since:]:
                if method is not None and rec.method != method:
                    continue
                if chat_id is not None and rec.chat_id != chat_id:
                    continue
                if predicate is not None and not predicate(rec):
                    continue
                return rec
            return None

        return self.wait_until(
            find, timeout, f"{method or 'a request'} to chat {chat_id} after #{since}"
        )

    def settle(self, quiet: float = 0.15, timeout: float = 5.0) -> None:
        """Wait until every update was handed out and no request arrived for `quiet` seconds."""
        deadline = time.monotonic() + timeout

        def snapshot(s: FakeState) -> tuple[int, int, int]:
            answered = sum(1 for r in s.requests if r.method != "getUpdates")
            return (len(s._queue) if s.webhook is None else 0, s.handed_out >= s.injected, answered)

        last = self.call(snapshot)
        stable_since = time.monotonic()
        while True:
            time.sleep(0.02)
            now = self.call(snapshot)
            if now != last:
                last, stable_since = now, time.monotonic()
            elif now[1] and time.monotonic() - stable_since >= quiet:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the bot did not settle")

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The chat as its members see it now: every message with edits applied, oldest first."""
        return self.call(lambda s: [dict(m) for m in s.chat_messages(chat_id)])

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        return self.call(lambda s: [dict(m) for m in s.bot_messages(chat_id)])

    def file_bytes(self, file_id: str) -> bytes:
        return self.call(lambda s: s.files[file_id].data)

    def callback_answer(self, query_id: str) -> dict[str, Any] | None:
        return self.call(lambda s: dict(s.queries.get(query_id) or {}) or None)

    @property
    def violations(self) -> list[Violation]:
        return self.call(lambda s: list(s.violations))

    @property
    def unsupported(self) -> list[str]:
        return self.call(lambda s: list(s.unsupported))

    def stats(self) -> dict[str, Any]:
        return self.call(lambda s: s.stats())

    def commands(self) -> dict[str, list[dict[str, Any]]]:
        return self.call(lambda s: dict(s.commands))

    def reset(self) -> None:
        """Forget everything (updates, chats, messages, files, requests, faults)."""
        self.call(lambda s: s.reset())
