"""Helpers that insert explained images, clusters, players, plays and answers directly, with small
crop and map files under DATA_DIR, for the label and rebuild tests. The images and clusters come
from the shared synthetic collection (testkit.collection); this module adds the players and their
plays, and names every image and cluster by class, image, layer and rank."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from storage.db import session_scope
from storage.models import Answer, Cluster, Image, Participant, Play
from testkit.collection import ClusterShape, seed_collection

LAYERS: tuple[str, ...] = ("features.10", "features.29")  # at depths 0 and 1


@dataclass
class World:
    engine: Engine
    data_dir: Path
    model_id: int
    classes: list[str]
    images: dict[tuple[int, int], int] = field(default_factory=dict)  # (class, n) → image id
    # (class, image n, layer name, rank) → cluster id
    clusters: dict[tuple[int, int, str, int], int] = field(default_factory=dict)
    _next_telegram_id: int = 1000

    def cluster(self, class_index: int, image: int, layer: str, rank: int) -> int:
        return self.clusters[(class_index, image, layer, rank)]

    def crop_path(self, class_index: int, image: int) -> Path:
        """The crop file of the `image`-th image of the class."""
        with session_scope(self.engine, readonly=True) as s:
            row = s.get(Image, self.images[(class_index, image)])
            assert row is not None
            return self.data_dir / row.crop_file

    def map_file(self, cluster_id: int) -> str:
        """The cluster's map file, relative to DATA_DIR as the database holds it."""
        with session_scope(self.engine, readonly=True) as s:
            row = s.get(Cluster, cluster_id)
            assert row is not None
            return row.map_file

    def participant(self, trust: float = 0.5, points: int = 0) -> int:
        self._next_telegram_id += 1
        tid = self._next_telegram_id
        with session_scope(self.engine) as s:
            row = Participant(telegram_id=tid, pseudonym=f"p{tid}", trust=trust, points=points)
            s.add(row)
            s.flush()
            return int(row.id)

    def play(
        self,
        participant_id: int,
        cluster_id: int,
        labels: Sequence[str] = (),
        *,
        correct: bool | None = True,
        hint_level: int = 0,
        outcome: str | None = None,
        guessed_class: int | None = None,
        guess_points: int | None = None,
        streak_points: int = 0,
        provisional: Sequence[int] | None = None,
        accepted: Sequence[bool] | None = None,
    ) -> list[int]:
        """One finished play with its labels; returns the answer ids in order."""
        with session_scope(self.engine) as s:
            cluster = s.get(Cluster, cluster_id)
            assert cluster is not None
            if outcome is None:
                outcome = "win" if correct else "lose"
            if guessed_class is None and outcome != "resign":
                guessed_class = (
                    cluster.class_index
                    if correct
                    else (cluster.class_index + 1) % len(self.classes)
                )
            if guess_points is None:
                guess_points = round(100 * (1 - 0.1 * hint_level)) if correct else 0
            play = Play(
                participant_id=participant_id,
                cluster_id=cluster_id,
                stage="done" if outcome != "resign" else "resigned",
                outcome=outcome,
                hint_level=hint_level,
                guessed_class=guessed_class,
                correct=correct if outcome != "resign" else None,
                guess_points=guess_points,
                streak_points=streak_points,
            )
            s.add(play)
            s.flush()
            ids = []
            for i, label in enumerate(labels):
                answer = Answer(
                    play_id=play.id,
                    raw_message=", ".join(labels),
                    label=label,
                    normalized=" ".join(label.lower().split()),
                    hint_level=hint_level,
                    bonus_points=provisional[i] if provisional else 0,
                    accepted=accepted[i] if accepted else True,
                )
                s.add(answer)
                s.flush()
                ids.append(int(answer.id))
            return ids


def build_world(
    engine: Engine,
    data_dir: Path,
    *,
    classes: Sequence[str] = ("dog", "cat", "car"),
    images_per_class: int = 2,
    layers: Sequence[str] = LAYERS,
    weights: Sequence[float] = (60.0, 30.0),
) -> World:
    """A model, `images_per_class` images of each class, each with `layers` (depth = position),
    each layer with one cluster per weight (rank = position, 3 + rank maps), no gold; crops and
    7×7 maps written under `data_dir` by the shared collection factory."""
    image_classes = [c for c in range(len(classes)) for _ in range(images_per_class)]
    with session_scope(engine) as s:
        collection = seed_collection(
            s,
            data_dir,
            images=len(image_classes),
            layers=len(layers),
            clusters_per_layer=len(weights),
            classes=list(classes),
            layer_sides=[7] * len(layers),
            gold_every=0,
            image_classes=image_classes,
            layer_names=layers,
            shapes=[ClusterShape(weight, 3 + rank, (rank,)) for rank, weight in enumerate(weights)],
        )
    world = World(engine, data_dir, collection.model_id, list(classes))
    for position, image_id in enumerate(collection.image_ids):
        c, n = divmod(position, images_per_class)
        world.images[(c, n)] = image_id
        for depth, layer_name in enumerate(layers):
            for rank in range(len(weights)):
                cluster_id = collection.cluster_at[(position, depth, rank)]
                world.clusters[(c, n, layer_name, rank)] = cluster_id
    return world
