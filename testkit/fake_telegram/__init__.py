"""A fake Telegram Bot API server for tests, the load benchmark and the offline demo.

It speaks HTTP on 127.0.0.1 like api.telegram.org, so a real python-telegram-bot `Application`
runs against it unchanged (`ApplicationBuilder().base_url(fake.base_url)`), and it checks every
request against the Bot API specification (a facts-only extract shipped as package data and
rebuilt with `python -m testkit.fake_telegram.build_facts ../shared/telegram/bot-api-spec.json`).

In-process (tests, demo)::

    from testkit.fake_telegram import FakeTelegram

    with FakeTelegram() as fake:                      # own thread and event loop, port chosen
        app = build_application(settings, token=fake.token, base_url=fake.base_url, ...)
        sent = fake.send(42, "/start")               # user 42 sends a command (private chat)
        reply = fake.wait_for("sendMessage", chat_id=42, after=sent)
        fake.press(42, prefix="consent:")            # press a button on the newest bot message
        fake.send_media(42, "sticker")               # sticker, photo, voice, document, location...
        fake.edit(42, sent.message_id, "changed")    # an edited_message update
        fake.channel_post(-1001, "hi")               # a post in a channel
        fake.add_group(-100, "Lab", admins=[7]); fake.send(7, "/subscribe", chat_id=-100)
        fake.member_update(-100, "member", "left")   # the bot was removed from the group
        fake.block(42)                               # the user blocked the bot: sends get 403
        fake.fail("429", method="sendMessage", retry_after=1)   # also "5xx", "403", "400", "timeout"
        fake.requests("sendPhoto", chat_id=42)       # recorded requests (params, files, answers)
        fake.messages(42)                            # the chat as the user sees it now (edits applied)
        fake.settle()                                # every update confirmed, then quiet
        assert fake.violations == [] and fake.unsupported == []

Served methods: getMe, getUpdates (long poll; `offset` confirms, a newer call ends an older one
with 409), setWebhook/deleteWebhook/getWebhookInfo (a set webhook receives the updates by POST with
the secret header), sendMessage, sendPhoto and sendDocument (multipart upload returns a file_id
that later requests may reuse; an unknown file_id is refused), editMessageText/Caption/Media/
ReplyMarkup ("message is not modified" like Telegram), deleteMessage, answerCallbackQuery (once per
query), sendChatAction, setMessageReaction, setMyCommands/getMyCommands/deleteMyCommands, getChat,
getChatMember, getChatAdministrators, leaveChat, sendPoll/stopPoll, getFile and file downloads.
A spec-valid method it does not serve is answered 400 and listed in `unsupported`.

Validation (validate.py): unknown method, missing required field, unknown field, wrong type, a
string over Telegram's limit (text 4096, caption 1024, callback_data 1-64 bytes, callback answer
200, poll question 300 / options 1-12 x 100...) → HTTP 400 and an entry in `violations`.

Another process (the benchmark's simulator): run `python -m testkit.fake_telegram --port 0` and use
`FakeTelegramClient(url)` (client.py) over the control routes documented in control.py. The
server also measures, per update, the time from its hand-out by getUpdates to the bot's first
request answering it (`/_fake/latencies`).
"""

from testkit.fake_telegram.app import make_app
from testkit.fake_telegram.runner import FakeTelegram, Sent
from testkit.fake_telegram.server import DEFAULT_TOKEN, ApiError, FakeState, Fault, Recorded
from testkit.fake_telegram.validate import SpecValidator, Violation

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "FakeState",
    "FakeTelegram",
    "Fault",
    "Recorded",
    "Sent",
    "SpecValidator",
    "Violation",
    "make_app",
]
