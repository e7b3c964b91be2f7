"""Which challenge a participant gets next.

- never a cluster the participant already has a play for (any outcome, skips included);
- only clusters with fewer than PLAYS_PER_CHALLENGE counted plays (skips are not counted, so a
  skipped challenge goes back to others);
- with adaptive retirement, not a cluster whose top concept the last rebuild found settled;
  clusters it found unsettled come first, then the ones closest to done (most counted plays),
  ties at random;
- a gold challenge with probability GOLD_RATE when one is available (always gold when nothing
  else is left, never gold when no gold is left);
- at most DAILY_CAP challenges per participant in any 24 hours.

`choose` and `daily_cap_reached` decide; `load_candidates` and `served_since` only read.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func
from sqlmodel import Session, select

from storage.models import Cluster, ClusterStatus, Play

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Candidate:
    cluster_id: int
    plays: int
    is_gold: bool
    unsettled: bool = False  # the last rebuild looked at it and found its top concept open


def choose(
    candidates: Sequence[Candidate],
    *,
    gold_rate: float,
    rng: random.Random,
    fewest_first: bool = False,
) -> Candidate | None:
    """The next challenge among `candidates` (all eligible), or None when there is none.

    `fewest_first` (adaptive retirement, once a rebuild has judged clusters): after the clusters
    found unsettled, the ones with the fewest plays, so that a rebuild sees each cluster's first
    plays before it gets more; closest to done first would fill a cluster to the cap between two
    rebuilds and leave nothing to save.
    """
    if not candidates:
        return None
    gold = [c for c in candidates if c.is_gold]
    regular = [c for c in candidates if not c.is_gold]
    pool = gold or regular
    if gold and regular and rng.random() >= gold_rate:
        pool = regular
    sign = -1 if fewest_first else 1
    top = max((c.unsettled, sign * c.plays) for c in pool)
    return rng.choice([c for c in pool if (c.unsettled, sign * c.plays) == top])


def daily_cap_reached(served_last_day: int, cap: int) -> bool:
    return served_last_day >= cap


def counted_plays():
    """SQL: 1 for a play that counts toward retirement (anything but a skip), 0 otherwise."""
    return func.coalesce(
        func.sum(case((Play.id.is_(None), 0), (Play.outcome == "skip", 0), else_=1)), 0
    )


def load_candidates(
    session: Session, participant_id: int, plays_per_challenge: int
) -> list[Candidate]:
    """Active clusters this participant never had, with fewer than `plays_per_challenge` plays."""
    mine = select(Play.cluster_id).where(Play.participant_id == participant_id)
    count = counted_plays()
    rows = session.exec(
        select(Cluster.id, Cluster.is_gold, count)
        .outerjoin(Play, Play.cluster_id == Cluster.id)
        .where(Cluster.active.is_(True), Cluster.id.not_in(mine))
        .group_by(Cluster.id, Cluster.is_gold)
        .having(count < plays_per_challenge)
    ).all()
    return [Candidate(cluster_id, int(plays), bool(is_gold)) for cluster_id, is_gold, plays in rows]


class PlayCounter:
    """Counted plays per cluster, kept in memory between full recounts.

    `load_candidates` aggregates every play on each call, which grows with the database; the bot
    instead recounts every `ttl` seconds and in between adds the plays it serves and removes
    the ones skipped (it is the only writer of plays). Whether the participant already had a
    cluster is always read from the database.
    """

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self.expires = 0.0
        self.counts: dict[int, int] = {}
        self.clusters: list[tuple[int, bool]] = []
        self.settled: dict[int, bool] = {}  # cluster → settled, as the last rebuild found it

    @property
    def judged(self) -> bool:
        """Whether the last rebuild has judged any cluster's settledness."""
        return bool(self.settled)

    def invalidate(self) -> None:
        self.expires = 0.0

    def _refresh(self, session: Session, now: float) -> None:
        self.clusters = [
            (cid, bool(gold))
            for cid, gold in session.exec(
                select(Cluster.id, Cluster.is_gold)
                .where(Cluster.active.is_(True))
                .order_by(Cluster.id)
            ).all()
        ]
        counted = (Play.outcome.is_(None)) | (Play.outcome != "skip")  # type: ignore[union-attr]
        self.counts = {
            cid: int(n)
            for cid, n in session.exec(
                select(Play.cluster_id, func.count()).where(counted).group_by(Play.cluster_id)
            ).all()
        }
        self.settled = {
            cid: bool(settled)
            for cid, settled in session.exec(
                select(ClusterStatus.cluster_id, ClusterStatus.settled)
            ).all()
        }
        self.expires = now + self.ttl

    def candidates(
        self,
        session: Session,
        participant_id: int,
        plays_per_challenge: int,
        now: float,
        *,
        adaptive: bool = False,
    ) -> list[Candidate]:
        """Eligible clusters; with `adaptive`, settled ones are retired and unsettled marked."""
        if now >= self.expires:
            self._refresh(session, now)
        mine = set(
            session.exec(select(Play.cluster_id).where(Play.participant_id == participant_id)).all()
        )
        counts = self.counts
        settled = self.settled if adaptive else {}
        return [
            Candidate(cid, counts.get(cid, 0), gold, settled.get(cid) is False)
            for cid, gold in self.clusters
            if cid not in mine
            and counts.get(cid, 0) < plays_per_challenge
            and not settled.get(cid, False)
        ]

    def served(self, cluster_id: int) -> None:
        self.counts[cluster_id] = self.counts.get(cluster_id, 0) + 1

    def skipped(self, cluster_id: int) -> None:
        self.counts[cluster_id] = max(0, self.counts.get(cluster_id, 0) - 1)


def play_counts(session: Session, participant_id: int, since: datetime) -> tuple[int, int]:
    """(plays ever served to the participant, plays served since `since`), in one query."""
    recent = func.coalesce(func.sum(case((Play.served_at >= since, 1), else_=0)), 0)
    total, served = session.exec(
        select(func.count(), recent).select_from(Play).where(Play.participant_id == participant_id)
    ).one()
    return int(total), int(served)


def pick_options(
    correct: int, collection: Sequence[int], model_classes: int, *, n: int, rng: random.Random
) -> list[int]:
    """Shuffled class choices: the right one plus distractors from the collection's other
    classes, padded with other classes of the model when the collection has too few.

    `n` is clipped to 4..10 and to the number of classes the model has.
    """
    n = max(4, min(10, n))
    n = min(n, model_classes)
    others = [c for c in dict.fromkeys(collection) if c != correct and 0 <= c < model_classes]
    picked = rng.sample(others, min(len(others), n - 1))
    if len(picked) < n - 1:
        used = {correct, *picked}
        pool = [c for c in range(model_classes) if c not in used]
        picked += rng.sample(pool, min(len(pool), n - 1 - len(picked)))
    options = [correct, *picked]
    rng.shuffle(options)
    return options
