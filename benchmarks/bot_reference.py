"""Reference bots for the load benchmark: what a bare python-telegram-bot Application costs here.

The machine a benchmark runs on may be loaded or slow, so inv's figures are stated as ratios to
references measured in the same run, through the same fake server and simulator:

- R1: a bare `Application` with one handler that answers each update with one message. The
  message is the one the simulated player waits for (a photo for /play, an edited caption with
  the option buttons for Guess, ...), so the players walk the same steps as with inv; a button
  press is also answered with answerCallbackQuery, as Telegram expects of every bot.
- R2: R1 plus one SQLite row written per update, in a worker thread, before the answer.

Neither keeps any game state: the replies carry fixed buttons.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Update
from telegram.ext import Application, ContextTypes, TypeHandler


def _keyboard(*rows: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data)] for text, data in rows]
    )


CONSENT = _keyboard(("I agree", "c:1"))
CHALLENGE = _keyboard(("Show more", "h:1"), ("Guess", "g:1"))
OPTIONS = _keyboard(*((f"class {i}", f"o:{i}") for i in range(4)))
DONE = _keyboard(("Done", "d:1"))


class RowWriter:
    """One SQLite connection used by one worker thread: an INSERT and a commit per update,
    with the settings inv uses (WAL, synchronous=NORMAL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="reference-db")
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS reference_update "
                "(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, body TEXT NOT NULL, at REAL NOT NULL)"
            )
            self._conn = conn
        return self._conn

    def _write(self, user_id: int, body: str) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO reference_update (user_id, body, at) VALUES (?, ?, ?)",
            (user_id, body, time.time()),
        )
        conn.execute("COMMIT")

    async def write(self, user_id: int, body: str) -> None:
        await asyncio.get_running_loop().run_in_executor(self.pool, self._write, user_id, body)

    def count(self) -> int:
        return self.pool.submit(
            lambda: (
                self._connection().execute("SELECT count(*) FROM reference_update").fetchone()[0]
            )
        ).result()

    def close(self) -> None:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()

        self.pool.submit(close).result()
        self.pool.shutdown()


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One reply per update: the one that completes the simulated player's step."""
    bot = context.bot
    writer: RowWriter | None = context.bot_data.get("writer")
    photo: str = context.bot_data["photo"]
    query = update.callback_query
    if query is not None and query.message is not None:
        data = query.data or ""
        if writer is not None:
            await writer.write(query.from_user.id, data)
        await query.answer()
        chat_id, message_id = query.message.chat.id, query.message.message_id
        if data.startswith("c:"):
            await bot.edit_message_text("Thanks. /play", chat_id=chat_id, message_id=message_id)
        elif data.startswith("h:"):
            await bot.edit_message_media(
                InputMediaPhoto(photo, caption="More of the picture"),
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=CHALLENGE,
            )
        elif data.startswith("g:"):
            await bot.edit_message_caption(
                chat_id=chat_id, message_id=message_id, caption="Which one?", reply_markup=OPTIONS
            )
        elif data.startswith("o:"):
            # The answer shows the whole photo, as inv's reveal does.
            await bot.edit_message_media(
                InputMediaPhoto(photo, caption="Now name what you saw"),
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=DONE,
            )
        else:
            await bot.send_message(chat_id, "Thanks! /play")
        return
    message = update.effective_message
    if message is None or message.text is None or update.effective_user is None:
        return
    if writer is not None:
        await writer.write(update.effective_user.id, message.text)
    if message.text.startswith("/start"):
        await bot.send_message(message.chat.id, "Welcome", reply_markup=CONSENT)
    elif message.text.startswith("/play"):
        await bot.send_photo(message.chat.id, photo, caption="What is it?", reply_markup=CHALLENGE)
    else:
        await bot.send_message(message.chat.id, "Noted")


def build_reference(
    *,
    token: str,
    base_url: str,
    base_file_url: str,
    concurrency: int,
    writer: RowWriter | None,
) -> Application:
    """R1 (`writer=None`) or R2, with the same HTTP pool size and concurrency as inv's bot."""
    app = (
        Application.builder()
        .token(token)
        .base_url(base_url)
        .base_file_url(base_file_url)
        .concurrent_updates(max(1, concurrency))
        .connection_pool_size(max(2, concurrency + 1))
        .build()
    )
    app.bot_data["writer"] = writer
    app.add_handler(TypeHandler(Update, answer))
    return app


async def upload_photo(app: Application, chat_id: int, data: bytes) -> str:
    """Upload the reference's one photo and keep its file_id (sent by id afterwards, as inv does)."""
    message: Any = await app.bot.send_photo(chat_id, data)
    file_id = message.photo[-1].file_id
    app.bot_data["photo"] = file_id
    return file_id
