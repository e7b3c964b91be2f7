"""Test helpers: a bot running against the fake server, and a player that drives it."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot.app import BotThread, Timeouts
from inv.settings import get_settings
from inv.wiring import bot_application
from testkit.fake_telegram import FakeTelegram, Recorded, Sent

TEST_TIMEOUTS = Timeouts(connect=2.0, read=2.0, write=5.0, pool=2.0, get_updates_read=5.0)


class BotRunner:
    """Builds the real Application against the fake server; start, stop and restart it."""

    def __init__(self, fake: FakeTelegram, **options: object) -> None:
        self.fake = fake
        self.options = options
        self.thread: BotThread | None = None

    def build(self):
        options = {
            "timeouts": TEST_TIMEOUTS,
            "retry_backoff": 0.05,
            "rng": random.Random(7),
            # Scripted players press faster than people: the flood limit is off unless a test
            # sets it (test_flood does).
            "flood_rate": 0.0,
            **self.options,
        }
        return bot_application(
            get_settings(),
            token=self.fake.token,
            base_url=self.fake.base_url,
            base_file_url=self.fake.base_file_url,
            **options,
        )

    def start(self) -> BotRunner:
        self.thread = BotThread(self.build(), poll_timeout=1.0).start()
        return self

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.stop()
            self.thread = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until the running bot has fetched and finished every update sent so far.

        "Fetched" is the fake server's settle: every update confirmed by the offset of the bot's
        next getUpdates, which it sends only after queueing the updates it got. That alone is
        not "finished": on a loaded machine the bot can work on one update for longer than the
        quiet spell, so the application's update queue is joined too (every queued update went
        through its handlers), and then the replies are let settle.
        """
        assert self.thread is not None, "the bot is not running"
        self.fake.settle(timeout=timeout)
        self.thread.call(self.app.update_queue.join(), timeout)
        self.fake.settle()

    @property
    def app(self):
        assert self.thread is not None
        return self.thread.app


@dataclass
class Player:
    """One Telegram user talking to the bot in their private chat."""

    fake: FakeTelegram
    user_id: int
    timeout: float = 5.0

    def send(self, text: str, **kwargs: object) -> Sent:
        return self.fake.send(self.user_id, text, **kwargs)

    def press(
        self, data: str | None = None, *, prefix: str | None = None, **kwargs: object
    ) -> Sent:
        return self.fake.press(self.user_id, data, prefix=prefix, **kwargs)

    def wait(self, method: str | None = None, after: Sent | int = 0, **kwargs: object) -> Recorded:
        kwargs.setdefault("timeout", self.timeout)
        return self.fake.wait_for(method, chat_id=self.user_id, after=after, **kwargs)

    def wait_answer(self, sent: Sent) -> Recorded:
        """The answerCallbackQuery for a press."""
        return self.fake.wait_for(
            "answerCallbackQuery",
            after=sent,
            timeout=self.timeout,
            predicate=lambda r: r.params.get("callback_query_id") == sent.query_id,
        )

    def say(self, text: str) -> Recorded:
        """Send text and return the bot's first message back."""
        sent = self.send(text)
        return self.wait(after=sent)

    def join(self) -> None:
        """/start and agree."""
        sent = self.send("/start")
        welcome = self.wait("sendMessage", after=sent)
        assert "c:1" in welcome.callback_data
        pressed = self.press("c:1")
        self.wait("editMessageText", after=pressed)

    def play(self) -> Recorded:
        """/play; the sendPhoto of the challenge."""
        sent = self.send("/play")
        return self.wait("sendPhoto", after=sent, predicate=lambda r: r.ok)

    def button(self, prefix: str) -> str:
        """callback_data of the newest bot button starting with `prefix`."""
        for message in reversed(self.fake.bot_messages(self.user_id)):
            for row in message.get("reply_markup", {}).get("inline_keyboard", []):
                for b in row:
                    if b.get("callback_data", "").startswith(prefix):
                        return b["callback_data"]
        raise LookupError(prefix)

    def guess(self, correct: bool | None = None, *, answer: str | None = None) -> Recorded:
        """Press Guess, then an option (the right one, a wrong one, or the one labelled `answer`).

        Returns the edit that shows the result (the whole photo with the AI's answer)."""
        pressed = self.press(prefix="g:")
        edit = self.wait("editMessageCaption", after=pressed, predicate=lambda r: r.ok)
        buttons = [b for b in edit.buttons if b.get("callback_data", "").startswith("o:")]
        if answer is not None:
            chosen = next(b for b in buttons if b["text"] == answer)
        else:
            chosen = buttons[0]
        pressed = self.press(chosen["callback_data"])
        return self.wait("editMessageMedia", after=pressed, predicate=lambda r: r.ok)
