"""Bot API methods on messages: send, edit, delete, answer callback queries, polls, files."""

from __future__ import annotations

from typing import Any

from testkit.fake_telegram.records import ApiError
from testkit.fake_telegram.state import World


class MessagesApi(World):
    """Bot API methods on messages: send, edit, delete, answer callback queries, polls, files."""

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
