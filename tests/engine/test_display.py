"""Players see a display copy of the model's crop region taken from the original image (sharper
than the crop upscaled), and precompute keeps the network's most probable classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import select

from engine.content_files import clean_orphans, referenced_files
from engine.images import Preprocess
from engine.precompute import precompute
from inv.settings import get_settings
from storage.db import session_scope
from storage.models import Image as ImageRow
from tests.engine.engine_testkit import photo

FACTORY = "tests.engine.engine_testkit:small_cnn"


def _gradient(size: tuple[int, int]) -> Image.Image:
    """A picture whose every region differs, so a shifted region would not match."""
    xs = np.linspace(0, 255, size[0])[None, :]
    ys = np.linspace(0, 255, size[1])[:, None]
    rgb = np.stack([xs + 0 * ys, ys + 0 * xs, (xs + ys) / 2], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


@pytest.mark.parametrize("size", [(1600, 1200), (900, 1400), (300, 200), (4000, 500)])
def test_the_display_copy_is_the_crops_region_at_512_to_1024_px(size: tuple[int, int]) -> None:
    preprocess = Preprocess()
    image = _gradient(size)
    crop = preprocess.crop(image)
    display = preprocess.display_crop(image)
    assert display.size[0] == display.size[1] and 512 <= display.size[0] <= 1024
    box = preprocess.crop_box(size)
    assert display.size[0] == round(min(max(box[2] - box[0], 512), 1024))
    # The same region: the display copy brought down to the crop's size matches the crop.
    small = np.asarray(display.resize(crop.size, Image.Resampling.BILINEAR), dtype=np.float64)
    assert np.abs(small - np.asarray(crop, dtype=np.float64)).mean() < 3.0


def test_precompute_writes_the_display_copy_and_the_top_classes(
    any_db_engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(2):
        photo(seed, size=(1200, 900)).save(folder / f"p{seed}.png")
    data_dir = get_settings().data_dir
    report = precompute(folder, model=FACTORY, device="cpu", progress=False, data_dir=data_dir)
    assert report.explained == 2
    with session_scope(any_db_engine, readonly=True) as session:
        images = session.exec(select(ImageRow)).all()
    for image in images:
        assert image.display_file and image.display_file.startswith("displays/")
        with Image.open(data_dir / image.display_file) as display:
            # The test network's crop keeps 56 of 64 px of the shorter side: 900 · 56/64 here.
            assert display.size[0] == display.size[1]
            assert abs(display.size[0] - 900 * 56 / 64) <= 4
        assert image.top_classes is not None and image.top_classes[0] == image.predicted_class
        assert len(set(image.top_classes)) == len(image.top_classes) >= 2
    assert {i.display_file for i in images} <= referenced_files(any_db_engine)
    assert clean_orphans(data_dir, any_db_engine, min_age_s=0) == 0
    assert all((data_dir / i.display_file).exists() for i in images if i.display_file)
