"""What the fake Bot API records and injects: requests as answered, faults, stored files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from testkit.fake_telegram.validate import Violation

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
