"""Who is acting, and on which play: the checks every play action starts with.

A player acts only after consenting; a button acts only on the presser's own play. Each check
also marks the participant active and seen, so activity costs no extra query.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from bot.refusals import GameError
from storage.models import Participant, Play
from storage.repo import get_participant

SEEN_RESOLUTION = timedelta(minutes=1)  # last_seen_at is refreshed at most this often
OPEN_STAGES = ("reveal", "guessing", "labelling")


def acting_player(session: Session, telegram_id: int, now: datetime) -> Participant:
    """The consenting participant for `telegram_id`, marked active and seen."""
    participant = get_participant(session, telegram_id)
    if participant is None or participant.consent_at is None:
        raise GameError("consent")
    _touch(participant, now)
    return participant


def _touch(participant: Participant, now: datetime) -> None:
    """Mark the participant active and seen (coarsely: a write per update just to move a
    timestamp would double the writes)."""
    if not participant.active:
        participant.active = True
    if now - participant.last_seen_at >= SEEN_RESOLUTION:
        participant.last_seen_at = now


def _own_play(
    session: Session, participant: Participant, play_id: int, message_id: int | None = None
) -> Play:
    """The participant's play `play_id`; learns the id of the message showing it from a press."""
    play = session.get(Play, play_id)
    if play is None:
        raise GameError("gone")
    if play.participant_id != participant.id:
        raise GameError("not_yours")
    if message_id is not None and play.message_id is None:
        play.message_id = message_id
    return play


def pressed_play(
    session: Session, telegram_id: int, play_id: int, now: datetime, message_id: int | None = None
) -> tuple[Participant, Play]:
    """A button press on play `play_id`: the presser (consenting) and their play, in one query
    when all is well (the usual case); the refusals take a second look."""
    row = session.exec(
        select(Play, Participant)
        .join(Participant, Participant.id == Play.participant_id)
        .where(Play.id == play_id)
    ).first()
    if row is None or row[1].telegram_id != telegram_id:
        participant = acting_player(session, telegram_id, now)  # refuses without consent first
        return participant, _own_play(session, participant, play_id, message_id)
    play, participant = row
    if participant.consent_at is None:
        raise GameError("consent")
    _touch(participant, now)
    if message_id is not None and play.message_id is None:
        play.message_id = message_id
    return participant, play


def open_play(session: Session, participant_id: int) -> Play | None:
    """The participant's play still in progress (the latest, should there be more than one)."""
    return session.exec(
        select(Play)
        .where(Play.participant_id == participant_id, Play.stage.in_(OPEN_STAGES))  # type: ignore[attr-defined]
        .order_by(Play.id.desc())  # type: ignore[union-attr]
    ).first()
