"""The game's operations on the database: plain, synchronous functions, one transaction each.

Handlers call these in the database worker thread and turn the results into replies; nothing
here knows about Telegram. All state is in the database (`Play.stage` is the state machine:
reveal → guessing → labelling → done, or reveal/guessing → resigned / skipped), so a restart in
the middle of a challenge resumes it and a stale button is judged against the stored state.

Refusals are `GameError(code)`; `code` picks the reply text.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import case, delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot import assignment, dbcontext, nicknames, quality, scoring, serving
from bot.config import BotConfig
from bot.leaderboard import Row, display_name, rank_of, top
from bot.names import looks_like_default, unique_name
from engine.hints import HINT_LEVELS
from engine.labels.agreement import LabelVote, agreement_bonuses
from storage.forget import delete_files, forget_participant
from storage.models import (
    Answer,
    Cluster,
    GroupChat,
    Image,
    Model,
    Participant,
    Play,
    RenderedPhoto,
    utcnow,
)
from storage.points import add as add_points
from storage.repo import (
    AlreadyPlayedError,
    create_play,
    get_or_create_participant,
    get_participant,
    subscribe_group,
    subscribed_groups,
    unsubscribe_group,
)

HINT_LEVEL_COUNT = len(HINT_LEVELS)
HINT_PERCENTS = HINT_LEVELS
N_OPTIONS = 6  # choices offered per guess: enough to make guessing unlikely, few enough to read
OPEN_STAGES = ("reveal", "guessing", "labelling")


class GameError(Exception):
    """A refused action; `code` names the reason (see bot.handlers for the replies)."""

    def __init__(self, code: str, **info: object) -> None:
        super().__init__(code)
        self.code = code
        self.info = info


# ---- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """What a player sees of one play: enough to render, caption and key it."""

    play_id: int
    cluster_id: int
    ordinal: int
    hint_level: int
    layer_depth: int
    crop_file: str
    map_file: str
    file_id: str | None
    options: tuple[str, ...]


@dataclass(frozen=True)
class Finished:
    play_id: int
    message_id: int | None  # the challenge photo's message, which the summary replaces
    guess_points: int
    streak_points: int
    bonus_points: int
    labels: int
    total: int
    rank: int
    players: int


@dataclass(frozen=True)
class Started:
    challenge: Challenge
    finished: Finished | None
    skipped: bool


@dataclass(frozen=True)
class Reveal:
    """What the full photo shows after a guess or a give-up: the AI's answer and where the part
    the player saw came from."""

    cluster_id: int
    crop_file: str
    file_id: str | None  # the full photo's file_id once uploaded
    answer: str
    confidence: float | None  # the AI's probability for its answer, when known
    depth: int
    depths: int  # explained layers of the model
    streak_lost: int  # the streak a wrong guess or give-up ended (0 when none)


@dataclass(frozen=True)
class Guessed:
    play_id: int
    correct: bool
    fast: bool
    answer: str
    guess_points: int
    streak_points: int
    reveal: Reveal


@dataclass(frozen=True)
class Resigned:
    play_id: int
    answer: str
    reveal: Reveal


@dataclass(frozen=True)
class LabelsAdded:
    play_id: int
    labels: tuple[str, ...]
    flagged: int
    total: int
    words: tuple[str, ...] = ()  # every word given for the play so far, this message's included


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


@dataclass(frozen=True)
class Cancelled:
    skipped: bool
    finished: Finished | None


# ---- helpers ---------------------------------------------------------------------------------


SEEN_RESOLUTION = timedelta(minutes=1)  # last_seen_at is refreshed at most this often
COLLECTION_TTL = 60.0  # seconds the list of a model's explained classes is reused


@dataclass(frozen=True)
class ClusterInfo:
    """What a view needs of a cluster; written once by precompute, so it can be cached."""

    cluster_id: int
    model_id: int
    class_index: int
    depth: int
    crop_file: str
    map_file: str
    is_gold: bool
    confidence: float | None  # the AI's probability for the explained class, when it is its answer
    confusions: tuple[int, ...] = ()  # the network's most probable classes for the photo


FULL_PHOTO_LEVEL = HINT_LEVEL_COUNT  # RenderedPhoto key of the unmasked photo shown at the end


class Catalogue:
    """Read-through cache of the explanation rows the game only reads, per database.

    Clusters, images and models never change after precompute, and photo file_ids change only
    through remember_photo/forget_photo here; caching them saves most queries of each update.
    """

    def __init__(self) -> None:
        self.clusters: dict[int, ClusterInfo] = {}
        self.classes: dict[int, tuple[str, ...]] = {}
        self.collections: dict[int, tuple[float, tuple[int, ...]]] = {}
        self.photos: dict[tuple[int, int], str | None] = {}
        self.plays = assignment.PlayCounter()
        self.depths: dict[int, int] = {}
        self.servable: tuple[float, float, dict[int, serving.Photo]] | None = None

    def layer_count(self, session: Session, model_id: int) -> int:
        """How many layers of the model are explained (for naming a depth's stage)."""
        count = self.depths.get(model_id)
        if count is None:
            deepest = session.exec(
                select(func.max(Cluster.depth))
                .join(Image, Image.id == Cluster.image_id)
                .where(Image.model_id == model_id)
            ).first()
            count = self.depths[model_id] = int(deepest or 0) + 1
        return count

    def servable_photos(self, session: Session, min_confidence: float) -> dict[int, serving.Photo]:
        """cluster id → photo of every active cluster whose photo may be served."""
        now = time.monotonic()
        if self.servable is None or self.servable[0] < now or self.servable[1] != min_confidence:
            photos = serving.servable_photos(session, min_confidence)
            self.servable = (now + COLLECTION_TTL, min_confidence, photos)
        return self.servable[2]

    def cluster(self, session: Session, cluster_id: int) -> ClusterInfo | None:
        info = self.clusters.get(cluster_id)
        if info is None:
            row = session.exec(
                select(
                    Cluster.id,
                    Image.model_id,
                    Cluster.class_index,
                    Cluster.depth,
                    # The sharper display copy when precompute made one (same region).
                    func.coalesce(Image.display_file, Image.crop_file),
                    Cluster.map_file,
                    Cluster.is_gold,
                    Image.predicted_class,
                    Image.predicted_prob,
                    Image.top_classes,
                )
                .join(Image, Image.id == Cluster.image_id)
                .where(Cluster.id == cluster_id)
            ).first()
            if row is None:
                return None
            *fields, predicted, probability, top_classes = row
            confidence = float(probability) if predicted == fields[2] else None
            info = ClusterInfo(*fields, confidence=confidence, confusions=tuple(top_classes or ()))
            self.clusters[cluster_id] = info
        return info

    def class_names(self, session: Session, model_id: int) -> tuple[str, ...]:
        names = self.classes.get(model_id)
        if names is None:
            classes = session.exec(select(Model.classes).where(Model.id == model_id)).first()
            names = tuple(classes or ())
            self.classes[model_id] = names
        return names

    def collection(self, session: Session, model_id: int) -> tuple[int, ...]:
        cached = self.collections.get(model_id)
        now = time.monotonic()
        if cached is None or cached[0] < now:
            classes = session.exec(
                select(Image.explained_class).where(Image.model_id == model_id).distinct()
            ).all()
            cached = (now + COLLECTION_TTL, tuple(classes))
            self.collections[model_id] = cached
        return cached[1]

    def photo(self, session: Session, cluster_id: int, level: int) -> str | None:
        key = (cluster_id, level)
        if key not in self.photos:
            self.photos[key] = session.exec(
                select(RenderedPhoto.telegram_file_id).where(
                    RenderedPhoto.cluster_id == cluster_id, RenderedPhoto.hint_level == level
                )
            ).first()
        return self.photos[key]


_catalogues: dict[str, Catalogue] = {}
_catalogues_lock = threading.Lock()


def catalogue(session: Session) -> Catalogue:
    key = str(session.get_bind().url)
    with _catalogues_lock:
        cat = _catalogues.get(key)
        if cat is None:
            cat = _catalogues[key] = Catalogue()
        return cat


def clear_catalogues() -> None:
    """Forget every cached row (e.g. after precompute replaced clusters)."""
    with _catalogues_lock:
        _catalogues.clear()


def _player(session: Session, telegram_id: int, now: datetime) -> Participant:
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


def _press(
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
        participant = _player(session, telegram_id, now)  # refuses without consent first
        return participant, _own_play(session, participant, play_id, message_id)
    play, participant = row
    if participant.consent_at is None:
        raise GameError("consent")
    _touch(participant, now)
    if message_id is not None and play.message_id is None:
        play.message_id = message_id
    return participant, play


def _open_play(session: Session, participant_id: int) -> Play | None:
    return session.exec(
        select(Play)
        .where(Play.participant_id == participant_id, Play.stage.in_(OPEN_STAGES))  # type: ignore[attr-defined]
        .order_by(Play.id.desc())  # type: ignore[union-attr]
    ).first()


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


def _finish(session: Session, play: Play, participant: Participant, now: datetime) -> Finished:
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


def _close_open(
    session: Session, participant: Participant, now: datetime
) -> tuple[Finished | None, bool]:
    play = _open_play(session, participant.id or 0)
    if play is None:
        return None, False
    if play.stage == "labelling":
        return _finish(session, play, participant, now), False
    _skip(session, play, participant, now)
    return None, True


# ---- consent ---------------------------------------------------------------------------------


def _default_name(session: Session, participant: Participant) -> str:
    """A friendly name derived from the pseudonym that looks like no other player's name."""
    nicknames.lock_names(session)
    others = session.exec(
        select(Participant.nickname, Participant.pseudonym).where(
            Participant.id != participant.id,
            Participant.consent_at.is_not(None),  # type: ignore[union-attr]
        )
    ).all()
    shown = [display_name(nick, pseudo) for nick, pseudo in others]

    def taken(name: str) -> bool:
        return nicknames.clashes(name, shown)

    return unique_name(participant.pseudonym, taken)


def has_consented(telegram_id: int) -> bool:
    with dbcontext.scope(readonly=True) as session:
        participant = get_participant(session, telegram_id)
        return participant is not None and participant.consent_at is not None


def record_consent(
    telegram_id: int, accepted: bool, *, key: bytes, now: datetime | None = None
) -> bool:
    """Store the consent decision; True when it changed anything (a second press does not).

    A new participant's pseudonym is the HMAC of their id under `key`."""
    now = now or utcnow()
    with dbcontext.scope() as session:
        participant = get_participant(session, telegram_id)
        if accepted:
            participant = participant or get_or_create_participant(session, telegram_id, key=key)
            if participant.consent_at is not None:
                return False
            participant.consent_at = now
            participant.consent_declined_at = None
            participant.active = True
            participant.last_seen_at = now
            if participant.nickname is None:
                participant.nickname = _default_name(session, participant)
            return True
        if participant is not None and participant.consent_at is not None:
            return False  # an old "No" button; leaving is /forget
        # Kept: the Telegram id (to recognise them and not ask again) and when they said no.
        # Every other field stays at its default; they are never exported and never ranked.
        participant = participant or get_or_create_participant(session, telegram_id, key=key)
        participant.consent_declined_at = now
        participant.created_at = participant.last_seen_at = now
        participant.active = False
        return True


def has_declined(telegram_id: int) -> bool:
    """Whether this person said no to taking part (and has not agreed since)."""
    with dbcontext.scope(readonly=True) as session:
        participant = get_participant(session, telegram_id)
        return (
            participant is not None
            and participant.consent_at is None
            and participant.consent_declined_at is not None
        )


# ---- the challenge ---------------------------------------------------------------------------


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
        participant = _player(session, telegram_id, now)
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
        participant, play = _press(session, telegram_id, play_id, now, message_id)
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
        participant, play = _press(session, telegram_id, play_id, now, message_id)
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
        participant, play = _press(session, telegram_id, play_id, now, message_id)
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
        participant, play = _press(session, telegram_id, play_id, now, message_id)
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
        participant = _player(session, telegram_id, now)
        play = _open_play(session, participant.id or 0)
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
        participant, play = _press(session, telegram_id, play_id, now)
        if play.stage == "done":
            raise GameError("already")
        if play.stage != "labelling":
            raise GameError("expired")
        return _finish(session, play, participant, now)


def cancel(telegram_id: int, *, now: datetime | None = None) -> Cancelled:
    """Leave the pending step: skip a challenge not guessed yet, or finish its labelling."""
    now = now or utcnow()
    with dbcontext.scope() as session:
        participant = get_participant(session, telegram_id)
        if participant is None or participant.consent_at is None:
            return Cancelled(False, None)
        finished, skipped = _close_open(session, participant, now)
        return Cancelled(skipped, finished)


# ---- score, leaderboard, nickname, forget ------------------------------------------------------


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
        nicknames.lock_names(session)
        others = session.exec(
            # Players only: someone who declined is shown nowhere, so cannot be imitated.
            select(Participant.nickname, Participant.pseudonym).where(
                Participant.id != participant.id,
                Participant.consent_at.is_not(None),  # type: ignore[union-attr]
            )
        ).all()
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


# ---- groups ------------------------------------------------------------------------------------


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
