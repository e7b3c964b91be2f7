"""Which photos may be served, and to whom: confident answers only, a cooldown per player.

- A photo is served only when the AI's answer is the one explained (the map shows why it gave
  that answer) and it is either confident (probability ≥ MIN_CONFIDENCE) or equal to the photo's
  known true class. "The AI took this for: football helmet" over an astronaut at 16% confidence
  teaches players the AI's noise, not what it sees.
- A hidden check (gold) needs a known right answer: only photos whose true class is known and
  predicted count as checks; other clusters flagged gold are served as ordinary challenges.
- A player does not see the same photo again within PHOTO_COOLDOWN challenges, unless every
  photo left for them is cooling down: then the cooldown is waived rather than the challenge
  refused.
- About half of the wrong answers offered are classes the network itself found likely for the
  photo (its top classes), so the buttons change with the photo and are worth thinking about;
  the rest come from the collection's other classes, then from any class of the model.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from bot.assignment import Candidate
from storage.models import Cluster, Image, Play


@dataclass(frozen=True)
class Photo:
    """What serving needs to know of a cluster's photo."""

    image_id: int
    correct: bool  # true class known and predicted


def is_servable(
    *,
    predicted: int,
    explained: int,
    probability: float,
    true_class: int | None,
    min_confidence: float,
) -> bool:
    if predicted != explained:
        return False
    return probability >= min_confidence or (true_class is not None and true_class == predicted)


def servable_image(min_confidence: float) -> ColumnElement[bool]:
    """SQL: `is_servable` for Image rows."""
    return and_(
        Image.predicted_class == Image.explained_class,
        or_(
            Image.predicted_prob >= min_confidence,
            Image.true_class == Image.predicted_class,  # NULL true class: not true
        ),
    )


def servable_photos(session: Session, min_confidence: float) -> dict[int, Photo]:
    """cluster id → its photo, for every active cluster whose photo may be served."""
    rows = session.exec(
        select(Cluster.id, Cluster.image_id, Image.true_class, Image.predicted_class)
        .join(Image, Image.id == Cluster.image_id)
        .where(Cluster.active.is_(True), servable_image(min_confidence))
    ).all()
    return {
        cluster_id: Photo(image_id, true_class is not None and true_class == predicted)
        for cluster_id, image_id, true_class, predicted in rows
    }


def recent_images(session: Session, participant_id: int, last: int) -> set[int]:
    """Images of the participant's last `last` challenges (any outcome)."""
    if last <= 0:
        return set()
    rows = session.exec(
        select(Cluster.image_id)
        .join(Play, Play.cluster_id == Cluster.id)
        .where(Play.participant_id == participant_id)
        .order_by(Play.id.desc())  # type: ignore[union-attr]
        .limit(last)
    ).all()
    return set(rows)


def eligible(
    candidates: Sequence[Candidate], photos: Mapping[int, Photo], recent: set[int]
) -> list[Candidate]:
    """The candidates that may be served now: servable photos, gold only when the answer is
    known, photos not seen recently (unless only those are left)."""
    servable = [
        dataclasses.replace(c, is_gold=c.is_gold and photos[c.cluster_id].correct)
        for c in candidates
        if c.cluster_id in photos
    ]
    fresh = [c for c in servable if photos[c.cluster_id].image_id not in recent]
    return fresh or servable


def pick_options(
    correct: int,
    confusions: Sequence[int],
    collection: Sequence[int],
    model_classes: int,
    *,
    n: int,
    rng: random.Random,
) -> list[int]:
    """Shuffled answer buttons: `correct`, some of the network's own confusions for the photo
    (`confusions`, most probable first), then other classes of the collection, then any class.

    `n` is clipped to 4..10 and to the number of classes the model has.
    """
    n = min(max(4, min(10, n)), model_classes)
    wanted = n - 1
    confused = [c for c in dict.fromkeys(confusions) if c != correct and 0 <= c < model_classes]
    near = confused[:wanted]  # the closest confusions; a sample keeps them from repeating
    picked = rng.sample(near, min(len(near), (wanted + 1) // 2))
    used = {correct, *picked}
    others = [c for c in dict.fromkeys(collection) if c not in used and 0 <= c < model_classes]
    picked += rng.sample(others, min(len(others), wanted - len(picked)))
    if len(picked) < wanted:
        used = {correct, *picked}
        pool = [c for c in range(model_classes) if c not in used]
        picked += rng.sample(pool, min(len(pool), wanted - len(picked)))
    options = [correct, *picked]
    rng.shuffle(options)
    return options
