"""A synthetic explained collection (Model, Image, ExplainedLayer, Cluster) with real files.

What precompute would have written, without a network: crops are random RGB PNGs (or, with
`photos=True`, smooth JPEG scenes that compress like photographs) and cluster maps are map files
the engine's `load_map` reads (random cells, or with `blob_maps=True` one Gaussian blob each, as a
saliency map looks), under DATA_DIR where precompute puts them (paths in the database are relative
to it). The tests of the game, the labels and storage, and the benchmarks seed their databases
with it: one factory, so a change of the schema is made once. A benchmark that runs a real network
names its layers, their channels and sides, and the weights' hash, so the rows match that network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from sqlmodel import Session

from engine.render import encode_map
from storage.models import Cluster, ExplainedLayer, Image, Model

CLASSES = [
    "tabby, tabby cat",
    "golden retriever",
    "red fox",
    "goldfish",
    "espresso",
    "rocket",
    "tulip",
    "zebra",
]


@dataclass(frozen=True)
class Collection:
    model_id: int
    cluster_ids: list[int]
    gold_ids: list[int]
    classes: list[str]
    class_of: dict[int, int]  # cluster id -> class index
    image_ids: list[int]  # in the order the images were made
    cluster_at: dict[tuple[int, int, int], int]  # (position in image_ids, depth, rank) -> id


@dataclass(frozen=True)
class ClusterShape:
    """The cluster of one rank, the same in every layer of every image."""

    weight: float  # percent of its layer's importance
    n_maps: int
    channels: tuple[int, ...]


def default_shapes(clusters_per_layer: int) -> list[ClusterShape]:
    """Weights falling by 10 points a rank from 50, four maps of two channels each."""
    return [
        ClusterShape(50.0 - 10 * rank, 4, (rank, rank + 1)) for rank in range(clusters_per_layer)
    ]


def write_map(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_map(values))


def seed_collection(
    session: Session,
    data_dir: Path,
    *,
    images: int = 3,
    layers: int = 2,
    clusters_per_layer: int = 2,
    classes: list[str] | None = None,
    size: int = 64,
    layer_sides: Sequence[int] | None = None,
    gold_every: int = 1,
    seed: int = 0,
    model_name: str = "testnet",
    image_classes: Sequence[int] | None = None,
    layer_names: Sequence[str] | None = None,
    shapes: Sequence[ClusterShape] | None = None,
    weights_hash: str | None = None,
    layer_channels: Sequence[int] | None = None,
    photos: bool = False,
    blob_maps: bool = False,
) -> Collection:
    """`images` images of distinct classes (cycling through `classes`), each with `layers`
    layers of `clusters_per_layer` clusters.

    Crops are `size` pixels square; layer `depth` has maps of `layer_sides[depth]` cells a side
    (default: shrinking with depth). The rank-0 cluster of the deepest layer of every
    `gold_every`-th image is gold (none when `gold_every` is 0).

    Given, `image_classes` is the class index of each image (one per image, in order),
    `layer_names` the name of each layer (default `features.<10 + depth>`), `layer_channels` its
    channel count (default 64) and `shapes` the cluster of each rank (default: `default_shapes`).
    """
    rng = np.random.default_rng(seed)
    names = list(classes or CLASSES)
    sides = list(layer_sides or [4 + 2 * (layers - depth) for depth in range(layers)])
    if len(sides) != layers:
        raise ValueError("layer_sides must give one side per layer")
    layer_names = list(layer_names or [f"features.{10 + depth}" for depth in range(layers)])
    if len(layer_names) != layers:
        raise ValueError("layer_names must give one name per layer")
    channels = list(layer_channels or [64] * layers)
    if len(channels) != layers:
        raise ValueError("layer_channels must give one channel count per layer")
    shapes = list(shapes or default_shapes(clusters_per_layer))
    if len(shapes) != clusters_per_layer:
        raise ValueError("shapes must give one cluster shape per rank")
    if image_classes is None:
        image_classes = [i % len(names) for i in range(images)]
    if len(image_classes) != images:
        raise ValueError("image_classes must give one class per image")
    model = Model(
        name=model_name,
        weights_hash=weights_hash or f"w{seed:04d}",
        num_classes=len(names),
        classes=names,
    )
    session.add(model)
    session.flush()
    cluster_ids: list[int] = []
    gold_ids: list[int] = []
    class_of: dict[int, int] = {}
    image_ids: list[int] = []
    cluster_at: dict[tuple[int, int, int], int] = {}
    for i, cls in enumerate(image_classes):
        crop_rel = f"crops/{seed}-{i}.{'jpg' if photos else 'png'}"
        crop_path = data_dir / crop_rel
        crop_path.parent.mkdir(parents=True, exist_ok=True)
        if photos:
            _photo_like(rng, size).save(crop_path, quality=85)
        else:
            pixels = rng.integers(0, 255, size=(size, size, 3), dtype=np.uint8)
            PILImage.fromarray(pixels, "RGB").save(crop_path)
        image = Image(
            model_id=model.id,
            sha256=f"{seed:04d}{i:060d}",
            config_key="cfg",
            source_path=f"photos/{i}.jpg",
            crop_file=crop_rel,
            width=size,
            height=size,
            true_class=cls,
            predicted_class=cls,
            predicted_prob=0.9,
            explained_class=cls,
        )
        session.add(image)
        session.flush()
        image_ids.append(image.id)
        for depth in range(layers):
            side = sides[depth]
            layer = ExplainedLayer(
                image_id=image.id,
                layer_name=layer_names[depth],
                depth=depth,
                channels=channels[depth],
                kept_channels=10,
                height=side,
                width=side,
                kept_weight=90.0,
            )
            session.add(layer)
            session.flush()
            for rank, shape in enumerate(shapes):
                map_rel = f"maps/{seed}-{i}-{depth}-{rank}.png"
                values = _blob(rng, side) if blob_maps else rng.random((side, side))
                write_map(data_dir / map_rel, values.astype(np.float32))
                gold = depth == layers - 1 and rank == 0 and gold_every > 0 and i % gold_every == 0
                cluster = Cluster(
                    layer_id=layer.id,
                    image_id=image.id,
                    class_index=cls,
                    layer_name=layer.layer_name,
                    depth=depth,
                    rank=rank,
                    weight=shape.weight,
                    n_maps=shape.n_maps,
                    channels=list(shape.channels),
                    map_file=map_rel,
                    is_gold=gold,
                )
                session.add(cluster)
                session.flush()
                cluster_ids.append(cluster.id)
                cluster_at[(i, depth, rank)] = cluster.id
                class_of[cluster.id] = cls
                if gold:
                    gold_ids.append(cluster.id)
    return Collection(model.id, cluster_ids, gold_ids, names, class_of, image_ids, cluster_at)


def _photo_like(rng: np.random.Generator, size: int) -> PILImage.Image:
    """A smooth random scene with a little grain: decodes and compresses like a photograph."""
    low = rng.uniform(0, 255, size=(8, 8, 3)).astype(np.uint8)
    scene = np.asarray(PILImage.fromarray(low).resize((size, size), PILImage.BICUBIC))
    grain = rng.normal(0, 6, size=scene.shape)
    return PILImage.fromarray(np.clip(scene + grain, 0, 255).astype(np.uint8))


def _blob(rng: np.random.Generator, side: int) -> np.ndarray:
    """One Gaussian blob at a random place, peak 1 (about a fifth of the side wide)."""
    cy, cx = rng.uniform(0, side, size=2)
    yy, xx = np.mgrid[0:side, 0:side]
    width = 18.0 * (side / 14.0) ** 2
    heat = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / width)
    return heat / heat.max()
