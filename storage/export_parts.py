"""Pieces of the research export that do not depend on a table: class names, packed files,
and the global explanations flattened into rows."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from storage.models import GlobalExplanation, Model

GE = GlobalExplanation.__table__.c


class ClassNames:
    """Class index -> name, from the model an image was explained with (else the newest model)."""

    def __init__(self, models: Sequence[dict[str, Any]], image_models: dict[int, int]) -> None:
        self._classes = {m["id"]: list(m["classes"]) for m in models}
        self._newest = list(models[-1]["classes"]) if models else []
        self._image_models = image_models

    def name(self, index: int | None, image_id: int | None = None) -> str | None:
        if index is None:
            return None
        classes = self._newest
        if image_id is not None and image_id in self._image_models:
            classes = self._classes.get(self._image_models[image_id], self._newest)
        return classes[index] if 0 <= index < len(classes) else None

    def names(self, indices: Iterable[int] | None) -> list[str | None]:
        return [self.name(i) for i in indices or []]


class FilePacker:
    """Copies files under DATA_DIR into the zip at the same relative path, once each.

    A path that leaves DATA_DIR or names no file is not packed (and counted as missing), so a
    crafted path in the database can never pull another file of the server into the export.
    """

    def __init__(self, zf: zipfile.ZipFile, data_dir: Path) -> None:
        self._zf = zf
        self._root = data_dir.resolve()
        self.packed: dict[str, int] = {}  # zip name -> bytes
        self.missing: set[str] = set()
        self._queued: list[str] = []

    def add(self, relative: str | None) -> str | None:
        """Pack `relative`; its zip name (the same relative path), or None when not packable."""
        if not relative:
            return None
        name = PurePosixPath(Path(relative).as_posix()).as_posix()
        if name in self.packed:
            return name
        source = (self._root / relative).resolve()
        # A name with ".." or a leading "/" could write outside the folder it is unpacked into.
        unsafe = name.startswith("/") or ".." in PurePosixPath(name).parts
        if unsafe or self._root not in source.parents or not source.is_file():
            self.missing.add(name)
            return None
        self._zf.write(source, name)
        self.packed[name] = source.stat().st_size
        return name

    def add_all(self, relatives: Iterable[str | None]) -> None:
        for relative in relatives:
            self.add(relative)

    def queue(self, relative: str | None) -> None:
        """Pack `relative` at the next `flush` (the zip takes no file while a CSV is open)."""
        if relative:
            self._queued.append(relative)

    def flush(self) -> None:
        self.add_all(self._queued)
        self._queued.clear()


GLOBAL_CONCEPT_COLUMNS = (
    "generation",
    "class_index",
    "class_name",
    "layer_name",
    "depth",
    "concept_rank",
    "concept_id",
    "concept",
    "score",
    "weight",
    "clusters",
    "slope",
    "chart_file",
    "trend_chart_file",
)


def global_concept_rows(
    generation: int, explanations: Iterable[Any], names: ClassNames
) -> Iterator[tuple[Any, ...]]:
    """One row per class, layer and top concept of the global explanations."""
    for row in explanations:
        payload = row.payload or {}
        for concept in payload.get("concepts", []):
            yield (
                generation,
                row.class_index,
                names.name(row.class_index),
                row.layer_name,
                row.depth,
                concept.get("rank"),
                concept.get("concept_id"),
                concept.get("name"),
                concept.get("score"),
                concept.get("weight", concept.get("mean_weight")),
                concept.get("clusters"),
                concept.get("slope"),
                row.chart_file,
                payload.get("trend_chart_file"),
            )


def payload_files(payload: dict[str, Any]) -> Iterator[str]:
    """Every file a global explanation's payload names (charts, example overlays and maps)."""
    for key in ("chart_file", "trend_chart_file"):
        if payload.get(key):
            yield payload[key]
    for concept in payload.get("concepts", []):
        for example in concept.get("examples") or []:
            for key in ("overlay_file", "map_file"):
                if example.get(key):
                    yield example[key]


def write_globals(
    zf: zipfile.ZipFile,
    session: Session,
    generation: int,
    names: ClassNames,
    packer: FilePacker,
    with_images: bool,
) -> tuple[int, list[tuple[Any, ...]]]:
    """global_explanations.json; returns its count and the rows of global_concepts.csv."""
    rows = (
        session.connection()
        .execute(
            select(GE.class_index, GE.layer_name, GE.depth, GE.payload, GE.chart_file)
            .where(GE.generation == generation)
            .order_by(GE.class_index, GE.depth)
        )
        .all()
    )
    document = []
    for row in rows:
        payload = row.payload or {}
        # Charts always travel; the overlays and maps of the examples only with the images.
        chart = packer.add(row.chart_file)
        trend_chart = packer.add(payload.get("trend_chart_file"))
        if with_images:
            packer.add_all(payload_files(payload))
        document.append(
            {
                "class_index": row.class_index,
                "class_name": names.name(row.class_index),
                "layer_name": row.layer_name,
                "depth": row.depth,
                "payload": payload,
                "chart": chart,
                "trend_chart": trend_chart,
            }
        )
    text = json.dumps(
        {"generation": generation if generation >= 0 else None, "explanations": document},
        indent=2,
        ensure_ascii=False,
        default=str,
    )
    zf.writestr("global_explanations.json", text)
    return len(document), list(global_concept_rows(generation, rows, names))


def model_rows(session: Session) -> list[dict[str, Any]]:
    """Every model with its class list, oldest first."""
    t = Model.__table__.c
    rows = (
        session.connection()
        .execute(
            select(t.id, t.name, t.weights_hash, t.num_classes, t.classes, t.input_size).order_by(
                t.id
            )
        )
        .all()
    )
    return [
        {
            "id": r.id,
            "name": r.name,
            "weights_hash": r.weights_hash,
            "num_classes": r.num_classes,
            "classes": list(r.classes),
            "input_size": r.input_size,
        }
        for r in rows
    ]
