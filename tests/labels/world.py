"""Helpers that insert explained images, clusters, players, plays and answers directly, with small
crop and map files under DATA_DIR, for the label and rebuild tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from sqlalchemy.engine import Engine

from engine.render import encode_map
from storage.db import session_scope
from storage.models import Answer, Cluster, ExplainedLayer, Image, Model, Participant, Play

LAYERS: tuple[tuple[str, int], ...] = (("features.10", 0), ("features.29", 1))


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


def _write_crop(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, 64, dtype=np.float64)
    rgb = np.stack(
        [
            np.add.outer(base, base) / 2,
            np.tile(base, (64, 1)).T,
            np.full((64, 64), rng.uniform(0, 255)),
        ],
        axis=-1,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(rgb.astype(np.uint8), mode="RGB").save(path)


def build_world(
    engine: Engine,
    data_dir: Path,
    *,
    classes: Sequence[str] = ("dog", "cat", "car"),
    images_per_class: int = 2,
    layers: Sequence[tuple[str, int]] = LAYERS,
    weights: Sequence[float] = (60.0, 30.0),
) -> World:
    """A model, `images_per_class` images of each class, each with `layers`, each layer with one
    cluster per weight (rank = position), crops and 7×7 maps written under `data_dir`."""
    rng = np.random.default_rng(7)
    with session_scope(engine) as s:
        model = Model(
            name="testnet", weights_hash="f" * 16, num_classes=len(classes), classes=list(classes)
        )
        s.add(model)
        s.flush()
        world = World(engine, data_dir, int(model.id), list(classes))
        for c in range(len(classes)):
            for n in range(images_per_class):
                crop = f"crops/c{c}-i{n}.png"
                _write_crop(data_dir / crop, seed=c * 100 + n)
                image = Image(
                    model_id=model.id,
                    sha256=f"{c:04d}{n:04d}".ljust(64, "0"),
                    config_key="cfg",
                    source_path=f"/photos/{c}-{n}.jpg",
                    crop_file=crop,
                    width=64,
                    height=64,
                    true_class=c,
                    predicted_class=c,
                    predicted_prob=0.9,
                    explained_class=c,
                )
                s.add(image)
                s.flush()
                world.images[(c, n)] = int(image.id)
                for layer_name, depth in layers:
                    layer = ExplainedLayer(
                        image_id=image.id,
                        layer_name=layer_name,
                        depth=depth,
                        channels=64,
                        kept_channels=10,
                        height=7,
                        width=7,
                        kept_weight=90.0,
                    )
                    s.add(layer)
                    s.flush()
                    for rank, weight in enumerate(weights):
                        map_file = f"maps/{image.id}-{depth}-{rank}.png"
                        path = data_dir / map_file
                        path.parent.mkdir(parents=True, exist_ok=True)
                        path.write_bytes(encode_map(rng.uniform(0, 1, size=(7, 7))))
                        cluster = Cluster(
                            layer_id=layer.id,
                            image_id=image.id,
                            class_index=c,
                            layer_name=layer_name,
                            depth=depth,
                            rank=rank,
                            weight=weight,
                            n_maps=3 + rank,
                            channels=[rank],
                            map_file=map_file,
                        )
                        s.add(cluster)
                        s.flush()
                        world.clusters[(c, n, layer_name, rank)] = int(cluster.id)
    return world
