"""A challenge from start to reveal: serve, show more, open the choices, guess or give up, cancel.

Plain, synchronous functions, one transaction each: handlers call them in the database worker
thread and turn the results into replies; nothing here knows about Telegram. All state is in
the database (`Play.stage` is the state machine: reveal → guessing → labelling → done, or
reveal/guessing → resigned / skipped), so a restart in the middle of a challenge resumes it and a
stale button is judged against the stored state. The labelling stage is bot.labelling.

Refusals are `GameError(code)` (bot.refusals); `code` picks the reply text.
"""

from __future__ import annotations

import random
import time
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import assignment, dbcontext, quality, scoring, serving
from bot.catalogue import ClusterInfo, catalogue
from bot.config import BotConfig
from bot.labelling import finish_play
from bot.photo_file_ids import FULL_PHOTO_LEVEL, HINT_LEVEL_COUNT
from bot.play_access import acting_player, open_play, pressed_play
from bot.play_results import Cancelled, Challenge, Finished, Guessed, Resigned, Reveal, Started
from bot.refusals import GameError
from storage.models import Participant, Play, utcnow
from storage.points import add as add_points
from storage.repo import AlreadyPlayedError, create_play, get_participant

N_OPTIONS = 6  # choices offered per guess: enough to make guessing unlikely, few enough to read


def _info(session: Session, cluster_id: int) -> ClusterInfo:
    info = catalogue(session).cluster(session, cluster_id)
    if info is None:
        raise GameError("gone")
    return info


def _class_name(session: Session, info: ClusterInfo, index: int | None = None) -> str:
    names = catalogue(session).class_names(session, info.model_id)
    index = info.class_index if index is None else index
    return names[index] if 0 <= index < len(names) else f"class {index}"


def _reveal(session: Session, info: ClusterInfo, streak_before: int, streak_after: int) -> Reveal:
    cat = catalogue(session)
    return Reveal(
        cluster_id=info.cluster_id,
        crop_file=info.crop_file,
        file_id=cat.photo(session, info.cluster_id, FULL_PHOTO_LEVEL),
        answer=_class_name(session, info),
        confidence=info.confidence,
        depth=info.depth,
        depths=cat.layer_count(session, info.model_id),
        streak_lost=streak_before if streak_before > 0 and streak_after == 0 else 0,
    )


def _view(
    session: Session, play: Play, participant_id: int, *, ordinal: int | None = None
) -> Challenge:
    info = _info(session, play.cluster_id)
    cat = catalogue(session)
    names = cat.class_names(session, info.model_id)
    options = tuple(names[i] if 0 <= i < len(names) else f"class {i}" for i in play.options)
    return Challenge(
        play_id=play.id or 0,
        cluster_id=info.cluster_id,
        ordinal=ordinal or 0,  # known when a play starts; later captions leave it out
        hint_level=play.hint_level,
        layer_depth=info.depth,
        crop_file=info.crop_file,
        map_file=info.map_file,
        file_id=cat.photo(session, info.cluster_id, play.hint_level),
        options=options,
    )


def _skip(session: Session, play: Play, participant: Participant, now: datetime) -> None:
    catalogue(session).plays.skipped(play.cluster_id)  # a skip does not count toward retirement
    play.stage = "skipped"
    play.outcome = "skip"
    play.finished_at = now
    participant.streak = scoring.next_streak(participant.streak, correct=None)


def _close_open(
    session: Session, participant: Participant, now: datetime
) -> tuple[Finished | None, bool]:
    play = open_play(session, participant.id or 0)
    if play is None:
        return None, False
    if play.stage == "labelling":
        return finish_play(session, play, participant, now), False
    _skip(session, play, participant, now)
    return None, True


def start_challenge(
    telegram_id: int,
    settings: BotConfig,
    *,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> Started:
    """Close the open play (skip it, or finish its labelling) and serve the next challenge."""
    now = now or utcnow()
    rng = rng or random.Random()
    with dbcontext.scope() as session:
        participant = acting_player(session, telegram_id, now)
        finished, skipped = _close_open(session, participant, now)
        total, served = assignment.play_counts(session, participant.id or 0, now - assignment.DAY)
        if assignment.daily_cap_reached(served, settings.daily_cap):
            raise GameError("daily_cap", cap=settings.daily_cap, finished=finished, skipped=skipped)
        cat = catalogue(session)
        photos = cat.servable_photos(session, settings.min_confidence)
        recent = serving.recent_images(session, participant.id or 0, settings.photo_cooldown)

        def eligible() -> list[assignment.Candidate]:
            found = cat.plays.candidates(
                session,
                participant.id or 0,
                settings.plays_per_challenge,
                time.monotonic(),
                adaptive=settings.adaptive_retirement,
            )
            return serving.eligible(found, photos, recent)

        candidates = eligible()
        for _attempt in range(3):
            choice = assignment.choose(
                candidates,
                gold_rate=settings.gold_rate,
                rng=rng,
                fewest_first=settings.adaptive_retirement and cat.plays.judged,
            )
            if choice is None:
                raise GameError("no_challenges", finished=finished, skipped=skipped)
            info = _info(session, choice.cluster_id)
            names = cat.class_names(session, info.model_id)
            options = serving.pick_options(
                info.class_index,
                info.confusions,
                list(cat.collection(session, info.model_id)),
                len(names),
                n=N_OPTIONS,
                rng=rng,
            )
            try:
                play = create_play(
                    session,
                    participant.id or 0,
                    info.cluster_id,
                    is_gold=choice.is_gold,
                    options=options,
                    chat_id=telegram_id,
                    served_at=now,
                )
            except AlreadyPlayedError:
                candidates = [c for c in candidates if c.cluster_id != choice.cluster_id]
                continue
            except IntegrityError:
                # The cluster was deleted since the counts were loaded (e.g. a re-run of
                # precompute): recount and choose again.
                cat.plays.invalidate()
                cat.clusters.pop(choice.cluster_id, None)
                candidates = eligible()
                continue
            cat.plays.served(info.cluster_id)
            view = _view(session, play, participant.id or 0, ordinal=total + 1)
            return Started(view, finished, skipped)
        raise GameError("no_challenges", finished=finished, skipped=skipped)


def show_more(
    telegram_id: int,
    play_id: int,
    seen_level: int,
    *,
    now: datetime | None = None,
    message_id: int | None = None,
) -> Challenge:
    """Raise the hint level of a play in the reveal stage (one level per press)."""
    now = now or utcnow()
    with dbcontext.scope() as session:
        participant, play = pressed_play(session, telegram_id, play_id, now, message_id)
        if play.stage != "reveal":
            raise GameError("expired")
        if play.hint_level != seen_level:
            raise GameError("already")  # a double tap, or a retry of a press already served
        if play.hint_level >= HINT_LEVEL_COUNT - 1:
            raise GameError("hint_max")
        play.hint_level += 1
        return _view(session, play, participant.id or 0)


def open_guess(
    telegram_id: int, play_id: int, *, now: datetime | None = None, message_id: int | None = None
) -> Challenge:
    """Show the choices: reveal → guessing (pressing again shows the same choices)."""
    now = now or utcnow()
    with dbcontext.scope() as session:
        participant, play = pressed_play(session, telegram_id, play_id, now, message_id)
        if play.stage not in ("reveal", "guessing"):
            raise GameError("expired")
        play.stage = "guessing"
        return _view(session, play, participant.id or 0)


def make_guess(
    telegram_id: int,
    play_id: int,
    option: int,
    settings: BotConfig,
    *,
    now: datetime | None = None,
    message_id: int | None = None,
) -> Guessed:
    """Judge a choice: points, streak, gold statistics and trust; guessing → labelling."""
    now = now or utcnow()
    with dbcontext.scope() as session:
        participant, play = pressed_play(session, telegram_id, play_id, now, message_id)
        if play.stage != "guessing":
            raise GameError("already" if play.guessed_at is not None else "expired")
        if not 0 <= option < len(play.options):
            raise GameError("invalid")
        info = _info(session, play.cluster_id)
        guessed = play.options[option]
        correct = guessed == info.class_index
        fast = quality.is_fast(play.served_at, now, settings.min_answer_seconds)
        streak = scoring.next_streak(participant.streak, correct=correct, fast=fast)
        gp = scoring.guess_points(play.hint_level, correct=correct, fast=fast)
        sp = scoring.streak_points(streak) if correct and not fast else 0
        play.stage = "labelling"
        play.outcome = "win" if correct else "lose"
        play.guessed_class = guessed
        play.correct = correct
        play.guess_points = gp
        play.streak_points = sp
        play.guessed_at = now
        reveal = _reveal(session, info, participant.streak, streak)
        participant.streak = streak
        participant.best_streak = max(participant.best_streak, streak)
        if play.is_gold:
            participant.gold_seen += 1
            participant.gold_correct += int(correct)
            if participant.ability is None:  # until a rebuild estimates it from every play
                participant.trust = quality.trust(participant.gold_correct, participant.gold_seen)
        add_points(participant, gp + sp)
        return Guessed(play.id or 0, correct, fast, reveal.answer, gp, sp, reveal)


def resign(
    telegram_id: int, play_id: int, *, now: datetime | None = None, message_id: int | None = None
) -> Resigned:
    now = now or utcnow()
    with dbcontext.scope() as session:
        participant, play = pressed_play(session, telegram_id, play_id, now, message_id)
        if play.stage not in ("reveal", "guessing"):
            raise GameError("expired")
        info = _info(session, play.cluster_id)
        play.stage = "resigned"
        play.outcome = "resign"
        play.finished_at = now
        streak = scoring.next_streak(participant.streak, correct=False)
        reveal = _reveal(session, info, participant.streak, streak)
        participant.streak = streak
        return Resigned(play.id or 0, reveal.answer, reveal)


def cancel(telegram_id: int, *, now: datetime | None = None) -> Cancelled:
    """Leave the pending step: skip a challenge not guessed yet, or finish its labelling."""
    now = now or utcnow()
    with dbcontext.scope() as session:
        participant = get_participant(session, telegram_id)
        if participant is None or participant.consent_at is None:
            return Cancelled(False, None)
        finished, skipped = _close_open(session, participant, now)
        return Cancelled(skipped, finished)
