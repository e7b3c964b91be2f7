"""The rebuild's TCAV stage: test each rebuilt class's top concepts against the network.

For every class × layer of the new global explanations, each top concept's examples are the
merged clusters whose best concept it is (their image's activations pooled inside their map);
counterexamples are random clusters of other classes at the same layer; gradients are those of
the class's images for the class's logit. All of it comes from one hooked pass over the images
involved (`engine.tcav_pass`), for every layer at once; the statistics are `engine.tcav`'s.

A concept with fewer than `min_examples` examples, or of a class with fewer than `min_images`
images to score its CAVs, is marked "too few examples" (the reason recorded with the mark) without
loading the model. When the model is needed but cannot be loaded (missing weights, weights that differ
from those the images were explained with), the stage is skipped with the reason logged and
returned; the rebuild goes on without marks.

The scheduled rebuild runs inside the bot process, which lives for weeks: after the pass the
stage drops the model and hands the memory its activations held back to the system
(`release_memory`), so the bot does not keep a network and the pass's peak resident between
rebuilds (measured by benchmarks/rebuild_in_bot.py). Loading the model again at the next rebuild
costs a torch.load of its weights file; the imports stay.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from engine.labels.config import DEFAULT_MIN_TCAV_IMAGES
from engine.tcav import (
    DEFAULT_RANDOM_SETS,
    FEW_CLASS_IMAGES,
    FEW_CONCEPT_EXAMPLES,
    TOO_FEW_EXAMPLES,
    ConceptTest,
    run_concept_tests,
)
from storage.models import Cluster, Image, Model

log = logging.getLogger(__name__)

MAX_CLASS_IMAGES = 200  # images whose gradients score a class's CAVs
MAX_COUNTEREXAMPLES = 120  # random clusters of other classes per layer
# Other-class images whose clusters a class's counterexamples are drawn from (at every layer). With
# 4 clusters a layer, 30 images give the 120 clusters above; bounding the images, rather than only
# the clusters, keeps an incremental rebuild's pass to its own classes' images and a few others
# (benchmarks/rebuild.py: 161 of 200 images for 2 rebuilt classes when drawn from every image).
MAX_COUNTER_IMAGES = 30
# Images per pass: about 40 MB each of resident memory for EfficientNet-B0. In the rebuild
# benchmark (100,000 answers, idle 2-core machine) 4 took the stage 10.9 s against 11.1 s at 8 and
# kept the rebuild's peak under 2 GB (1.95 against 2.23 GB).
BATCH_SIZE = 4

_models: dict[tuple[str, str | None], Any] = {}
_models_lock = threading.Lock()


@dataclass
class StageResult:
    rows: list[dict[str, Any]] = field(default_factory=list)  # concept_test rows
    skipped: str | None = None  # why the network was not asked, when it was needed
    images: int = 0  # images passed through the network
    pooled: int = 0  # cluster maps pooled (what masked crops would pass through it again)
    seconds: float = 0.0


Plan = tuple[dict[str, Any], dict[str, Any], list["_Example"]]  # explanation row, concept, examples


@dataclass(frozen=True)
class _Example:
    image_id: int
    map_file: str


@dataclass
class _Collection:
    """What the database says about the tested classes' images: read before any network."""

    image_rows: dict[int, Any]  # id → (id, model_id, crop_file, explained_class)
    model_name: str
    weights_hash: str
    counter_rows: list[Any]  # clusters of the tested layers: image_id, layer_name, class, map
    class_images: dict[int, list[int]]  # class → its images that score the CAVs


def _loaded_model(name: str, weights: str | None, weights_hash: str) -> Any:
    """The model the images were explained with (or ModelLoadError), kept until the stage ends."""
    from engine.classifiers import ModelLoadError, load_model

    key = (name, weights)
    with _models_lock:
        loaded = _models.get(key)
        if loaded is None:
            loaded = _models[key] = load_model(name, weights)
    if loaded.weights_hash != weights_hash:
        raise ModelLoadError(
            f"the weights of model {name} ({weights or 'default'}) are not the ones its images"
            " were explained with"
        )
    return loaded


def release_memory() -> None:
    """Drop the loaded models and return freed heap memory to the system.

    Without the trim, glibc keeps the pass's freed activations (hundreds of MB at 16 images a
    batch) mapped to the process: its resident size would stay at the pass's peak.
    """
    with _models_lock:
        _models.clear()
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim this way
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _examples_by_concept(
    merged: Sequence[dict[str, Any]],
) -> dict[tuple[int, str], dict[int, list[_Example]]]:
    found: dict[tuple[int, str], dict[int, list[_Example]]] = defaultdict(lambda: defaultdict(list))
    for row in merged:
        if row.get("best_concept_id") is None or not row.get("map_file"):
            continue
        key = (int(row["class_index"]), str(row["layer_name"]))
        found[key][int(row["best_concept_id"])].append(
            _Example(int(row["image_id"]), str(row["map_file"]))
        )
    return found


def run_stage(
    engine: Engine,
    data_dir: Path,
    explanations: Sequence[dict[str, Any]],
    merged: Sequence[dict[str, Any]],
    *,
    generation: int,
    min_examples: int,
    min_images: int = DEFAULT_MIN_TCAV_IMAGES,
    weights: str | None = None,
    device: str = "auto",
    progress: Callable[[float], None] | None = None,
) -> StageResult:
    """Concept-test rows for the rebuilt classes; marks each tested concept in its payload.

    explanations: the new global explanation rows ({"class_index", "layer_name", "payload"});
    merged: the new merged-cluster rows of the same classes. The payloads' concepts gain a
    "test" entry {"verdict", "score", "p_value", "examples", "images", "reason"}: "images" the
    class images that scored the CAVs, "reason" what there was too few of (None when tested).
    """
    started = time.monotonic()
    result = StageResult()
    examples = _examples_by_concept(merged)
    plans: list[Plan] = []
    for row in explanations:
        key = (int(row["class_index"]), str(row["layer_name"]))
        for concept in row["payload"].get("concepts", []):
            plans.append((row, concept, examples.get(key, {}).get(concept["concept_id"], [])))
    testable = [p for p in plans if len(p[2]) >= min_examples]
    tests: dict[tuple[int, str, int], ConceptTest] = {}
    if testable:
        try:
            collection = _read_collection(engine, testable)
            network: list[Plan] = []
            for plan in testable:
                row, concept, found = plan
                images = len(collection.class_images.get(int(row["class_index"]), []))
                if images >= max(1, min_images):
                    network.append(plan)
                    continue
                tests[_key(row, concept)] = ConceptTest(
                    str(concept.get("name", "")), len(found), None, None, TOO_FEW_EXAMPLES,
                    images=images, reason=FEW_CLASS_IMAGES,
                )  # fmt: skip
            if network:
                try:
                    found_tests, result.images, result.pooled = _test_with_network(
                        collection, data_dir, network, examples, min_examples, weights, device,
                        progress,
                    )  # fmt: skip
                finally:
                    release_memory()
                tests.update(found_tests)
        except Exception as exc:  # the rebuild must go on without marks
            from engine.classifiers import ModelLoadError

            result.skipped = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, ModelLoadError):
                log.warning("rebuild: concept tests skipped: %s", exc)
            else:
                log.exception("rebuild: concept tests skipped")
    for row, concept, found in plans:
        key = (int(row["class_index"]), str(row["layer_name"]), int(concept["concept_id"]))
        test = tests.get(key)
        if test is None:
            if len(found) >= min_examples:
                continue  # needed the network, which could not be asked: no mark
            test = ConceptTest(
                str(concept.get("name", "")), len(found), None, None, TOO_FEW_EXAMPLES,
                reason=FEW_CONCEPT_EXAMPLES,
            )  # fmt: skip
        concept["test"] = {
            "verdict": test.verdict,
            "score": None if test.score is None else round(test.score, 4),
            "p_value": None if test.p_value is None else round(test.p_value, 6),
            "examples": test.examples,
            "images": test.images,
            "reason": test.reason,
        }
        result.rows.append(
            {
                "generation": generation,
                "class_index": key[0],
                "layer_name": key[1],
                "concept_id": key[2],
                "concept_name": str(concept.get("name", ""))[:200],
                "examples": test.examples,
                "random_sets": len(test.scores),
                "score": test.score,
                "p_value": test.p_value,
                "verdict": test.verdict,
            }
        )
    result.seconds = time.monotonic() - started
    return result


def _key(row: dict[str, Any], concept: dict[str, Any]) -> tuple[int, str, int]:
    return int(row["class_index"]), str(row["layer_name"]), int(concept["concept_id"])


def counterexample_images(
    image_classes: dict[int, int],
    class_index: int,
    rng: np.random.Generator,
    limit: int = MAX_COUNTER_IMAGES,
) -> set[int]:
    """Up to `limit` images of other classes, drawn at random: where `class_index`'s
    counterexample clusters come from. `image_classes` maps image id → its clusters' class."""
    others = sorted(i for i, c in image_classes.items() if c != class_index)
    if len(others) <= limit:
        return set(others)
    return {others[k] for k in rng.choice(len(others), size=limit, replace=False)}


def _read_collection(engine: Engine, testable: list[Plan]) -> _Collection:
    """The images, their model and the tested layers' clusters, and each class's scoring images."""
    layers = sorted({str(row["layer_name"]) for row, _, _ in testable})
    with engine.connect() as conn:
        image_rows = {
            r.id: r
            for r in conn.execute(
                select(Image.id, Image.model_id, Image.crop_file, Image.explained_class)
            )
        }
        some_image = next(
            (i for _, _, found in testable for i in (e.image_id for e in found)), None
        )
        model_id = image_rows[some_image].model_id if some_image in image_rows else None
        model_row = conn.execute(
            select(Model.name, Model.weights_hash).where(Model.id == model_id)
        ).first()
        if model_row is None:
            raise LookupError("the images' model is not in the database")
        counter_rows = conn.execute(
            select(Cluster.image_id, Cluster.layer_name, Cluster.class_index, Cluster.map_file)
            .join(Image, Image.id == Cluster.image_id)
            .where(Image.model_id == model_id, Cluster.layer_name.in_(layers))
            .order_by(Cluster.id)
        ).all()
    classes = sorted({int(row["class_index"]) for row, _, _ in testable})
    class_images = {
        c: sorted(
            i for i, r in image_rows.items() if r.explained_class == c and r.model_id == model_id
        )[:MAX_CLASS_IMAGES]
        for c in classes
    }
    return _Collection(
        image_rows, str(model_row.name), str(model_row.weights_hash), list(counter_rows),
        class_images,
    )  # fmt: skip


def _test_with_network(
    collection: _Collection,
    data_dir: Path,
    testable: list[Plan],
    examples: dict[tuple[int, str], dict[int, list[_Example]]],
    min_examples: int,
    weights: str | None,
    device: str,
    progress: Callable[[float], None] | None,
) -> tuple[dict[tuple[int, str, int], ConceptTest], int, int]:
    """Each testable concept's test, and how many images went through the network and how many
    cluster maps were pooled."""
    import torch
    from PIL import Image as PILImage

    from engine.explainer import resolve_device
    from engine.render import load_map
    from engine.tcav import pool_in_map
    from engine.tcav_pass import layer_passes

    classes = sorted({int(row["class_index"]) for row, _, _ in testable})
    layers = sorted({str(row["layer_name"]) for row, _, _ in testable})
    image_rows, counter_rows = collection.image_rows, collection.counter_rows
    class_images = {c: collection.class_images[c] for c in classes}
    loaded = _loaded_model(collection.model_name, weights, collection.weights_hash)

    # What the pass must give: pooled vectors of maps and gradients of class images.
    counter: dict[tuple[int, str], list[_Example]] = {}
    image_classes = {int(r.image_id): int(r.class_index) for r in counter_rows}
    for c in classes:
        rng = np.random.default_rng(c)
        chosen = counterexample_images(image_classes, c, rng)
        for layer in layers:
            others = [
                _Example(int(r.image_id), str(r.map_file))
                for r in counter_rows
                if r.layer_name == layer and int(r.image_id) in chosen
            ]
            if len(others) > MAX_COUNTEREXAMPLES:
                others = [
                    others[i]
                    for i in sorted(rng.choice(len(others), MAX_COUNTEREXAMPLES, replace=False))
                ]
            counter[(c, layer)] = others
    wanted_maps: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for row, _concept, found in testable:
        for e in found:
            wanted_maps[e.image_id].add((str(row["layer_name"]), e.map_file))
    for (_, layer), found in counter.items():
        for e in found:
            wanted_maps[e.image_id].add((layer, e.map_file))
    gradient_images = {i for ids in class_images.values() for i in ids}
    image_ids = sorted(set(wanted_maps) | gradient_images)

    pooled: dict[tuple[int, str, str], np.ndarray] = {}
    gradients: dict[tuple[int, str], np.ndarray] = {}
    dev = resolve_device(device)
    for start in range(0, len(image_ids), BATCH_SIZE):
        ids = image_ids[start : start + BATCH_SIZE]
        tensors = []
        for i in ids:
            # The stored crop is what the model saw at precompute: normalise it, never re-crop.
            with PILImage.open(data_dir / image_rows[i].crop_file) as crop:
                array = loaded.preprocess.normalise(crop.convert("RGB"))
            tensors.append(torch.from_numpy(array))
        targets = [int(image_rows[i].explained_class) for i in ids]
        for batch in layer_passes(
            loaded.module, layers, torch.stack(tensors), targets, batch_size=len(ids), device=dev
        ):
            for b, i in enumerate(ids):
                for layer, map_file in wanted_maps.get(i, ()):
                    pooled[(i, layer, map_file)] = pool_in_map(
                        batch.activations[layer][b], load_map(data_dir / map_file)
                    )
                if i in gradient_images:
                    for layer in layers:
                        gradients[(i, layer)] = batch.summed_gradients[layer][b]
        if progress is not None:
            progress(min(1.0, (start + len(ids)) / max(len(image_ids), 1)))

    tests: dict[tuple[int, str, int], ConceptTest] = {}
    by_place: dict[tuple[int, str], list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for row, concept, _ in testable:
        by_place[(int(row["class_index"]), str(row["layer_name"]))].append((row, concept))
    for (c, layer), items in by_place.items():
        concept_examples = {
            int(concept["concept_id"]): np.stack(
                [
                    pooled[(e.image_id, layer, e.map_file)]
                    for e in examples[(c, layer)][int(concept["concept_id"])]
                ]
            )
            for _, concept in items
        }
        counter_vectors = [pooled[(e.image_id, layer, e.map_file)] for e in counter[(c, layer)]]
        class_gradients = [
            gradients[(i, layer)] for i in class_images[c] if (i, layer) in gradients
        ]
        outcome = run_concept_tests(
            {str(k): v for k, v in concept_examples.items()},
            np.stack(counter_vectors) if counter_vectors else np.zeros((0, 1)),
            np.stack(class_gradients) if class_gradients else np.zeros((0, 1)),
            min_examples=min_examples,
            random_sets=DEFAULT_RANDOM_SETS,
            seed=c,
        )
        for k, test in outcome.items():
            tests[(c, layer, int(k))] = test
    return tests, len(image_ids), len(pooled)
