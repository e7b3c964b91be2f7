"""A player's own record: score and rank, the leaderboard, nickname, leaving, being reachable.

/score, /top, /nickname and /forget read or change these; set_active follows whether Telegram
still delivers to the player.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import case, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from bot import dbcontext, nicknames
from bot.catalogue import catalogue
from bot.leaderboard import Row, display_name, rank_of, top
from bot.names import looks_like_default
from bot.refusals import GameError
from storage.forget import delete_files, forget_participant
from storage.models import Play
from storage.repo import get_participant


@dataclass(frozen=True)
class Score:
    name: str
    points: int
    rank: int
    players: int
    played: int
    correct: int
    streak: int
    best_streak: int
    trust: float


def score(telegram_id: int) -> Score:
    with dbcontext.scope(readonly=True) as session:
        participant = get_participant(session, telegram_id)
        if participant is None or participant.consent_at is None:
            raise GameError("consent")
        right = case((Play.correct.is_(True), 1), else_=0)
        counts = session.exec(
            select(func.count(), func.coalesce(func.sum(right), 0))
            .select_from(Play)
            .where(
                Play.participant_id == participant.id, Play.outcome.in_(("win", "lose", "resign"))
            )  # type: ignore[union-attr]
        ).one()
        rank, players = rank_of(session, participant.points)
        return Score(
            display_name(participant.nickname, participant.pseudonym),
            participant.points,
            rank,
            players,
            int(counts[0]),
            int(counts[1]),
            participant.streak,
            participant.best_streak,
            participant.trust,
        )


def leaderboard(telegram_id: int | None = None) -> tuple[list[Row], Row | None, int]:
    """Top players, the caller's own row (when they play) and the number of players."""
    with dbcontext.scope(readonly=True) as session:
        me = get_participant(session, telegram_id) if telegram_id is not None else None
        me_id = me.id if me is not None and me.consent_at is not None else None
        rows = top(session, me=me_id)
        mine = None
        players = rank_of(session, 0)[1]
        if me is not None and me_id is not None:
            rank, players = rank_of(session, me.points)
            mine = Row(rank, display_name(me.nickname, me.pseudonym), me.points, True)
        return rows, mine, players


def validate_nickname(name: str) -> str | None:
    """The cleaned nickname, or None when it is not acceptable (see bot.nicknames)."""
    return nicknames.clean(name)


def current_name(telegram_id: int) -> str:
    with dbcontext.scope(readonly=True) as session:
        participant = get_participant(session, telegram_id)
        if participant is None or participant.consent_at is None:
            raise GameError("consent")
        return display_name(participant.nickname, participant.pseudonym)


def set_nickname(telegram_id: int, name: str) -> str:
    cleaned = validate_nickname(name)
    if cleaned is None:
        raise GameError("nickname_invalid")
    if looks_like_default(cleaned):
        raise GameError("nickname_taken")  # the form of the names the game gives players
    with dbcontext.scope() as session:
        participant = get_participant(session, telegram_id)
        if participant is None or participant.consent_at is None:
            raise GameError("consent")
        others = nicknames.other_players(session, participant.id)
        names = [display_name(nick, pseudo) for nick, pseudo in others]
        defaults = [display_name(None, pseudo) for _nick, pseudo in others]
        if nicknames.clashes(cleaned, names + defaults):
            raise GameError("nickname_taken")
        participant.nickname = cleaned
        try:
            session.flush()
        except IntegrityError:
            raise GameError("nickname_taken") from None
        return cleaned


def forget(telegram_id: int, data_dir: Path) -> bool:
    """Delete the participant, every play and answer they gave, and their words wherever they
    went: concepts, explanations, phrase vectors, and export and report files kept under
    `data_dir` (storage.forget). The export audit keeps its rows, pseudonymised."""
    with dbcontext.scope() as session:
        participant = get_participant(session, telegram_id)
        if participant is None:
            return False
        catalogue(session).plays.invalidate()  # their plays no longer count
        forgotten = forget_participant(session, participant, data_dir)
    delete_files(data_dir, forgotten.files)
    if forgotten.classes:
        _rewrite_explanations_document(data_dir)
    return True


def _rewrite_explanations_document(data_dir: Path) -> None:
    """The JSON document of the current generation, without the forgotten words."""
    from engine.global_explanations.document import (
        JSON_DOCUMENT,
        current_document_rows,
        write_document,
    )

    if not (data_dir / JSON_DOCUMENT).exists():
        return
    with dbcontext.scope(readonly=True) as session:
        generation, rows = current_document_rows(session.connection())
    write_document(data_dir, generation, rows)


def set_active(telegram_id: int, active: bool) -> bool:
    """Mark a participant (in)active, e.g. after they blocked the bot; False if unknown."""
    with dbcontext.scope() as session:
        participant = get_participant(session, telegram_id)
        if participant is None:
            return False
        participant.active = active
        return True
