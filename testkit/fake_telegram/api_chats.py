"""Bot API methods on chats and the bot's commands: getChat, members, leaveChat, commands."""

from __future__ import annotations

import json
import re
from typing import Any

from testkit.fake_telegram import updates as U
from testkit.fake_telegram.records import ApiError
from testkit.fake_telegram.state import World


class ChatsApi(World):
    """Bot API methods on chats and the bot's commands: getChat, members, leaveChat, commands."""

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
