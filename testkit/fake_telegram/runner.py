"""`FakeTelegram`: the fake Bot API server on its own thread, with a synchronous, thread-safe API.

All state lives on the server's event loop; every method here hops onto that loop and back, so
tests (synchronous), the bot (on another loop) and the server never share data unsafely. Most
methods are the state's own (`FakeState`: what users do in actions.py, the world in state.py),
made here by `_on_loop` with the same parameters and docstring, so they are declared once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from aiohttp import web

from testkit.fake_telegram.app import make_app
from testkit.fake_telegram.server import DEFAULT_TOKEN, FakeState, Fault, Recorded
from testkit.fake_telegram.validate import Violation

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


@dataclass(frozen=True)
class Sent:
    """What an injected action produced: its update and the request counter at that moment."""

    update_id: int | None
    chat_id: int | None
    message_id: int | None
    seq: int
    query_id: str | None = None


def _sent(state: FakeState, body: dict[str, Any]) -> Sent:
    """The Sent of an update a user action just injected (a message, or a membership change)."""
    return Sent(
        state.last_update_id, body["chat"]["id"], body.get("message_id"), len(state.requests)
    )


def _pressed(state: FakeState, query: dict[str, Any]) -> Sent:
    """The Sent of a button press just injected."""
    sent = _sent(state, query["message"])
    return Sent(sent.update_id, sent.chat_id, sent.message_id, sent.seq, query["id"])


def _copy(state: FakeState, value: dict[str, Any]) -> dict[str, Any]:
    return dict(value)


def _copies(state: FakeState, values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(v) for v in values]


def _as_is(state: FakeState, value: R) -> R:
    return value


def _on_loop(
    method: Callable[Concatenate[FakeState, P], R],
    result: Callable[[FakeState, R], T] = _as_is,  # type: ignore[assignment]
) -> Callable[Concatenate[FakeTelegram, P], T]:
    """`FakeTelegram.x(...)` for the state's `method`: the same call on the server loop, with its
    result turned into something safe to hand to another thread (a copy, or a `Sent`)."""

    @functools.wraps(method)
    def run(self: FakeTelegram, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.call(lambda s: result(s, method(s, *args, **kwargs)))

    if result is not _as_is:  # help() shows what the caller gets, not the state's result
        returns = inspect.signature(result).return_annotation
        run.__signature__ = inspect.signature(method).replace(return_annotation=returns)  # type: ignore[attr-defined]
    return run


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

    add_user = _on_loop(FakeState.add_user, _copy)
    add_group = _on_loop(FakeState.add_group, _copy)

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends to their chat answer 403 from now on."""
        self.call(lambda s: s.blocked.add(user_id))

    def unblock(self, user_id: int) -> None:
        self.call(lambda s: s.blocked.discard(user_id))

    # ---- injecting updates (what users do: actions.py) ---------------------------------------

    send = _on_loop(FakeState.user_message, _sent)
    send_media = _on_loop(FakeState.user_media, _sent)
    edit = _on_loop(FakeState.user_edit, _sent)
    press = _on_loop(FakeState.press, _pressed)
    channel_post = _on_loop(FakeState.channel_post, _sent)
    member_update = _on_loop(FakeState.member_update, _sent)
    inject = _on_loop(FakeState.inject)

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
        """Wait until the bot has confirmed every update and no request arrived for `quiet`
        seconds.

        Confirmed, not handed out: a bot that stops before confirming is given the same updates
        again when it restarts, so hand-outs can reach the number of updates while one has not
        even been fetched. An update counts once the bot's next getUpdates offset passed it (or
        its webhook delivery was answered).
        """
        deadline = time.monotonic() + timeout

        def snapshot(s: FakeState) -> tuple[int, bool, int]:
            answered = sum(1 for r in s.requests if r.method != "getUpdates")
            return (s.confirmed, s.confirmed >= s.injected, answered)

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

    messages = _on_loop(FakeState.chat_messages, _copies)
    bot_messages = _on_loop(FakeState.bot_messages, _copies)

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

    stats = _on_loop(FakeState.stats)

    def commands(self) -> dict[str, list[dict[str, Any]]]:
        return self.call(lambda s: dict(s.commands))

    reset = _on_loop(FakeState.reset)
