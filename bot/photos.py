"""Challenge photos: rendered in a worker thread by engine.render, uploaded once, then reused.

The first time a (cluster, hint level) photo is needed it is rendered from the stored crop and
cluster map and uploaded; Telegram's file_id of the upload is stored (RenderedPhoto) and sent
instead of the bytes from then on. A file_id Telegram refuses (another bot token, a wiped
server) is dropped and the photo uploaded again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from PIL import Image as PILImage
from telegram import Message
from telegram.error import BadRequest

MIN_PHOTO_SIDE = 512  # the game's picture size in the paper
MAX_PHOTO_SIDE = 1024  # sharper on phones, still small enough to upload fast


def render_bytes(data_dir: Path, crop_file: str, map_file: str, hint_level: int) -> bytes:
    """JPEG bytes of a challenge photo (CPU work: call it in a worker thread)."""
    # Imported here: engine.render needs numpy/PIL/scipy only, and the bot must start without them
    # on its event loop's import path.
    from engine import render

    with PILImage.open(data_dir / crop_file) as image:
        crop = image.convert("RGB")
    cluster_map = render.load_map(data_dir / map_file)
    return render.render_challenge(crop, cluster_map, hint_level, side=photo_side(crop))


def photo_side(picture: PILImage.Image) -> int:
    """The side a photo is shown at: its own (a display copy is 512-1024 px), at least 512."""
    return min(MAX_PHOTO_SIDE, max(MIN_PHOTO_SIDE, max(picture.size)))


async def render(data_dir: Path, crop_file: str, map_file: str, hint_level: int) -> bytes:
    return await asyncio.to_thread(render_bytes, data_dir, crop_file, map_file, hint_level)


def full_photo_bytes(data_dir: Path, crop_file: str) -> bytes:
    """JPEG bytes of the whole photo, shown when a challenge ends (a worker-thread call)."""
    from engine import render

    with PILImage.open(data_dir / crop_file) as image:
        picture = image.convert("RGB")
    return render.render_photo(picture, side=photo_side(picture))


async def render_full(data_dir: Path, crop_file: str) -> bytes:
    return await asyncio.to_thread(full_photo_bytes, data_dir, crop_file)


def is_bad_file_id(exc: BadRequest) -> bool:
    text = str(exc).lower()
    return "file identifier" in text or "wrong file" in text or "file_id" in text


def uploaded_file_id(message: Message | bool | None) -> str | None:
    """The file_id of the largest size of the photo in `message` (None for non-photo results)."""
    if isinstance(message, Message) and message.photo:
        return message.photo[-1].file_id
    return None
