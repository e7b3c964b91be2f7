"""Group chats that subscribed to the leaderboard post, and the post last sent to each."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from bot import dbcontext
from storage.models import GroupChat, utcnow
from storage.repo import subscribe_group, subscribed_groups, unsubscribe_group


def subscribe(chat_id: int, title: str) -> None:
    with dbcontext.scope() as session:
        subscribe_group(session, chat_id, title)


def unsubscribe(chat_id: int) -> bool:
    with dbcontext.scope() as session:
        return unsubscribe_group(session, chat_id)


def migrate_group(old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: its id changed."""
    with dbcontext.scope() as session:
        group = session.exec(select(GroupChat).where(GroupChat.chat_id == old_chat_id)).first()
        if group is not None:
            clash = session.exec(select(GroupChat).where(GroupChat.chat_id == new_chat_id)).first()
            if clash is not None:
                session.delete(clash)
                session.flush()
            group.chat_id = new_chat_id


def groups_to_announce() -> list[int]:
    with dbcontext.scope(readonly=True) as session:
        return [g.chat_id for g in subscribed_groups(session)]


def record_announcement(chat_id: int, message_id: int, *, now: datetime | None = None) -> None:
    with dbcontext.scope() as session:
        group = session.exec(select(GroupChat).where(GroupChat.chat_id == chat_id)).first()
        if group is not None:
            group.last_announced_at = now or utcnow()
            group.announce_message_id = message_id
