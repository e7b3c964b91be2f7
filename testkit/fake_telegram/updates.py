"""Builders of realistic Bot API objects (users, chats, messages, updates) as plain dicts.

They produce what Telegram sends: a private chat's id equals the user's id, a command carries a
`bot_command` entity, a supergroup id is negative, a channel post has `sender_chat`. The fake
server numbers messages and updates; these functions only shape the objects.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

_file_counter = itertools.count(1)

MEDIA_KINDS = ("sticker", "photo", "voice", "document", "location", "video", "audio", "contact")


def user(
    user_id: int,
    first_name: str = "",
    *,
    username: str | None = None,
    language_code: str = "en",
    is_bot: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": user_id,
        "is_bot": is_bot,
        "first_name": first_name or f"User{user_id}",
    }
    if username:
        out["username"] = username
    if language_code:
        out["language_code"] = language_code
    return out


def private_chat(usr: dict[str, Any]) -> dict[str, Any]:
    chat = {"id": usr["id"], "type": "private", "first_name": usr["first_name"]}
    if "username" in usr:
        chat["username"] = usr["username"]
    return chat


def group_chat(chat_id: int, title: str, *, supergroup: bool = True) -> dict[str, Any]:
    return {"id": chat_id, "type": "supergroup" if supergroup else "group", "title": title}


def channel_chat(chat_id: int, title: str) -> dict[str, Any]:
    return {"id": chat_id, "type": "channel", "title": title}


def now() -> int:
    return int(time.time())


def text_message(
    message_id: int,
    chat: dict[str, Any],
    sender: dict[str, Any] | None,
    text: str,
    *,
    reply_to: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A text message; a leading /command gets its bot_command entity as Telegram adds it."""
    msg: dict[str, Any] = {"message_id": message_id, "date": now(), "chat": chat, "text": text}
    if sender is not None:
        msg["from"] = sender
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0]
        msg["entities"] = [
            {"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}
        ]
    if reply_to is not None:
        msg["reply_to_message"] = reply_to
    return msg


def _file(kind: str) -> dict[str, str]:
    n = next(_file_counter)
    return {"file_id": f"user-{kind}-{n}", "file_unique_id": f"u{kind[:2]}{n}"}


def media_message(
    message_id: int,
    chat: dict[str, Any],
    sender: dict[str, Any],
    kind: str,
    *,
    caption: str | None = None,
) -> dict[str, Any]:
    """A non-text message of one of MEDIA_KINDS, shaped as Telegram sends it."""
    msg: dict[str, Any] = {"message_id": message_id, "date": now(), "chat": chat, "from": sender}
    if kind == "sticker":
        msg["sticker"] = {
            **_file(kind),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "😀",
        }
    elif kind == "photo":
        msg["photo"] = [
            {**_file(kind), "width": 90, "height": 90, "file_size": 1200},
            {**_file(kind), "width": 800, "height": 800, "file_size": 64000},
        ]
    elif kind == "voice":
        msg["voice"] = {**_file(kind), "duration": 3, "mime_type": "audio/ogg", "file_size": 5000}
    elif kind == "document":
        msg["document"] = {
            **_file(kind),
            "file_name": "notes.pdf",
            "mime_type": "application/pdf",
            "file_size": 20000,
        }
    elif kind == "video":
        msg["video"] = {**_file(kind), "width": 640, "height": 360, "duration": 4}
    elif kind == "audio":
        msg["audio"] = {**_file(kind), "duration": 30, "title": "song"}
    elif kind == "location":
        msg["location"] = {"latitude": 52.52, "longitude": 13.405}
    elif kind == "contact":
        msg["contact"] = {"phone_number": "+10000000000", "first_name": sender["first_name"]}
    else:
        raise ValueError(f"unknown media kind {kind!r}; one of {MEDIA_KINDS}")
    if caption is not None and kind not in {"location", "contact", "sticker"}:
        msg["caption"] = caption
    return msg


def callback_query(
    query_id: str, sender: dict[str, Any], message: dict[str, Any], data: str
) -> dict[str, Any]:
    return {
        "id": query_id,
        "from": sender,
        "message": message,
        "chat_instance": str(abs(hash((message["chat"]["id"], "ci"))) % 10**12),
        "data": data,
    }


def chat_member(usr: dict[str, Any], status: str) -> dict[str, Any]:
    """A ChatMember of `status` (creator, administrator, member, left, kicked) with its fields."""
    member: dict[str, Any] = {"status": status, "user": usr}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(
            can_be_edited=False,
            is_anonymous=False,
            can_manage_chat=True,
            can_delete_messages=True,
            can_manage_video_chats=True,
            can_restrict_members=True,
            can_promote_members=False,
            can_change_info=True,
            can_invite_users=True,
            can_post_stories=False,
            can_edit_stories=False,
            can_delete_stories=False,
        )
    elif status == "kicked":
        member["until_date"] = 0
    return member


def chat_member_updated(
    chat: dict[str, Any],
    actor: dict[str, Any],
    subject: dict[str, Any],
    old_status: str,
    new_status: str,
) -> dict[str, Any]:
    return {
        "chat": chat,
        "from": actor,
        "date": now(),
        "old_chat_member": chat_member(subject, old_status),
        "new_chat_member": chat_member(subject, new_status),
    }
