"""The fake Bot API's state: the world (users, chats, messages, files, updates), faults, and the
serving of one request (validate, apply faults, run the method, record).

Every Bot API request is validated against the packaged facts of the specification (see
`validate.py`); a violation answers 400 and is recorded. Telegram's own run-time refusals that are
not spec violations (chat not found, message is not modified, query too old, bot blocked) are
answered the way Telegram answers them and recorded as errors. The methods themselves live in
api_updates.py, api_messages.py and api_chats.py, what users do in actions.py; `server.FakeState`
puts them together.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import logging
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from testkit.fake_telegram import updates as U
from testkit.fake_telegram.records import (
    DEFAULT_TOKEN,
    FAULT_KINDS,
    ApiError,
    Fault,
    Recorded,
    StoredFile,
)
from testkit.fake_telegram.validate import (
    ATTACH_PREFIX,
    EntityParseError,
    SpecValidator,
    Violation,
    visible_text,
)

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    update_id: int
    chat_id: int | None
    query_id: str | None
    injected_at: float = 0.0
    handed_out_at: float | None = None


def _photo_size(data: bytes) -> tuple[int, int]:
    try:
        from PIL import Image  # local: only uploads need it

        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:
        return (320, 320)


class World:
    """Everything the fake Bot API knows, and how a request is served; use only on the server's
    event loop. The Bot API methods themselves are added by area (api_*.py) in `FakeState`."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, bot_username: str = "inv_test_bot") -> None:
        self.token = token
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456789
        self.bot_user: dict[str, Any] = {
            **U.user(bot_id, "inv", username=bot_username, language_code="", is_bot=True),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.bot_user.pop("language_code", None)
        self.validator = SpecValidator()
        self.changed = asyncio.Condition()
        # Called (on the server loop) after every change; the threaded wrapper wakes its waiters.
        self.listeners: list[Any] = []
        self.reset()

    # ---- lifecycle -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all updates, chats, messages, files, requests and faults."""
        self.requests: list[Recorded] = []
        self.violations: list[Violation] = []
        self.unsupported: list[str] = []
        self.faults: list[Fault] = []
        self.users: dict[int, dict[str, Any]] = {}
        self.chats: dict[int, dict[str, Any]] = {}
        self.members: dict[int, dict[int, str]] = {}
        self.blocked: set[int] = set()
        self.removed_from: set[int] = set()
        self.messages: dict[int, dict[int, dict[str, Any]]] = {}
        self._message_ids: dict[int, itertools.count] = {}
        self.files: dict[str, StoredFile] = {}
        self.queries: dict[str, dict[str, Any]] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.webhook: dict[str, Any] | None = None
        self.webhook_deliveries: list[dict[str, Any]] = []
        self._queue: deque[dict[str, Any]] = deque()
        self._update_ids = itertools.count(10_000)
        self._seq = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._pending_by_chat: dict[int, deque[int]] = {}
        self._pending_by_query: dict[str, int] = {}
        # (handed out at, seconds until the bot's first answering request, seconds queued before)
        self.latencies: list[tuple[float, float, float]] = []
        self.injected = 0
        self.last_update_id: int | None = None
        self.handed_out = 0  # every hand-out, a re-delivery of an unconfirmed update included
        self.confirmed = 0  # updates done: confirmed by a later offset, dropped, or delivered
        self._poll_generation = 0
        self.close()
        self._webhook_queue: asyncio.Queue[dict[str, Any]] | None = None
        self._webhook_task: asyncio.Task[None] | None = None

    def close(self) -> None:
        """Stop delivering to a webhook (on reset and when the server stops)."""
        task = getattr(self, "_webhook_task", None)
        if task is not None and not task.done():
            task.cancel()

    # ---- users, chats, messages ------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str = "",
        username: str | None = None,
        language_code: str = "en",
    ) -> dict[str, Any]:
        usr = self.users.get(user_id)
        if usr is None:
            usr = U.user(user_id, first_name, username=username, language_code=language_code)
            self.users[user_id] = usr
            self.chats[user_id] = U.private_chat(usr)
        return usr

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
        chat = U.channel_chat(chat_id, title) if channel else U.group_chat(chat_id, title)
        self.chats[chat_id] = chat
        roster = self.members.setdefault(chat_id, {})
        for uid in members or []:
            self.add_user(uid)
            roster[uid] = "member"
        for uid in admins or []:
            self.add_user(uid)
            roster[uid] = "administrator"
        if creator is not None:
            self.add_user(creator)
            roster[creator] = "creator"
        self.removed_from.discard(chat_id)
        return chat

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _store(self, message: dict[str, Any]) -> dict[str, Any]:
        self.messages.setdefault(message["chat"]["id"], {})[message["message_id"]] = message
        return message

    def chat_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The chat as its members see it now: every message with edits applied, oldest first."""
        return [self.messages[chat_id][k] for k in sorted(self.messages.get(chat_id, {}))]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in the chat as they are now, oldest first."""
        bot_id = self.bot_user["id"]
        return [m for m in self.chat_messages(chat_id) if m.get("from", {}).get("id") == bot_id]

    # ---- updates ---------------------------------------------------------------------------

    def inject(self, update: dict[str, Any]) -> int:
        """Queue a raw update (its update_id is assigned here) and return the id."""
        update = dict(update)
        update["update_id"] = next(self._update_ids)
        chat_id = None
        query_id = None
        for key, value in update.items():
            if key == "update_id" or not isinstance(value, dict):
                continue
            if key == "callback_query":
                query_id = value["id"]
                self.queries[query_id] = {"answered": False, "user_id": value["from"]["id"]}
                msg = value.get("message") or {}
                chat_id = msg.get("chat", {}).get("id")
            elif "chat" in value:
                chat_id = value["chat"]["id"]
        self._queue.append(update)
        self._pending[update["update_id"]] = _Pending(
            update["update_id"], chat_id, query_id, time.time()
        )
        if chat_id is not None:
            self._pending_by_chat.setdefault(chat_id, deque()).append(update["update_id"])
        if query_id is not None:
            self._pending_by_query[query_id] = update["update_id"]
        self.injected += 1
        self.last_update_id = update["update_id"]
        if self.webhook is not None and self._webhook_queue is not None:
            self._webhook_queue.put_nowait(update)
        self._notify()
        return update["update_id"]

    # ---- faults ----------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        self.faults.append(fault)

    def _take_fault(self, method: str, chat_id: Any) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, chat_id):
                fault.times -= 1
                return fault
        return None

    # ---- request handling ------------------------------------------------------------------

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()

        async def _wake() -> None:
            async with self.changed:
                self.changed.notify_all()

        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(_wake())

    async def handle(
        self, method: str, raw: dict[str, Any], files: dict[str, bytes]
    ) -> tuple[int, dict[str, Any], Recorded]:
        """Serve one Bot API request: validate, apply faults, run, record."""
        params = self.validator.decode_params(method, raw)
        # Numbered and listed when answered, so /_fake/events sees only finished requests.
        rec = Recorded(0, method, params, files, time.time())
        rec.violations = self.validator.validate_request(method, params, frozenset(files))
        try:
            if rec.violations:
                self.violations.extend(rec.violations)
                raise ApiError(400, "Bad Request: " + "; ".join(str(v) for v in rec.violations))
            fault = self._take_fault(method, rec.chat_id)
            if fault is not None:
                rec.fault = fault.kind
                await self._apply_fault(fault)
            impl = getattr(self, f"api_{method}", None)
            if impl is None:
                self.unsupported.append(method)
                raise ApiError(400, f"Bad Request: the fake server does not implement {method}")
            result = impl(params, files)
            if asyncio.iscoroutine(result):
                result = await result
            rec.result = result
            self._mark_answered(method, params, rec.at)
            return 200, {"ok": True, "result": result}, rec
        except ApiError as exc:
            rec.ok, rec.status, rec.error = False, exc.code, exc.description
            if exc.code != 429 and rec.fault is None:
                self._mark_answered(method, params, rec.at)
            return exc.code, exc.payload(), rec
        finally:
            rec.seq = next(self._seq)
            self.requests.append(rec)
            self._notify()

    async def _apply_fault(self, fault: Fault) -> None:
        if fault.kind == "429":
            raise ApiError(
                429,
                f"Too Many Requests: retry after {fault.retry_after}",
                retry_after=fault.retry_after,
            )
        if fault.kind == "5xx":
            raise ApiError(fault.status, fault.description or "Internal Server Error")
        if fault.kind == "403":
            raise ApiError(403, fault.description or "Forbidden: bot was blocked by the user")
        if fault.kind == "400":
            raise ApiError(400, fault.description or "Bad Request: injected")
        if fault.kind == "timeout":
            # The client gives up first; the request is not carried out.
            await asyncio.sleep(fault.delay)
            raise ApiError(504, "Gateway Timeout")

    def _mark_answered(self, method: str, params: dict[str, Any], arrived_at: float) -> None:
        """Latency: the first request after hand-out that answers an update."""
        if method == "getUpdates":
            return
        update_id = None
        if method == "answerCallbackQuery":
            update_id = self._pending_by_query.pop(str(params.get("callback_query_id")), None)
        else:
            chat_id = params.get("chat_id")
            queue = self._pending_by_chat.get(chat_id) if isinstance(chat_id, int) else None
            if queue:
                head = self._pending.get(queue[0])
                if head is not None and head.handed_out_at is not None:
                    update_id = queue[0]
        if update_id is None:
            return
        pending = self._pending.pop(update_id, None)
        if pending is None:
            return
        if pending.chat_id is not None:
            queue = self._pending_by_chat.get(pending.chat_id)
            if queue:
                with contextlib.suppress(ValueError):
                    queue.remove(update_id)
        if pending.query_id is not None:
            self._pending_by_query.pop(pending.query_id, None)
        if pending.handed_out_at is not None:
            self.latencies.append(
                (
                    pending.handed_out_at,
                    arrived_at - pending.handed_out_at,
                    pending.handed_out_at - pending.injected_at,
                )
            )

    # ---- helpers for method implementations ------------------------------------------------

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if chat["type"] == "private" and chat["id"] in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat["type"] != "private" and chat["id"] in self.removed_from:
            kind = "channel chat" if chat["type"] == "channel" else "group chat"
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind}")
        return chat

    def _bot_message(
        self, chat: dict[str, Any], params: dict[str, Any], **content: Any
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "from": self.bot_user,
            "chat": chat,
            "date": U.now(),
            **content,
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            target = self.messages.get(chat["id"], {}).get(reply.get("message_id"))
            if target is None and not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
            if target is not None:
                msg["reply_to_message"] = {
                    k: v for k, v in target.items() if k != "reply_to_message"
                }
        return self._store(msg)

    def _visible(self, params: dict[str, Any], key: str, mode_key: str = "parse_mode") -> str:
        try:
            return visible_text(params[key], params.get(mode_key))
        except EntityParseError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None

    def _new_file(self, data: bytes, kind: str, name: str | None = None) -> StoredFile:
        token = secrets.token_urlsafe(12)
        stored = StoredFile(f"{kind[:2].upper()}AC{token}", f"u{token[:10]}", data, kind, name)
        self.files[stored.file_id] = stored
        return stored

    def _input_file(
        self,
        value: Any,
        files: dict[str, bytes],
        field_name: str,
        kind: str,
        name: str | None = None,
    ) -> StoredFile:
        """Resolve an InputFile: an uploaded part, attach://part, or an existing file_id."""
        if value is None and field_name in files:
            return self._new_file(files[field_name], kind, name or field_name)
        if isinstance(value, str) and value.startswith(ATTACH_PREFIX):
            part = value[len(ATTACH_PREFIX) :]
            return self._new_file(files[part], kind, name or part)
        if isinstance(value, str) and value in self.files:
            return self.files[value]
        if isinstance(value, str) and re.match(r"https?://", value):
            return self._new_file(b"", kind, value.rsplit("/", 1)[-1])
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _photo_sizes(self, stored: StoredFile) -> list[dict[str, Any]]:
        width, height = _photo_size(stored.data) if stored.data else (320, 320)
        sizes = []
        if max(width, height) > 90:
            scale = 90 / max(width, height)
            thumb = self._new_file(stored.data, "photo", stored.name)
            sizes.append(
                {
                    "file_id": thumb.file_id,
                    "file_unique_id": thumb.unique_id,
                    "width": max(1, round(width * scale)),
                    "height": max(1, round(height * scale)),
                    "file_size": max(1, len(stored.data) // 8),
                }
            )
        sizes.append(
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.unique_id,
                "width": width,
                "height": height,
                "file_size": len(stored.data),
            }
        )
        return sizes

    def _photo_of(self, stored: StoredFile) -> list[dict[str, Any]]:
        # Reusing a file_id returns the same sizes it was first stored with.
        cached = getattr(stored, "_sizes", None)
        if cached is None:
            cached = self._photo_sizes(stored)
            stored._sizes = cached  # type: ignore[attr-defined]
        return cached

    def _target_message(self, params: dict[str, Any]) -> dict[str, Any]:
        if "inline_message_id" in params:
            raise ApiError(400, "Bad Request: the fake server has no inline messages")
        chat = self._chat(params.get("chat_id"))
        msg = self.messages.get(chat["id"], {}).get(params.get("message_id"))
        if msg is None or msg.get("from", {}).get("id") != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message to edit not found")
        return msg

    def _apply_edit(
        self, msg: dict[str, Any], params: dict[str, Any], **changes: Any
    ) -> dict[str, Any]:
        new = dict(msg)
        new.update(changes)
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            new["reply_markup"] = markup
        else:
            new.pop("reply_markup", None)
        if all(new.get(k) == msg.get(k) for k in set(new) | set(msg)):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        new["edit_date"] = U.now()
        return self._store(new)

    # ---- reading -----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        by_method: dict[str, int] = {}
        errors = 0
        for rec in self.requests:
            by_method[rec.method] = by_method.get(rec.method, 0) + 1
            errors += not rec.ok
        return {
            "injected": self.injected,
            "handed_out": self.handed_out,
            "confirmed": self.confirmed,
            "queued": len(self._queue),
            "unanswered": len(self._pending),
            "answered": len(self.latencies),
            "requests": len(self.requests),
            "errors": errors,
            "by_method": by_method,
            "violations": [str(v) for v in self.violations],
            "unsupported": list(self.unsupported),
        }
