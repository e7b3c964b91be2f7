"""A per-database read-through cache of the explanation rows the game only reads.

Precompute writes clusters, images and models once; the game reads them on every update. Caching
them (and Telegram's photo file_ids, changed only through bot.photo_file_ids) saves most queries
of each update. The play counts used for assignment live here too, so that they are shared by
every worker thread of the process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from bot import assignment, serving
from storage.models import Cluster, Image, Model, RenderedPhoto

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


class Catalogue:
    """Read-through cache of the explanation rows the game only reads, per database.

    Clusters, images and models never change after precompute, and photo file_ids change only
    through bot.photo_file_ids; caching them saves most queries of each update.
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
    """The catalogue of the session's database (one per database URL, shared by threads)."""
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
