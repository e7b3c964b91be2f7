"""`FakeState`: the fake Bot API's world with every method it serves, by area.

It is only touched on the server's event loop; `app.make_app(state)` serves it over HTTP and
`runner.FakeTelegram` runs both in a thread.
"""

from __future__ import annotations

from testkit.fake_telegram.actions import UserActions
from testkit.fake_telegram.api_chats import ChatsApi
from testkit.fake_telegram.api_messages import MessagesApi
from testkit.fake_telegram.api_updates import UpdatesApi
from testkit.fake_telegram.records import (
    DEFAULT_TOKEN,
    FAULT_KINDS,
    ApiError,
    Fault,
    Recorded,
    StoredFile,
)

__all__ = [
    "DEFAULT_TOKEN",
    "FAULT_KINDS",
    "ApiError",
    "FakeState",
    "Fault",
    "Recorded",
    "StoredFile",
]


class FakeState(UserActions, UpdatesApi, MessagesApi, ChatsApi):
    """Everything the fake Bot API knows and every method it serves."""
