"""A few clusters to play, for the storage tests: one image with one layer of the shared
synthetic collection (testkit.collection), no gold, its files under the test's DATA_DIR."""

from __future__ import annotations

from sqlmodel import Session, select

from inv.settings import get_settings
from storage.models import Cluster
from testkit.collection import seed_collection


def seed_clusters(session: Session, n_clusters: int = 3) -> list[Cluster]:
    collection = seed_collection(
        session,
        get_settings().data_dir,
        images=1,
        layers=1,
        clusters_per_layer=n_clusters,
        gold_every=0,
    )
    query = select(Cluster).where(Cluster.id.in_(collection.cluster_ids)).order_by(Cluster.id)
    return list(session.exec(query).all())
