"""The fake Bot API: state, method implementations, the aiohttp app and its control routes.

`FakeState` holds everything (updates, chats, messages, files, recorded requests, faults) and is
only touched on the server's event loop. `make_app(state)` serves

- the Bot API at `/bot<TOKEN>/<method>` (form, multipart or JSON bodies, like Telegram), and
- control routes at `/_fake/...` that tests, the load benchmark and the demo use from other
  threads or processes (see `testkit.fake_telegram.client`).

Every Bot API request is validated against the packaged facts of the specification (see
`validate.py`); a violation answers 400 and is recorded. Telegram's own run-time refusals that are
not spec violations (chat not found, message is not modified, query too old, bot blocked) are
answered the way Telegram answers them and recorded as errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import logging
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from testkit.fake_telegram import updates as U
from testkit.fake_telegram.validate import (
    ATTACH_PREFIX,
    EntityParseError,
    SpecValidator,
    Violation,
    visible_text,
)

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456789:TEST-fake-token-never-real-0000000000"
MAX_BODY_BYTES = 60 * 1024 * 1024
FAULT_KINDS = ("429", "5xx", "403", "400", "timeout")

# Methods whose `chat_id` names the chat a request goes to (for chat checks and latency).
_CHAT_METHODS_PREFIXES = (
    "send",
    "edit",
    "delete",
    "stop",
    "copy",
    "forward",
    "pin",
    "unpin",
    "setMessage",
)


class ApiError(Exception):
    """A Bot API error answer: HTTP status = error_code, like Telegram."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class Recorded:
    """One Bot API request as the fake server saw and answered it."""

    seq: int
    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    at: float
    ok: bool = True
    status: int = 200
    result: Any = None
    error: str | None = None
    violations: list[Violation] = field(default_factory=list)
    fault: str | None = None

    @property
    def chat_id(self) -> int | str | None:
        value = self.params.get("chat_id")
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        return value

    @property
    def text(self) -> str | None:
        """The text or caption this request shows (also inside editMessageMedia's media)."""
        for key in ("text", "caption"):
            if isinstance(self.params.get(key), str):
                return self.params[key]
        media = self.params.get("media")
        if isinstance(media, dict) and isinstance(media.get("caption"), str):
            return media["caption"]
        return None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        markup = self.params.get("reply_markup")
        if not isinstance(markup, dict):
            return []
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "method": self.method,
            "params": self.params,
            "files": {name: len(data) for name, data in self.files.items()},
            "at": self.at,
            "ok": self.ok,
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "violations": [str(v) for v in self.violations],
            "fault": self.fault,
        }


@dataclass
class Fault:
    """Answer the next `times` matching requests with a failure instead of serving them."""

    kind: str
    method: str | None = None
    chat_id: int | None = None
    times: int = 1
    retry_after: int = 1
    status: int = 500
    delay: float = 1.0
    description: str | None = None

    def matches(self, method: str, chat_id: Any) -> bool:
        if self.times <= 0:
            return False
        if self.method is not None and self.method != method:
            return False
        return self.chat_id is None or self.chat_id == chat_id


@dataclass
class StoredFile:
    file_id: str
    unique_id: str
    data: bytes
    kind: str
    name: str | None = None


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


class FakeState:
    """Everything the fake Bot API knows; use only on the server's event loop."""

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
        self.handed_out = 0
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
        return [self.messages[chat_id][k] for k in sorted(self.messages.get(chat_id, {}))]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
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

    def user_message(
        self, user_id: int, text: str, *, chat_id: int | None = None, reply_to: int | None = None
    ) -> dict[str, Any]:
        usr = self.add_user(user_id)
        chat = self.chats.get(chat_id if chat_id is not None else user_id)
        if chat is None:
            raise ValueError(f"unknown chat {chat_id}; add it with add_group first")
        reply = self.messages.get(chat["id"], {}).get(reply_to) if reply_to else None
        msg = U.text_message(self._next_message_id(chat["id"]), chat, usr, text, reply_to=reply)
        if chat["type"] != "private" and text.startswith("/") and "@" not in text.split()[0]:
            pass  # commands in groups may come with or without @botname; both are valid
        self._store(msg)
        self.inject({"message": msg})
        return msg

    def user_media(
        self, user_id: int, kind: str, *, chat_id: int | None = None, caption: str | None = None
    ) -> dict[str, Any]:
        usr = self.add_user(user_id)
        chat = self.chats[chat_id if chat_id is not None else user_id]
        msg = U.media_message(self._next_message_id(chat["id"]), chat, usr, kind, caption=caption)
        self._store(msg)
        self.inject({"message": msg})
        return msg

    def user_edit(
        self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        chat_key = chat_id if chat_id is not None else user_id
        original = self.messages.get(chat_key, {}).get(message_id)
        if original is None or original.get("from", {}).get("id") != user_id:
            raise ValueError(f"user {user_id} has no message {message_id} in chat {chat_key}")
        edited = {**original, "text": text, "edit_date": U.now()}
        edited.pop("entities", None)
        self._store(edited)
        self.inject({"edited_message": edited})
        return edited

    def channel_post(self, chat_id: int, text: str, *, title: str = "Channel") -> dict[str, Any]:
        chat = self.chats.get(chat_id) or self.add_group(chat_id, title, channel=True)
        msg = U.text_message(self._next_message_id(chat_id), chat, None, text)
        msg["sender_chat"] = chat
        self._store(msg)
        self.inject({"channel_post": msg})
        return msg

    def press(
        self,
        user_id: int,
        data: str | None = None,
        *,
        prefix: str | None = None,
        message_id: int | None = None,
        chat_id: int | None = None,
        forge: bool = False,
    ) -> dict[str, Any]:
        """Press an inline button as `user_id` would; returns the callback query.

        The message is `message_id` or the newest bot message in the chat carrying a button with
        `data` (or whose data starts with `prefix`). Unless `forge` is set, the button must exist
        on that message, as in a real client.
        """
        usr = self.add_user(user_id)
        chat_key = chat_id if chat_id is not None else user_id
        candidates = self.bot_messages(chat_key)
        if message_id is not None:
            candidates = [m for m in candidates if m["message_id"] == message_id]
        chosen: tuple[dict[str, Any], str] | None = None
        for msg in reversed(candidates):
            for row in msg.get("reply_markup", {}).get("inline_keyboard", []):
                for button in row:
                    cb = button.get("callback_data")
                    if cb is None:
                        continue
                    if (data is not None and cb == data) or (
                        prefix is not None and cb.startswith(prefix)
                    ):
                        chosen = (msg, cb)
                        break
                if chosen:
                    break
            if chosen:
                break
        if chosen is None:
            if not forge or data is None:
                raise LookupError(
                    f"no button {data or prefix!r} on bot messages in chat {chat_key}"
                )
            if not candidates:
                raise LookupError(f"no bot message in chat {chat_key} to attach a forged press to")
            chosen = (candidates[-1], data)
        message, cb_data = chosen
        if forge and data is not None:
            cb_data = data
        query = U.callback_query(f"q{next(self._query_ids)}", usr, message, cb_data)
        self.inject({"callback_query": query})
        return query

    def member_update(
        self,
        chat_id: int,
        old: str,
        new: str,
        *,
        actor_id: int | None = None,
        subject_id: int | None = None,
    ) -> dict[str, Any]:
        """A my_chat_member update (the bot's own membership) or chat_member (a user's)."""
        chat = self.chats[chat_id]
        actor = self.add_user(actor_id) if actor_id is not None else self.bot_user
        if subject_id is None:
            if new in {"left", "kicked"}:
                self.removed_from.add(chat_id)
                if chat["type"] == "private":
                    self.blocked.add(chat_id)
            else:
                self.removed_from.discard(chat_id)
                self.blocked.discard(chat_id)
            body = U.chat_member_updated(chat, actor, self.bot_user, old, new)
            self.inject({"my_chat_member": body})
        else:
            subject = self.add_user(subject_id)
            self.members.setdefault(chat_id, {})[subject_id] = new
            body = U.chat_member_updated(chat, actor, subject, old, new)
            self.inject({"chat_member": body})
        return body

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

    # ---- Bot API methods -------------------------------------------------------------------

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
            if offset < 0:
                keep = -offset
                while len(self._queue) > keep:
                    self._queue.popleft()
            else:
                while self._queue and self._queue[0]["update_id"] < offset:
                    self._queue.popleft()
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
                self.webhook_deliveries.append({"update_id": update["update_id"], "status": status})
                self._notify()

    def api_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat = self._chat(params["chat_id"])
        self._visible(params, "text")
        return self._bot_message(chat, params, text=params["text"])

    def api_sendPhoto(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat = self._chat(params["chat_id"])
        stored = self._input_file(params.get("photo"), files, "photo", "photo")
        content: dict[str, Any] = {"photo": self._photo_of(stored)}
        if params.get("caption"):
            self._visible(params, "caption")
            content["caption"] = params["caption"]
        return self._bot_message(chat, params, **content)

    def api_sendDocument(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat = self._chat(params["chat_id"])
        name = None
        if params.get("document") is None and "document" in files:
            name = "document"
        stored = self._input_file(params.get("document"), files, "document", "document", name)
        content: dict[str, Any] = {
            "document": {
                "file_id": stored.file_id,
                "file_unique_id": stored.unique_id,
                "file_name": stored.name or "file",
                "file_size": len(stored.data),
            }
        }
        if params.get("caption"):
            self._visible(params, "caption")
            content["caption"] = params["caption"]
        return self._bot_message(chat, params, **content)

    def api_sendChatAction(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        self._chat(params["chat_id"])
        return True

    def api_setMessageReaction(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        chat = self._chat(params["chat_id"])
        if params["message_id"] not in self.messages.get(chat["id"], {}):
            raise ApiError(400, "Bad Request: message to react not found")
        return True

    def api_editMessageText(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> dict[str, Any]:
        msg = self._target_message(params)
        if "text" not in msg:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        self._visible(params, "text")
        return self._apply_edit(msg, params, text=params["text"])

    def api_editMessageCaption(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> dict[str, Any]:
        msg = self._target_message(params)
        if "text" in msg:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        changes: dict[str, Any] = {}
        if params.get("caption"):
            self._visible(params, "caption")
            changes["caption"] = params["caption"]
        new = self._apply_edit(msg, params, **changes)
        if not params.get("caption"):
            new.pop("caption", None)
        return new

    def api_editMessageReplyMarkup(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> dict[str, Any]:
        msg = self._target_message(params)
        return self._apply_edit(msg, params)

    def api_editMessageMedia(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> dict[str, Any]:
        msg = self._target_message(params)
        if "text" in msg:
            raise ApiError(400, "Bad Request: there is no media in the message to edit")
        media = params["media"]
        if media.get("type") != "photo":
            raise ApiError(400, "Bad Request: the fake server edits photos only")
        stored = self._input_file(media.get("media"), files, "media", "photo")
        changes: dict[str, Any] = {"photo": self._photo_of(stored)}
        new = dict(msg)
        if media.get("caption"):
            self._visible(media, "caption")
            changes["caption"] = media["caption"]
        else:
            new.pop("caption", None)
        return self._apply_edit(new, params, **changes)

    def api_deleteMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        chat = self._chat(params["chat_id"])
        if self.messages.get(chat["id"], {}).pop(params["message_id"], None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    def api_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        query = self.queries.get(str(params["callback_query_id"]))
        if query is None or query["answered"]:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        query["answered"] = True
        query["text"] = params.get("text")
        return True

    def api_setMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        for command in params["commands"]:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        scope = params.get("scope") or {"type": "default"}
        if scope.get("type") == "chat" and scope.get("chat_id") not in self.chats:
            raise ApiError(400, "Bad Request: chat not found")
        self.commands[json.dumps(scope, sort_keys=True)] = params["commands"]
        return True

    def api_getMyCommands(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> list[dict[str, Any]]:
        scope = params.get("scope") or {"type": "default"}
        return self.commands.get(json.dumps(scope, sort_keys=True), [])

    def api_deleteMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        scope = params.get("scope") or {"type": "default"}
        self.commands.pop(json.dumps(scope, sort_keys=True), None)
        return True

    def api_getChat(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat = self._chat(params["chat_id"])
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def api_getChatMember(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat = self._chat(params["chat_id"])
        user_id = params["user_id"]
        if user_id == self.bot_user["id"]:
            return U.chat_member(self.bot_user, "member")
        usr = self.users.get(user_id)
        if usr is None:
            raise ApiError(400, "Bad Request: user not found")
        if chat["type"] == "private":
            status = "member"
        else:
            status = self.members.get(chat["id"], {}).get(user_id, "left")
        return U.chat_member(usr, status)

    def api_getChatAdministrators(
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> list[dict[str, Any]]:
        chat = self._chat(params["chat_id"])
        roster = self.members.get(chat["id"], {})
        return [
            U.chat_member(self.users[uid], s)
            for uid, s in roster.items()
            if s in {"creator", "administrator"}
        ]

    def api_leaveChat(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        chat = self._chat(params["chat_id"])
        self.removed_from.add(chat["id"])
        return True

    def api_sendPoll(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat = self._chat(params["chat_id"])
        poll_id = str(next(self._query_ids) + 5_000_000)
        poll = {
            "id": poll_id,
            "question": params["question"],
            "options": [
                {"text": o["text"], "voter_count": 0, "persistent_id": str(i)}
                for i, o in enumerate(params["options"])
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": params.get("is_anonymous", True),
            "type": params.get("type", "regular"),
            "allows_multiple_answers": params.get("allows_multiple_answers", False),
            "allows_revoting": False,
        }
        if "correct_option_id" in params:
            poll["correct_option_id"] = params["correct_option_id"]
        return self._bot_message(chat, params, poll=poll)

    def api_stopPoll(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        msg = self._target_message(params)
        if "poll" not in msg:
            raise ApiError(400, "Bad Request: message with poll to stop not found")
        msg["poll"]["is_closed"] = True
        return msg["poll"]

    def api_getFile(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        stored = self.files.get(params["file_id"])
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": len(stored.data),
            "file_path": f"{stored.kind}/{stored.file_id}",
        }

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
            "queued": len(self._queue),
            "unanswered": len(self._pending),
            "answered": len(self.latencies),
            "requests": len(self.requests),
            "errors": errors,
            "by_method": by_method,
            "violations": [str(v) for v in self.violations],
            "unsupported": list(self.unsupported),
        }


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, bytes] = {}
    if request.method != "POST" or not request.body_exists:
        return raw, files
    ctype = request.content_type
    if ctype == "application/json":
        body = await request.json()
        for key, value in body.items():
            raw[key] = value if isinstance(value, str) else json.dumps(value)
        return raw, files
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            files[key] = value.file.read()
        else:
            raw[key] = value if isinstance(value, str) else bytes(value).decode()
    return raw, files


def make_app(state: FakeState) -> web.Application:
    """The aiohttp application serving the Bot API and the control routes for `state`."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)

    async def bot_api(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        if token != state.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        raw, files = await _read_params(request)
        status, body, _rec = await state.handle(method, raw, files)
        return web.json_response(body, status=status)

    async def file_download(request: web.Request) -> web.Response:
        if request.match_info["token"] != state.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        stored = state.files.get(file_id)
        if stored is None:
            return web.Response(status=404)
        return web.Response(body=stored.data)

    app.router.add_route("*", r"/bot{token}/{method}", bot_api)
    app.router.add_get(r"/file/bot{token}/{path:.+}", file_download)
    from testkit.fake_telegram.control import add_control_routes

    add_control_routes(app, state)
    return app
