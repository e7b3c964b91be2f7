"""Telegram's file_ids of rendered photos, stored so that each photo is uploaded once.

A photo is keyed by (cluster, level): levels 0 to HINT_LEVEL_COUNT - 1 are the challenge's hint
levels, FULL_PHOTO_LEVEL the whole photo shown when a challenge ends. Reads go through the
catalogue's cache (bot.catalogue), which these writes keep current.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from bot import dbcontext
from bot.catalogue import catalogue
from engine.hints import HINT_LEVELS
from storage.models import RenderedPhoto

HINT_LEVEL_COUNT = len(HINT_LEVELS)
FULL_PHOTO_LEVEL = HINT_LEVEL_COUNT  # RenderedPhoto key of the unmasked photo shown at the end


def remember_photo(cluster_id: int, hint_level: int, file_id: str) -> None:
    """Store Telegram's file_id for a rendered challenge photo (first upload wins)."""
    with dbcontext.scope() as session:
        cat = catalogue(session)
        cat.photos.pop((cluster_id, hint_level), None)
        if cat.photo(session, cluster_id, hint_level) is not None:
            return
        try:
            with session.begin_nested():
                session.add(
                    RenderedPhoto(
                        cluster_id=cluster_id, hint_level=hint_level, telegram_file_id=file_id
                    )
                )
                session.flush()
        except IntegrityError:
            cat.photos.pop((cluster_id, hint_level), None)
            return  # another upload of the same photo stored its file_id first
        cat.photos[(cluster_id, hint_level)] = file_id


def forget_photo(cluster_id: int, hint_level: int) -> None:
    """Drop a file_id Telegram no longer accepts (e.g. after changing the bot token)."""
    with dbcontext.scope() as session:
        session.exec(
            delete(RenderedPhoto).where(
                RenderedPhoto.cluster_id == cluster_id, RenderedPhoto.hint_level == hint_level
            )  # type: ignore[call-overload]
        )
        catalogue(session).photos[(cluster_id, hint_level)] = None
