"""What users do, as updates the bot will receive: messages, media, edits, button presses,
channel posts and membership changes."""

from __future__ import annotations

from typing import Any

from testkit.fake_telegram import updates as U
from testkit.fake_telegram.state import World


class UserActions(World):
    """Updates injected on behalf of users and chats."""

    def user_message(
        self, user_id: int, text: str, *, chat_id: int | None = None, reply_to: int | None = None
    ) -> dict[str, Any]:
        """The user sends `text` (a /command gets its entity) in their private chat or `chat_id`."""
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
        """The user sends a sticker, photo, voice, document, location, video, audio or contact."""
        usr = self.add_user(user_id)
        chat = self.chats[chat_id if chat_id is not None else user_id]
        msg = U.media_message(self._next_message_id(chat["id"]), chat, usr, kind, caption=caption)
        self._store(msg)
        self.inject({"message": msg})
        return msg

    def user_edit(
        self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """The user edits one of their messages (an `edited_message` update)."""
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
        """A post in channel `chat_id` (the channel is made, titled `title`, if unknown)."""
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
        """The bot's membership (or `subject_id`'s) in `chat_id` changes from `old` to `new`:
        a my_chat_member update, or chat_member for a user's."""
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
