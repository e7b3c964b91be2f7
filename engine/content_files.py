"""Files under DATA_DIR that precompute writes: crops, player displays and 16-bit maps.

Each file is named by its content (`crops/ab/<sha256>.png`, `maps/ab/<sha256>.png`) and written
atomically (temporary file + rename), so a run killed at any point leaves at worst unreferenced
files, which a rerun reuses (same content, same name) and `clean_orphans` removes once no row
refers to them.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
from pathlib import Path

from PIL import Image as PILImage
from sqlalchemy.engine import Engine
from sqlmodel import select

from storage.db import session_scope
from storage.models import Cluster, ExplainedLayer, MergedCluster
from storage.models import Image as ImageRow

CROPS_DIR = "crops"
DISPLAYS_DIR = "displays"
MAPS_DIR = "maps"
DISPLAY_QUALITY = 90
ORPHAN_MIN_AGE_S = 600.0  # a younger unreferenced file may belong to a run about to commit


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


def png_bytes(image: PILImage.Image) -> bytes:
    """Lossless PNG of a crop (what the model saw, so it is kept exactly)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def jpeg_bytes(image: PILImage.Image) -> bytes:
    """JPEG of a player display (a photo: smaller to store and send than a PNG)."""
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
