"""`inv precompute`: explain a folder of images and store the clusters for the game.

For every image: the crop the model saw (PNG), one 16-bit PNG map per cluster and per layer's
Grad-CAM, all under DATA_DIR with content-addressed names (engine.content_files); then one
transaction writes its Image, ExplainedLayer and Cluster rows (engine.stored_images). Files are
written first, each atomically, so a run killed at any point leaves either a complete image or
none: at worst some unreferenced files, which a rerun reuses and `clean_orphans` removes.

Resumable and idempotent: an image whose bytes (sha256) were already explained with the same
model, weights, layers and parameters (`config_key`) is skipped. This module is the batched run:
the folder is read (engine.image_folder), the network pass of one batch overlaps the clustering
and storing of the one before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.engine import Engine

from engine.config import ExplainConfig, config_key
from engine.image_folder import Source, scan_folder
from engine.images import ImageError, Preprocess, load_rgb, sha256_file
from engine.stored_images import Prepared, ensure_model_row, explained_hashes, store_image
from storage.db import get_engine

if TYPE_CHECKING:
    from engine.classifiers import LoadedModel
    from engine.explainer import PassResult


@dataclass
class PrecomputeReport:
    images_found: int = 0
    explained: int = 0
    already_done: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, same bytes as path)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    notes: list[str] = field(default_factory=list)
    ignored_files: int = 0
    seconds: float = 0.0
    model_id: int | None = None
    config_key: str = ""
    layers: list[str] = field(default_factory=list)
    overlap_seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"{self.images_found} image files: {self.explained} explained, "
            f"{self.already_done} already explained, {len(self.duplicates)} duplicates, "
            f"{len(self.failed)} failed ({self.seconds:.1f} s"
            + (
                f", {self.explained / self.seconds:.2f} images/s"
                if self.explained and self.seconds
                else ""
            )
            + ")"
        ]
        if self.ignored_files:
            lines.append(f"{self.ignored_files} files without an image extension were ignored")
        lines += [f"failed: {path}: {reason}" for path, reason in self.failed]
        lines += [f"duplicate: {path} (same bytes as {first})" for path, first in self.duplicates]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _prepare(
    sources: Sequence[tuple[Source, str]], preprocess: Preprocess, report: PrecomputeReport
) -> list[Prepared]:
    prepared = []
    for source, sha in sources:
        try:
            image = load_rgb(source.path, target_side=preprocess.resize_size)
            crop = preprocess.crop(image)
            display = preprocess.display_crop(image)
            prepared.append(Prepared(source, sha, crop, preprocess.normalise(crop), display))
        except ImageError as exc:
            report.failed.append((str(source.path), str(exc)))
        except OSError as exc:
            report.failed.append((str(source.path), f"unreadable: {exc.__class__.__name__}"))
    return prepared


def _batches(
    items: Sequence[tuple[Source, str]], size: int
) -> Iterator[Sequence[tuple[Source, str]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def precompute(
    images_dir: str | Path,
    *,
    data_dir: str | Path,
    model: str | None = None,
    weights: str | None = None,
    layers: Sequence[str] | None = None,
    batch_size: int = 8,
    device: str = "auto",
    limit: int | None = None,
    reduction: str = "ward",
    target: str = "predicted",
    workers: int | None = None,
    classes_file: str | Path | None = None,
    progress: bool = True,
    engine: Engine | None = None,
    loaded: LoadedModel | None = None,
    on_batch: Callable[[int], None] | None = None,
    lease_seconds: float | None = None,
) -> PrecomputeReport:
    """Explain every new image of `images_dir` and store it; see the module docstring.

    Crops and maps go under `data_dir`; `model` defaults to EfficientNet-Lite0 and `layers` to
    the model's own choice; `engine` defaults to the application's database.

    On PostgreSQL the images go through the shared queue of `engine.shared_precompute`, so any
    number of workers (processes, machines) can run this at once; `lease_seconds` is how long a
    silent worker keeps its claimed images.
    """
    import torch
    from tqdm import tqdm

    from engine.classifiers import DEFAULT_MODEL, load_model
    from engine.explainer import Explainer
    from engine.overlap import OverlappedRunner, Timeline

    started = time.perf_counter()
    data_dir = Path(data_dir)
    engine = engine or get_engine()
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")

    if loaded is None:
        loaded = load_model(
            model or DEFAULT_MODEL,
            weights,
            classes_file,
        )
    chosen_layers = list(layers or loaded.default_layers or [])
    config = ExplainConfig(reduction=reduction, target=target)  # type: ignore[arg-type]
    explainer = Explainer(
        loaded.module,
        chosen_layers or None,
        config,
        device=device,
        workers=workers,
        input_size=loaded.preprocess.crop_size,
    )
    key = config_key(
        model_name=loaded.name,
        weights_hash=loaded.weights_hash,
        layers=explainer.layers,
        config=config,
        preprocess=loaded.preprocess.to_dict(),
    )
    report = PrecomputeReport(config_key=key, layers=list(explainer.layers))
    report.model_id = model_id = ensure_model_row(loaded, engine)

    sources, report.ignored_files, report.notes = scan_folder(Path(images_dir), loaded.classes)
    if limit is not None:
        sources = sources[: max(0, limit)]
    report.images_found = len(sources)

    # Skip what is done; among identical files explain the first only.
    done = explained_hashes(model_id, key, engine)
    todo: list[tuple[Source, str]] = []
    first_of: dict[str, str] = {}
    for source in sources:
        try:
            sha = sha256_file(source.path)
        except OSError as exc:
            report.failed.append((str(source.path), f"unreadable: {exc.__class__.__name__}"))
            continue
        if sha in first_of:
            report.duplicates.append((str(source.path), first_of[sha]))
            continue
        first_of[sha] = str(source.path)
        if sha in done:
            report.already_done += 1
        else:
            todo.append((source, sha))

    shared = None
    chunks: Iterable[Sequence[tuple[Source, str]]] = _batches(todo, batch_size)
    if engine.dialect.name == "postgresql":
        from engine.shared_precompute import SharedBatches

        shared = SharedBatches(
            engine,
            model_id,
            key,
            batch_size=batch_size,
            lease_seconds=lease_seconds,
            already_stored=lambda among: explained_hashes(model_id, key, engine, among),
        )
        chunks = shared.chunks(todo, lambda t: Source(Path(t.source_path), None, t.true_class))

    bar = tqdm(
        total=None if shared else len(todo),
        unit="img",
        desc="explaining",
        disable=not progress,
        dynamic_ncols=True,
    )
    timeline = Timeline()

    Passed = tuple[list[Prepared], "PassResult | None"]

    def network(chunk: Sequence[tuple[Source, str]]) -> Passed:
        items = _prepare(chunk, loaded.preprocess, report)
        bar.update(len(chunk) - len(items))  # failed files count as progress too
        if not items:
            return items, None
        x = torch.from_numpy(np.stack([item.array for item in items]))
        truth = [item.source.true_class for item in items] if config.target == "true" else None
        return items, explainer.forward_backward(x, truth)

    def finish(chunk: Sequence[tuple[Source, str]], passed: Passed) -> int:
        items, result = passed
        stored = 0
        if result is not None:
            for item, explanation in zip(items, explainer.cluster(result), strict=True):
                if store_image(
                    item, explanation, model_id=model_id, key=key, data_dir=data_dir, engine=engine
                ):
                    stored += 1
                else:
                    report.already_done += 1
                bar.update(1)
        if shared is not None:  # only now that its rows are stored is an image done
            shared.settle_chunk(chunk, {item.sha256 for item in items}, dict(report.failed))
        if on_batch is not None and result is not None:
            on_batch(stored)
        return stored

    try:
        runner = OverlappedRunner(network, finish, max_pending=1, timeline=timeline)
        for stored in runner.run(chunks):
            report.explained += stored
    finally:
        bar.close()
        explainer.close()
        if shared is not None:
            shared.close()
            report.already_done += shared.found_stored
    report.overlap_seconds = timeline.overlap_seconds()
    report.seconds = time.perf_counter() - started
    return report
