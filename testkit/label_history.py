"""A player's earlier label messages, written straight into the database.

The label checks look back over a player's recent messages (duplicates, flooding). The label
tests and the label benchmark give a player a history of long messages on earlier, finished
plays, to show that the work for a new message is bounded by the limits, not by that history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session

from storage.models import Answer, Play, utcnow


@dataclass(frozen=True)
class EarlierMessage:
    """One message of the history, stored as one answer: the text as sent and its one label
    (already in normal form)."""

    raw_message: str
    label: str
    message_key: str


def add_label_history(
    session: Session,
    participant_id: int,
    cluster_ids: Sequence[int],
    messages: Sequence[EarlierMessage],
    *,
    age: timedelta,
) -> None:
    """One finished, won play per cluster, served `age` ago, each holding one of `messages`."""
    for cluster_id, message in zip(cluster_ids, messages, strict=True):
        play = Play(
            participant_id=participant_id,
            cluster_id=cluster_id,
            stage="done",
            outcome="win",
            served_at=utcnow() - age,
        )
        session.add(play)
        session.flush()
        session.add(
            Answer(
                play_id=play.id or 0,
                raw_message=message.raw_message,
                label=message.label,
                normalized=message.label,
                message_key=message.message_key,
                created_at=utcnow() - age,
            )
        )
