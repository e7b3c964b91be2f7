"""Minimal explanation rows for storage tests (a model, one image, one layer, clusters)."""

from __future__ import annotations

from sqlmodel import Session

from storage.models import Cluster, ExplainedLayer, Image, Model


def seed_clusters(session: Session, n_clusters: int = 3, *, tag: str = "a") -> list[Cluster]:
    model = Model(
        name=f"net-{tag}", weights_hash=tag * 8, num_classes=3, classes=["cat", "dog", "fox"]
    )
    session.add(model)
    session.flush()
    image = Image(
        model_id=model.id,
        sha256=tag * 16,
        config_key="cfg",
        source_path=f"/photos/{tag}.jpg",
        crop_file=f"crops/{tag}.png",
        width=224,
        height=224,
        true_class=0,
        predicted_class=0,
        predicted_prob=0.9,
        explained_class=0,
    )
    session.add(image)
    session.flush()
    layer = ExplainedLayer(
        image_id=image.id,
        layer_name="features.29",
        depth=8,
        channels=512,
        kept_channels=40,
        height=14,
        width=14,
        kept_weight=87.5,
    )
    session.add(layer)
    session.flush()
    clusters = [
        Cluster(
            layer_id=layer.id,
            image_id=image.id,
            class_index=0,
            layer_name=layer.layer_name,
            depth=8,
            rank=rank,
            weight=40.0 - 10 * rank,
            n_maps=5,
            channels=[rank, rank + 10],
            map_file=f"maps/{tag}-{rank}.npy",
        )
        for rank in range(n_clusters)
    ]
    session.add_all(clusters)
    session.flush()
    return clusters
