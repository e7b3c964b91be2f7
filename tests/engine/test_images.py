"""Robust image reading: unusual formats are converted, broken files give a clear reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import engine.images as images
from engine.images import ImageError, Preprocess, load_rgb
from tests.engine.engine_testkit import photo, write_broken_images, write_unusual_images


def test_unusual_formats_become_8bit_rgb(tmp_path: Path) -> None:
    names = write_unusual_images(tmp_path)
    reference = np.asarray(photo(13).convert("L"), dtype=np.float64)
    for name in names:
        image = load_rgb(tmp_path / name)
        assert image.mode == "RGB" and image.size == (80, 64), name
    sixteen = np.asarray(load_rgb(tmp_path / "sixteen.png"), dtype=np.float64)[..., 0]
    np.testing.assert_allclose(sixteen, reference, atol=1)  # scaled, not clipped to white
    alpha = np.asarray(load_rgb(tmp_path / "alpha.png"), dtype=np.float64)
    assert alpha.mean() > np.asarray(photo(14), dtype=np.float64).mean()  # composited on white


@pytest.mark.parametrize("name", ["corrupt.jpg", "truncated.jpg", "tiny.png", "empty.png"])
def test_broken_files_raise_a_short_reason(tmp_path: Path, name: str) -> None:
    expected = write_broken_images(tmp_path)[name]
    with pytest.raises(ImageError, match=expected):
        load_rgb(tmp_path / name)
    with pytest.raises(ImageError, match="not found"):
        load_rgb(tmp_path / "missing.png")


def test_huge_images_are_refused_or_decoded_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "MAX_PIXELS", 100 * 100)
    big = photo(5, (800, 600))
    big.save(tmp_path / "big.jpg", quality=90)
    big.save(tmp_path / "big.png")
    drafted = load_rgb(tmp_path / "big.jpg", target_side=256)
    assert 256 <= min(drafted.size) < 600  # decoded at a reduced scale
    with pytest.raises(ImageError, match="too large"):
        load_rgb(tmp_path / "big.png")


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = photo(6, (80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_rgb(tmp_path / "rotated.jpg").size == (40, 80)


def test_centre_crop_geometry() -> None:
    preprocess = Preprocess(resize_size=64, crop_size=56)
    crop = preprocess.crop(photo(7, (200, 100)))
    assert crop.size == (56, 56)
    array = preprocess.normalise(crop)
    assert array.shape == (3, 56, 56) and array.dtype == np.float32
