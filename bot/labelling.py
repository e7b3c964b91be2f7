"""The labelling stage: the words a player gives after guessing, and closing the play.

Each message is checked (bot.quality) against the player's recent answers and stored one Answer
per label; closing a play grants the provisional agreement bonus for words other players gave
the same cluster.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from bot import dbcontext, quality
from bot.config import BotConfig
from bot.leaderboard import rank_of
from bot.play_access import acting_player, open_play, pressed_play
from bot.play_results import Finished, LabelsAdded
from bot.refusals import GameError
from engine.labels.agreement import LabelVote, agreement_bonuses
from storage.models import Answer, Participant, Play, utcnow
from storage.points import add as add_points


def finish_play(session: Session, play: Play, participant: Participant, now: datetime) -> Finished:
    """Close a labelling play: provisional agreement bonus, points, rank."""
    mine = session.exec(select(Answer).where(Answer.play_id == play.id)).all()
    accepted = [a for a in mine if a.accepted]
    bonus_total = 0
    if accepted:
        others = session.exec(
            select(Answer.id, Answer.normalized, Play.participant_id, Play.id)
            .join(Play, Answer.play_id == Play.id)
            .where(
                Play.cluster_id == play.cluster_id, Play.id != play.id, Answer.accepted.is_(True)
            )
        ).all()
        # Before concepts exist, two labels agree when their normalised texts are equal.
        cluster = play.cluster_id
        votes = [LabelVote(aid, pid, part, cluster, key) for aid, key, part, pid in others]
        votes += [
            LabelVote(a.id or 0, play.id or 0, participant.id or 0, cluster, a.normalized)
            for a in accepted
        ]
        bonuses = agreement_bonuses(votes)
        for answer in accepted:
            answer.bonus_points = bonuses.get(answer.id or 0, 0)
            bonus_total += answer.bonus_points
    play.bonus_points = bonus_total
    play.stage = "done"
    play.finished_at = now
    points = add_points(participant, bonus_total)
    session.flush()
    rank, players = rank_of(session, points)
    return Finished(
        play.id or 0,
        play.message_id,
        play.guess_points,
        play.streak_points,
        bonus_total,
        len(mine),
        points,
        rank,
        players,
    )


WORDS_SHOWN = 100  # earlier words of a play listed back to the player
HISTORY_ROWS = 60  # recent answers read to judge a new message (duplicates, flooding)


def _label_history(session: Session, participant_id: int, play_id: int) -> quality.History:
    """The participant's recent answers, in one query, as the quality checks need them."""
    rows = session.exec(
        select(Answer.play_id, Answer.message_key, Answer.normalized, Answer.created_at)
        .join(Play, Answer.play_id == Play.id)
        .where(Play.participant_id == participant_id)
        .order_by(Answer.id.desc())  # type: ignore[union-attr]
        .limit(HISTORY_ROWS)
    ).all()
    in_play = [normalized for pid, _raw, normalized, _t in rows if pid == play_id]
    count = len(in_play)
    if count == len(rows) == HISTORY_ROWS:  # a flood inside this play: count all of them
        count = int(
            session.exec(
                select(func.count()).select_from(Answer).where(Answer.play_id == play_id)
            ).one()
        )
    return quality.History(
        play_keys=set(in_play),
        play_label_count=count,
        recent_message_keys=list(dict.fromkeys(key for pid, key, _n, _t in rows if pid != play_id)),
        recent_label_times=[created for _p, _r, _n, created in rows],
    )


def add_labels(
    telegram_id: int,
    text: str,
    settings: BotConfig,
    *,
    reply_to_message_id: int | None = None,
    now: datetime | None = None,
) -> LabelsAdded:
    """Record a message of labels for the play in the labelling stage (one Answer per label)."""
    now = now or utcnow()
    with dbcontext.scope() as session:
        participant = acting_player(session, telegram_id, now)
        play = open_play(session, participant.id or 0)
        if reply_to_message_id is not None:
            replied = session.exec(
                select(Play).where(
                    Play.participant_id == participant.id, Play.message_id == reply_to_message_id
                )
            ).first()
            if replied is not None and (play is None or replied.id != play.id):
                raise GameError("finished_challenge")
        if play is None:
            raise GameError("no_labelling")
        if play.stage != "labelling":
            raise GameError("not_guessed")
        parsed = quality.parse_labels(text, max_length=settings.max_label_length)
        if parsed.problem is not None:
            if parsed.limit is not None:
                raise GameError(parsed.problem, limit=parsed.limit)
            raise GameError(parsed.problem)
        history = _label_history(session, participant.id or 0, play.id or 0)
        if quality.over_play_limit(history, len(parsed.labels)):
            raise GameError("play_full", limit=quality.MAX_LABELS_PER_PLAY)
        play_fast = play.guessed_at is not None and quality.is_fast(
            play.served_at, play.guessed_at, settings.min_answer_seconds
        )
        flags = quality.label_flags(
            parsed.keys, parsed.message_key, history, now=now, play_fast=play_fast
        )
        # Written here rather than through storage.repo.add_answers: the flags are known before
        # the insert, and setting them afterwards would cost an UPDATE per label.
        answers = [
            Answer(
                play_id=play.id or 0,
                raw_message=text,
                label=label,
                normalized=key,
                message_key=parsed.message_key,
                hint_level=play.hint_level,
                flags=quality.flags_text(answer_flags),
                accepted=not answer_flags,
                created_at=now,
            )
            for label, key, answer_flags in zip(parsed.labels, parsed.keys, flags, strict=True)
        ]
        earlier = session.exec(
            select(Answer.label)
            .where(Answer.play_id == play.id)
            .order_by(Answer.id)  # type: ignore[arg-type]
            .limit(WORDS_SHOWN)
        ).all()
        session.add_all(answers)
        flagged = sum(1 for answer in answers if not answer.accepted)
        existing = history.play_label_count
        words = tuple(dict.fromkeys([*earlier, *parsed.labels]))
        return LabelsAdded(play.id or 0, parsed.labels, flagged, existing + len(answers), words)


def finish_labels(telegram_id: int, play_id: int, *, now: datetime | None = None) -> Finished:
    """Done: labelling → done, with the provisional agreement bonus."""
    now = now or utcnow()
    with dbcontext.scope() as session:
        participant, play = pressed_play(session, telegram_id, play_id, now)
        if play.stage == "done":
            raise GameError("already")
        if play.stage != "labelling":
            raise GameError("expired")
        return finish_play(session, play, participant, now)
