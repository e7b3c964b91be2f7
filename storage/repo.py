"""Small repository functions over the schema: create, get, list, delete.

Callers pass the session of their own transaction (`storage.db.session_scope`), so several calls
compose into one atomic unit. Game rules live in the bot; this module only knows the data.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage.models import (
    Answer,
    Cluster,
    ExplainedLayer,
    GroupChat,
    Image,
    Model,
    Participant,
    Play,
    utcnow,
)
from storage.privacy import pseudonym


class AlreadyPlayedError(Exception):
    """A participant may play each cluster at most once."""

    def __init__(self, participant_id: int, cluster_id: int) -> None:
        super().__init__(
            f"participant {participant_id} has already played cluster {cluster_id}; "
            "a cluster is served to each participant at most once"
        )
        self.participant_id = participant_id
        self.cluster_id = cluster_id


# ---- participants ----------------------------------------------------------------------------


def get_participant(session: Session, telegram_id: int) -> Participant | None:
    return session.exec(select(Participant).where(Participant.telegram_id == telegram_id)).first()


def get_or_create_participant(session: Session, telegram_id: int, *, key: bytes) -> Participant:
    """The participant of `telegram_id`, created with its pseudonym under `key` when new."""
    participant = get_participant(session, telegram_id)
    if participant is None:
        participant = Participant(telegram_id=telegram_id, pseudonym=pseudonym(telegram_id, key))
        session.add(participant)
        session.flush()
    return participant


def delete_participant(session: Session, participant_id: int) -> bool:
    """Delete a participant and, by ON DELETE CASCADE, every play and answer they gave."""
    participant = session.get(Participant, participant_id)
    if participant is None:
        return False
    session.delete(participant)
    session.flush()
    return True


# ---- plays and answers -----------------------------------------------------------------------


def create_play(session: Session, participant_id: int, cluster_id: int, **fields: object) -> Play:
    """Insert a play; AlreadyPlayedError if this participant already has one for the cluster.

    The unique constraint decides (not a prior SELECT), so two concurrent requests cannot both
    succeed; a savepoint keeps the caller's transaction usable after the refusal.
    """
    play = Play(participant_id=participant_id, cluster_id=cluster_id, **fields)
    try:
        with session.begin_nested():
            session.add(play)
            session.flush()
    except IntegrityError as exc:
        if "uq_play_participant_cluster" in str(
            exc.orig
        ) or "play.participant_id, play.cluster_id" in str(exc.orig):
            raise AlreadyPlayedError(participant_id, cluster_id) from None
        raise
    return play


def add_answers(
    session: Session, play: Play, raw_message: str, labels: Sequence[str]
) -> list[Answer]:
    """One Answer row per label, each keeping the raw message it came from."""
    answers = [
        Answer(
            play_id=play.id,
            raw_message=raw_message,
            label=label,
            normalized=" ".join(label.lower().split()),
            hint_level=play.hint_level,
        )
        for label in labels
    ]
    session.add_all(answers)
    session.flush()
    return answers


def plays_per_cluster(session: Session, cluster_ids: Sequence[int]) -> dict[int, int]:
    if not cluster_ids:
        return {}
    rows = session.exec(
        select(Play.cluster_id, func.count())
        .where(Play.cluster_id.in_(cluster_ids))
        .group_by(Play.cluster_id)
    ).all()
    return {cluster_id: count for cluster_id, count in rows}


# ---- explanations ----------------------------------------------------------------------------


def get_model_by_name(session: Session, name: str, weights_hash: str) -> Model | None:
    return session.exec(
        select(Model).where(Model.name == name, Model.weights_hash == weights_hash)
    ).first()


def list_clusters(
    session: Session, *, class_index: int | None = None, active_only: bool = True
) -> list[Cluster]:
    query = select(Cluster)
    if class_index is not None:
        query = query.where(Cluster.class_index == class_index)
    if active_only:
        query = query.where(Cluster.active == True)  # noqa: E712  (SQL expression)
    return list(session.exec(query.order_by(Cluster.id)).all())


def list_layers(session: Session, image_id: int) -> list[ExplainedLayer]:
    return list(
        session.exec(
            select(ExplainedLayer)
            .where(ExplainedLayer.image_id == image_id)
            .order_by(ExplainedLayer.depth)
        ).all()
    )


def get_image(session: Session, image_id: int) -> Image | None:
    return session.get(Image, image_id)


# ---- groups ----------------------------------------------------------------------------------


def subscribe_group(session: Session, chat_id: int, title: str) -> GroupChat:
    group = session.exec(select(GroupChat).where(GroupChat.chat_id == chat_id)).first()
    if group is None:
        group = GroupChat(chat_id=chat_id, title=title[:255])
        session.add(group)
    else:
        group.subscribed = True
        group.title = title[:255]
        group.subscribed_at = utcnow()
    session.flush()
    return group


def unsubscribe_group(session: Session, chat_id: int) -> bool:
    group = session.exec(select(GroupChat).where(GroupChat.chat_id == chat_id)).first()
    if group is None or not group.subscribed:
        return False
    group.subscribed = False
    session.flush()
    return True


def subscribed_groups(session: Session) -> list[GroupChat]:
    return list(session.exec(select(GroupChat).where(GroupChat.subscribed == True)).all())  # noqa: E712
