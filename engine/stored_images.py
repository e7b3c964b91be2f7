"""Storing one explained image: its Model row, its files, then its rows in one transaction.

Files are written first (engine.content_files), then one transaction writes the Image,
ExplainedLayer and Cluster rows, so a run killed at any point leaves either a complete image or
none. An image whose bytes were already stored for the same model and setting (`config_key`)
is found by `explained_hashes` and not stored again; a race with another run is caught by the
unique constraint.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image as PILImage
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from engine.content_files import (
    CROPS_DIR,
    DISPLAYS_DIR,
    MAPS_DIR,
    jpeg_bytes,
    png_bytes,
    write_content_file,
)
from engine.image_folder import Source
from engine.method import minmax
from engine.render import encode_map
from engine.results import ImageExplanation
from storage.db import session_scope
from storage.models import Cluster, ExplainedLayer
from storage.models import Image as ImageRow
from storage.models import Model as ModelRow

if TYPE_CHECKING:
    from engine.classifiers import LoadedModel

log = logging.getLogger(__name__)

TOP_CLASSES = 10  # the network's most probable classes kept per image (answer-button decoys)
GOLD_MIN_PROBABILITY = 0.5  # gold when no true class is known: a confident prediction


def ensure_model_row(loaded: LoadedModel, engine: Engine | None = None) -> int:
    """The Model row's id for (name, weights hash), created when missing (race-safe)."""
    for _ in range(2):
        with session_scope(engine) as session:
            row = session.exec(
                select(ModelRow).where(
                    ModelRow.name == loaded.name, ModelRow.weights_hash == loaded.weights_hash
                )
            ).first()
            if row is not None:
                if list(row.classes) != list(loaded.classes):
                    log.warning(
                        "model %s: stored class names differ from the loaded ones", loaded.name
                    )
                return int(row.id)  # type: ignore[arg-type]
        try:
            with session_scope(engine) as session:
                row = ModelRow(
                    name=loaded.name,
                    weights_hash=loaded.weights_hash,
                    num_classes=len(loaded.classes),
                    classes=list(loaded.classes),
                    input_size=loaded.preprocess.crop_size,
                )
                session.add(row)
                session.flush()
                return int(row.id)  # type: ignore[arg-type]
        except IntegrityError:
            continue  # another process created it; read it back
    raise RuntimeError("could not create the model row")


def explained_hashes(
    model_id: int, key: str, engine: Engine | None = None, among: Sequence[str] | None = None
) -> set[str]:
    """Hashes of the images stored for (model, setting); only those `among` when given."""
    query = select(ImageRow.sha256).where(ImageRow.model_id == model_id, ImageRow.config_key == key)
    if among is not None:
        query = query.where(ImageRow.sha256.in_(list(among)))  # type: ignore[attr-defined]
    with session_scope(engine, readonly=True) as session:
        return set(session.exec(query).all())


def is_correct(true_class: int | None, predicted: int, probability: float) -> bool:
    """Gold eligibility: a known true class predicted, or a confident prediction when unknown."""
    if true_class is not None:
        return true_class == predicted
    return probability >= GOLD_MIN_PROBABILITY


@dataclass
class Prepared:
    """An image ready for the network: its source, hash, crop and normalised tensor data."""

    source: Source
    sha256: str
    crop: PILImage.Image
    array: np.ndarray  # float32 [3, H, W]
    display: PILImage.Image | None = None  # the crop's region from the original, for players


def store_image(
    item: Prepared,
    explanation: ImageExplanation,
    *,
    model_id: int,
    key: str,
    data_dir: Path,
    engine: Engine | None = None,
) -> bool:
    """Files, then one transaction for the image's rows. False when it was already stored."""
    crop_file = write_content_file(data_dir, CROPS_DIR, png_bytes(item.crop))
    display_file = (
        write_content_file(data_dir, DISPLAYS_DIR, jpeg_bytes(item.display), ".jpg")
        if item.display is not None
        else None
    )
    layer_files: list[tuple[str, list[str]]] = []
    for layer in explanation.layers.values():
        gradcam_file = write_content_file(data_dir, MAPS_DIR, encode_map(minmax(layer.gradcam)))
        maps = [write_content_file(data_dir, MAPS_DIR, encode_map(c.map)) for c in layer.clusters]
        layer_files.append((gradcam_file, maps))

    probabilities = explanation.probabilities
    predicted = explanation.predicted
    width, height = item.crop.size
    names = list(explanation.layers)
    gold = is_correct(item.source.true_class, predicted, float(probabilities[predicted]))
    try:
        with session_scope(engine) as session:
            image = ImageRow(
                model_id=model_id,
                sha256=item.sha256,
                config_key=key,
                source_path=str(item.source.path),
                crop_file=crop_file,
                display_file=display_file,
                width=width,
                height=height,
                true_class=item.source.true_class,
                predicted_class=predicted,
                predicted_prob=float(probabilities[predicted]),
                explained_class=explanation.target,
                top_classes=[int(c) for c in np.argsort(-probabilities)[:TOP_CLASSES]],
            )
            session.add(image)
            session.flush()
            for depth, (name, (gradcam_file, maps)) in enumerate(
                zip(names, layer_files, strict=True)
            ):
                layer = explanation.layers[name]
                h, w = layer.shape
                row = ExplainedLayer(
                    image_id=image.id,  # type: ignore[arg-type]
                    layer_name=name,
                    depth=depth,
                    channels=layer.channels,
                    kept_channels=int(layer.kept_channels.size),
                    height=h,
                    width=w,
                    kept_weight=layer.kept_weight,
                    gradcam_file=gradcam_file,
                )
                session.add(row)
                session.flush()
                deepest = depth == len(names) - 1
                for rank, (cluster, map_file) in enumerate(zip(layer.clusters, maps, strict=True)):
                    session.add(
                        Cluster(
                            layer_id=row.id,  # type: ignore[arg-type]
                            image_id=image.id,  # type: ignore[arg-type]
                            class_index=explanation.target,
                            layer_name=name,
                            depth=depth,
                            rank=rank,
                            weight=cluster.weight,
                            n_maps=cluster.n_maps,
                            channels=[int(c) for c in cluster.channels],
                            map_file=map_file,
                            is_gold=bool(gold and deepest and rank == 0),
                        )
                    )
    except IntegrityError:
        return False  # explained meanwhile by another run with the same settings
    return True
