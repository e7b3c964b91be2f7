"""Sending a photo, or editing a message into one, by its stored Telegram file_id when there is one.

A photo is uploaded once: its file_id is stored (bot.photo_file_ids) and sent instead of the bytes
from then on. A file_id Telegram refuses (another bot token, a wiped server) is forgotten, and the
photo rendered and uploaded again; the new upload's file_id is stored in its place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import InlineKeyboardMarkup, InputMediaPhoto, Message
from telegram.error import BadRequest

from bot import photo_file_ids, photos
from bot.replies import not_modified
from bot.services import Context, services

Deliver = Callable[[str | bytes], Awaitable[Message | bool]]


@dataclass(frozen=True)
class StoredPhoto:
    """A rendered photo as the bot knows it: its key, its file_id if uploaded, how to render it."""

    cluster_id: int
    level: int  # a hint level, or photo_file_ids.FULL_PHOTO_LEVEL for the whole photo
    file_id: str | None
    render: Callable[[], Awaitable[bytes]]  # JPEG bytes, rendered off the event loop


async def send_photo(
    context: Context,
    chat_id: int,
    photo: StoredPhoto,
    caption: str,
    markup: InlineKeyboardMarkup | None,
) -> None:
    """Send `photo` to `chat_id` as a new message."""

    async def send(media: str | bytes) -> Message:
        return await context.bot.send_photo(chat_id, media, caption=caption, reply_markup=markup)

    await _deliver(context, photo, send)


async def edit_photo(
    context: Context,
    message: Message,
    photo: StoredPhoto,
    caption: str,
    markup: InlineKeyboardMarkup | None,
) -> None:
    """Turn `message` into `photo` in place; a message that already shows it is left as it is
    (a double tap, or a retried update)."""

    async def edit(media: str | bytes) -> Message | bool:
        try:
            return await context.bot.edit_message_media(
                InputMediaPhoto(media, caption=caption),
                chat_id=message.chat_id,
                message_id=message.message_id,
                reply_markup=markup,
            )
        except BadRequest as exc:
            if not_modified(exc):
                return False
            raise

    await _deliver(context, photo, edit)


async def _deliver(context: Context, photo: StoredPhoto, deliver: Deliver) -> None:
    """Deliver by file_id, or else by fresh bytes, and store the file_id of a new upload."""
    svc = services(context)
    media: str | bytes = photo.file_id or await photo.render()
    try:
        result = await deliver(media)
    except BadRequest as exc:
        if not (photo.file_id and photos.is_bad_file_id(exc)):
            raise
        await svc.db(photo_file_ids.forget_photo, photo.cluster_id, photo.level)
        media = await photo.render()
        result = await deliver(media)
    uploaded = photos.uploaded_file_id(result) if isinstance(media, bytes) else None
    if uploaded:
        await svc.db(photo_file_ids.remember_photo, photo.cluster_id, photo.level, uploaded)
