"""`inv precompute`: explain a folder of images and store the clusters for the game.

For every image: the crop the model saw (PNG), one 16-bit PNG map per cluster and per layer's
Grad-CAM, all under DATA_DIR with content-addressed names (`crops/ab/<sha256>.png`,
`maps/ab/<sha256>.png`); then one transaction writes its Image, ExplainedLayer and Cluster rows.
Files are written first, each atomically (temporary file + rename), so a run killed at any point
leaves either a complete image or none: at worst some unreferenced files, which a rerun reuses
(same content, same name) and `clean_orphans` removes.

Resumable and idempotent: an image whose bytes (sha256) were already explained with the same
model, weights, layers and parameters (`config_key`) is skipped.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image as PILImage
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from engine.config import ExplainConfig, config_key
from engine.images import ImageError, Preprocess, is_image_file, load_rgb, sha256_file
from engine.method import minmax
from engine.render import encode_map
from engine.results import ImageExplanation
from storage.db import get_engine, session_scope
from storage.models import Cluster, ExplainedLayer, MergedCluster
from storage.models import Image as ImageRow
from storage.models import Model as ModelRow

if TYPE_CHECKING:
    from engine.classifiers import LoadedModel
    from engine.explainer import PassResult

log = logging.getLogger(__name__)

CROPS_DIR = "crops"
DISPLAYS_DIR = "displays"
MAPS_DIR = "maps"
TOP_CLASSES = 10  # the network's most probable classes kept per image (answer-button decoys)
DISPLAY_QUALITY = 90
GOLD_MIN_PROBABILITY = 0.5  # gold when no true class is known: a confident prediction
ORPHAN_MIN_AGE_S = 600.0  # a younger unreferenced file may belong to a run about to commit


@dataclass(frozen=True)
class Source:
    """One image file found in the input folder."""

    path: Path
    folder_class: str | None  # the ImageFolder class folder, None for a flat folder
    true_class: int | None


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


# ---- input folder ----------------------------------------------------------------------------


def _norm_name(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def class_index_for_folder(folder: str, classes: Sequence[str]) -> int | None:
    """The model class a folder name stands for: a class name (case, _ and - ignored) or an index."""
    wanted = _norm_name(folder)
    for index, name in enumerate(classes):
        if _norm_name(name) == wanted:
            return index
    if folder.strip().isdigit() and int(folder) < len(classes):
        return int(folder)
    return None


def scan_folder(root: Path, classes: Sequence[str]) -> tuple[list[Source], int, list[str]]:
    """Images of a flat folder or an ImageFolder (class subfolders), sorted; ignored count; notes."""
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    sources: list[Source] = []
    ignored = 0
    notes: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            if is_image_file(entry):
                sources.append(Source(entry, None, None))
            else:
                ignored += 1
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        index = class_index_for_folder(folder.name, classes)
        files = [
            p
            for p in sorted(folder.rglob("*"))
            if not any(part.startswith(".") for part in p.relative_to(root).parts)
        ]
        images = [p for p in files if is_image_file(p)]
        ignored += sum(1 for p in files if p.is_file() and not is_image_file(p))
        if images and index is None:
            notes.append(
                f"class folder {folder.name!r} matches no class name or index of the model; "
                f"its {len(images)} images are explained for their predicted class with no true class"
            )
        sources.extend(Source(p, folder.name, index) for p in images)
    return sources, ignored, notes


# ---- files under DATA_DIR --------------------------------------------------------------------


def write_content_file(data_dir: Path, kind: str, payload: bytes, suffix: str = ".png") -> str:
    """Write `payload` once under `kind/ab/<sha256><suffix>` atomically; the path relative to DATA_DIR."""
    digest = hashlib.sha256(payload).hexdigest()
    relative = Path(kind) / digest[:2] / f"{digest}{suffix}"
    target = data_dir / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return relative.as_posix()


def _png(image: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _jpeg(image: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=DISPLAY_QUALITY)
    return buffer.getvalue()


def referenced_files(engine: Engine | None = None) -> set[str]:
    """Every file path (relative to DATA_DIR) the database points at."""
    paths: set[str] = set()
    with session_scope(engine, readonly=True) as session:
        paths.update(session.exec(select(ImageRow.crop_file)).all())
        paths.update(p for p in session.exec(select(ImageRow.display_file)).all() if p)
        paths.update(session.exec(select(Cluster.map_file)).all())
        paths.update(p for p in session.exec(select(ExplainedLayer.gradcam_file)).all() if p)
        paths.update(p for p in session.exec(select(MergedCluster.map_file)).all() if p)
    return paths


def clean_orphans(
    data_dir: Path, engine: Engine | None = None, min_age_s: float = ORPHAN_MIN_AGE_S
) -> int:
    """Delete crop and map files no row refers to (older than `min_age_s`); returns how many."""
    referenced = referenced_files(engine)
    now = time.time()
    removed = 0
    for kind in (CROPS_DIR, DISPLAYS_DIR, MAPS_DIR):
        for path in (data_dir / kind).rglob("*"):
            if not path.is_file():
                continue
            relative = path.relative_to(data_dir).as_posix()
            if relative in referenced or now - path.stat().st_mtime < min_age_s:
                continue
            path.unlink(missing_ok=True)
            removed += 1
    return removed


# ---- database --------------------------------------------------------------------------------


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
    crop_file = write_content_file(data_dir, CROPS_DIR, _png(item.crop))
    display_file = (
        write_content_file(data_dir, DISPLAYS_DIR, _jpeg(item.display), ".jpg")
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


# ---- the run ---------------------------------------------------------------------------------


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
