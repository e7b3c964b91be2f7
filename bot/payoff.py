"""The end of a challenge as the player sees it: the whole photo, the words message, the summary.

- After a guess or a give-up the challenge message turns into the whole photo, captioned with
  the AI's answer, its confidence and the stage the revealed part came from.
- The words a player sends for a challenge are listed in one message, edited as more arrive,
  with Done under it (its id is kept per chat; after a restart a new one is started).
- Done turns the challenge photo's caption into the summary, with Next challenge.
"""

from __future__ import annotations

import functools
import logging

from telegram import CallbackQuery, InlineKeyboardMarkup, Message
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import photo_file_ids, photos, play_results, texts, views
from bot.photo_messages import StoredPhoto, edit_photo
from bot.replies import not_modified
from bot.services import services

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
WORDS_KEY = "words_message"  # chat_data: {"play_id": int, "message_id": int}


def result_caption(result: play_results.Guessed) -> str:
    reveal = result.reveal
    return texts.result_caption(
        result.correct,
        texts.class_label(reveal.answer),
        reveal.confidence,
        result.guess_points,
        result.streak_points,
        result.fast,
        texts.stage_name(reveal.depth, reveal.depths),
        reveal.streak_lost,
    )


def resign_caption(result: play_results.Resigned) -> str:
    reveal = result.reveal
    return texts.resign_caption(
        texts.class_label(reveal.answer),
        reveal.confidence,
        texts.stage_name(reveal.depth, reveal.depths),
        reveal.streak_lost,
    )


async def show_whole_photo(
    context: Context,
    query: CallbackQuery,
    reveal: play_results.Reveal,
    caption: str,
    markup: InlineKeyboardMarkup | None,
) -> None:
    """Replace the pressed challenge message by the whole photo with `caption`."""
    svc = services(context)
    message = query.message
    if not isinstance(message, Message):
        await context.bot.send_message(query.from_user.id, caption, reply_markup=markup)
        return
    caption = texts.fit(caption, texts.MAX_CAPTION)
    render = functools.partial(photos.render_full, svc.settings.data_dir, reveal.crop_file)
    whole = StoredPhoto(reveal.cluster_id, photo_file_ids.FULL_PHOTO_LEVEL, reveal.file_id, render)
    await edit_photo(context, message, whole, caption, markup)


async def list_words(context: Context, chat_id: int, added: play_results.LabelsAdded) -> None:
    """Show the challenge's words so far in its one words message (sent the first time)."""
    text = texts.words_so_far(added.words, added.flagged)
    markup = views.words_keyboard(added.play_id)
    kept = context.chat_data.get(WORDS_KEY) if context.chat_data is not None else None
    if kept and kept.get("play_id") == added.play_id:
        try:
            await context.bot.edit_message_text(
                text, chat_id=chat_id, message_id=kept["message_id"], reply_markup=markup
            )
            return
        except BadRequest as exc:
            if not_modified(exc):
                return
            log.info("could not edit the words message (%s); sending a new one", exc)
    message = await context.bot.send_message(chat_id, text, reply_markup=markup)
    if context.chat_data is not None:
        context.chat_data[WORDS_KEY] = {"play_id": added.play_id, "message_id": message.message_id}


def summary(finished: play_results.Finished) -> str:
    return texts.finish_summary(
        finished.guess_points,
        finished.streak_points,
        finished.bonus_points,
        finished.labels,
        finished.total,
        finished.rank,
        finished.players,
    )


async def show_summary(
    context: Context, query: CallbackQuery, finished: play_results.Finished
) -> None:
    """Done: the summary replaces the photo's caption; the words message loses its button."""
    chat_id = query.from_user.id
    kept = context.chat_data.pop(WORDS_KEY, None) if context.chat_data is not None else None
    pressed = query.message if isinstance(query.message, Message) else None
    words_message = kept["message_id"] if kept and kept.get("play_id") == finished.play_id else None
    if words_message is None and pressed is not None and pressed.text is not None:
        words_message = pressed.message_id  # Done under a words message from before a restart
    if words_message is not None:
        try:
            await context.bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=words_message, reply_markup=None
            )
        except BadRequest as exc:
            log.info("could not close the words message: %s", exc)
    text = summary(finished)
    if finished.message_id is not None:
        try:
            await context.bot.edit_message_caption(
                chat_id=chat_id,
                message_id=finished.message_id,
                caption=text,
                reply_markup=views.next_keyboard(),
            )
            return
        except BadRequest as exc:
            if not_modified(exc):
                return
            log.info("could not put the summary under the photo (%s); sending it", exc)
    await context.bot.send_message(chat_id, text, reply_markup=views.next_keyboard())
