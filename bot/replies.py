"""Replies: sending, answering button presses, editing in place, and the texts of refusals.

Every text goes through `texts.fit` so that it stays within Telegram's limits; an edit that
Telegram refuses (too old, deleted) falls back to a new message.
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest

from bot import texts
from bot.refusals import GameError
from bot.services import Context

log = logging.getLogger(__name__)

ERROR_TEXTS: dict[str, str] = {
    "consent": texts.CONSENT_NEEDED,
    "gone": texts.CB_GONE,
    "not_yours": texts.CB_NOT_YOURS,
    "expired": texts.CB_EXPIRED,
    "already": texts.CB_ALREADY,
    "invalid": texts.CB_INVALID,
    "hint_max": texts.HINT_MAX,
    "no_challenges": texts.NO_CHALLENGES,
    "daily_cap": texts.DAILY_CAP,
    "message_too_long": texts.LABEL_MESSAGE_TOO_LONG,
    "too_long": texts.LABEL_TOO_LONG,
    "play_full": texts.LABEL_PLAY_LIMIT,
    "too_many": texts.LABEL_TOO_MANY,
    "no_words": texts.LABEL_NO_WORDS,
    "empty": texts.LABEL_NO_WORDS,
    "finished_challenge": texts.LABELS_FINISHED_CHALLENGE,
    "no_labelling": texts.LABELS_NOT_NOW,
    "not_guessed": texts.LABELS_NOT_NOW_REVEAL,
    "nickname_invalid": texts.NICKNAME_INVALID,
    "nickname_taken": texts.NICKNAME_TAKEN,
}


def error_text(exc: GameError) -> str:
    template = ERROR_TEXTS.get(exc.code, texts.CB_INVALID)
    fields = {k: v for k, v in exc.info.items() if isinstance(v, int | str)}
    return template.format(**fields) if fields else template


async def say(
    context: Context, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message:
    return await context.bot.send_message(
        chat_id, texts.fit(text, texts.MAX_TEXT), reply_markup=markup
    )


async def answer(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a button press; a query that is too old (e.g. from before a restart) is fine."""
    try:
        await query.answer(texts.fit(text, texts.MAX_CALLBACK_ANSWER) if text else None)
    except BadRequest as exc:
        log.debug("callback answer refused: %s", exc)


def not_modified(exc: BadRequest) -> bool:
    return "not modified" in str(exc).lower()


async def edit_caption(
    context: Context, query: CallbackQuery, caption: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Change the caption (and buttons) of the pressed message; resend when it can't be edited."""
    message = query.message
    if isinstance(message, Message):
        try:
            await context.bot.edit_message_caption(
                chat_id=message.chat_id,
                message_id=message.message_id,
                caption=texts.fit(caption, texts.MAX_CAPTION),
                reply_markup=markup,
            )
            return
        except BadRequest as exc:
            if not_modified(exc):
                return
            log.info("could not edit message %s (%s); sending a new one", message.message_id, exc)
    await say(context, query.from_user.id, caption, markup)


async def edit_text(
    context: Context, query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    message = query.message
    if isinstance(message, Message) and message.text is not None:
        try:
            await context.bot.edit_message_text(
                text, chat_id=message.chat_id, message_id=message.message_id, reply_markup=markup
            )
            return
        except BadRequest as exc:
            if not_modified(exc):
                return
    await say(context, query.from_user.id, text, markup)


def private_link(context: Context) -> str:
    return f"https://t.me/{context.bot.username}?start=play"


def is_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


def command_args(update: Update) -> str:
    text = (update.effective_message.text or "") if update.effective_message else ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


async def refuse_arguments(update: Update, context: Context, command: str) -> bool:
    """Reply and return True when a command that takes no arguments got some."""
    if command_args(update):
        await say(context, update.effective_chat.id, texts.NO_ARGUMENTS.format(command=command))
        return True
    return False


async def private_only(update: Update, context: Context) -> bool:
    """Reply with a link to the private chat and return True when in a group."""
    if is_private(update):
        return False
    await say(
        context, update.effective_chat.id, texts.PRIVATE_ONLY.format(link=private_link(context))
    )
    return True
