"""Challenge and overlay rendering, map files, and the torch-free import of `engine.render`."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.render import (
    HINT_LEVELS,
    JET_LUT,
    MAX_SIDE,
    blur_sigma,
    encode_map,
    load_map,
    render_challenge,
    render_overlay,
    reveal_mask,
)

REPO = Path(__file__).resolve().parents[2]


def bump(h: int = 14, w: int = 14, centre: tuple[float, float] = (4.0, 9.0)) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    values = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / 8.0)
    return ((values - values.min()) / (values.max() - values.min())).astype(np.float32)


def decode(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return np.asarray(image.convert("RGB"))


def test_engine_and_render_import_without_torch() -> None:
    code = (
        "import sys, engine, engine.render\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert engine.render.HINT_LEVELS == (2, 4.5, 8, 13, 20, 30)\n"
        "from engine import ExplainConfig\n"
        "assert 'torch' not in sys.modules\n"
        "from engine import Explainer\n"
        "assert 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_map_files_round_trip(tmp_path: Path) -> None:
    values = bump()
    path = tmp_path / "m.png"
    path.write_bytes(encode_map(values))
    loaded = load_map(path)
    assert loaded.dtype == np.float32 and loaded.shape == values.shape
    np.testing.assert_allclose(loaded, values, atol=1 / 65535)
    np.save(tmp_path / "m.npy", (values * 255).astype(np.uint8))
    np.testing.assert_allclose(load_map(tmp_path / "m.npy"), values, atol=1 / 255)


@pytest.mark.parametrize("level", range(len(HINT_LEVELS)))
def test_challenge_reveals_the_top_q_percent_of_the_map(level: int) -> None:
    crop = np.full((224, 224, 3), 200, dtype=np.uint8)
    cluster_map = bump(28, 28, (8.0, 19.0))
    picture = decode(render_challenge(crop, cluster_map, level))
    assert picture.shape == (512, 512, 3)
    revealed = (picture.mean(axis=2) > 100).mean() * 100
    # Blurring moves the edge a little; the revealed area stays close to q.
    q = HINT_LEVELS[level]
    assert q * 0.6 <= revealed <= q * 1.6 + 1.0
    # What is shown is where the map is high: around the bump's centre (8, 19) of 28.
    ys, xs = np.nonzero(picture.mean(axis=2) > 100)
    assert abs(ys.mean() / 512 * 28 - 8.5) < 2.5 and abs(xs.mean() / 512 * 28 - 19.5) < 2.5
    # Outside the blurred edge everything is black.
    assert np.median(picture[picture.mean(axis=2) <= 100]) < 40


def test_more_hints_reveal_more_and_the_mask_is_blurred() -> None:
    cluster_map = bump()
    areas = [
        np.asarray(reveal_mask(cluster_map, (512, 512), lvl), dtype=np.float64).mean()
        for lvl in range(6)
    ]
    assert all(a < b for a, b in itertools.pairwise(areas))
    mask = np.asarray(reveal_mask(cluster_map, (512, 512), 2))
    assert ((mask > 10) & (mask < 245)).sum() > 0  # soft edges
    with pytest.raises(ValueError):
        reveal_mask(cluster_map, (512, 512), 6)


def test_blur_sigma_follows_the_paper_table() -> None:
    assert [blur_sigma(f) for f in (2, 4, 8, 16, 32)] == [3, 6, 12, 16, 24]
    assert blur_sigma(64) == 48 and blur_sigma(1) == 1.5
    assert 16 < blur_sigma(20) < 24


def test_sizes_fit_telegram_and_inputs_are_flexible() -> None:
    crop = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 200, 3), dtype=np.uint8))
    big = decode(render_challenge(crop, bump(7, 7), 3, side=4000))
    assert max(big.shape[:2]) == MAX_SIDE and big.shape[:2] == (1280, 853)
    data = render_challenge(np.asarray(crop, dtype=np.float32) / 255, bump(), 0)
    assert len(data) < 10 * 1024 * 1024
    gray = decode(render_overlay(np.asarray(crop)[..., 0], bump()))
    assert gray.shape == (512, 341, 3)


def test_overlay_is_a_jet_blend_matching_matplotlib() -> None:
    from matplotlib import colormaps

    reference = np.round(colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255)
    assert np.abs(JET_LUT.astype(int) - reference).max() <= 2
    crop = np.zeros((224, 224, 3), dtype=np.uint8)
    picture = decode(render_overlay(crop, bump(14, 14, (3.0, 3.0))))
    # On a black image the overlay is half of the colormap: red-ish at the peak, blue far away.
    peak, far = picture[3 * 512 // 14 + 18, 3 * 512 // 14 + 18], picture[480, 480]
    assert peak[0] > peak[2] and far[2] > far[0]
    assert picture.max() <= 140


def test_rendering_takes_a_few_milliseconds() -> None:
    crop = np.random.default_rng(1).integers(0, 255, (224, 224, 3), dtype=np.uint8)
    cluster_map = np.random.default_rng(2).random((14, 14)).astype(np.float32)
    render_challenge(crop, cluster_map, 0)
    timings = []
    for level in range(6):
        start = time.perf_counter()
        render_challenge(crop, cluster_map, level)
        render_overlay(crop, cluster_map)
        timings.append(time.perf_counter() - start)
    assert np.median(timings) < 0.1  # about 15 ms for both here; generous for a loaded machine


def test_a_small_revealed_region_is_shown_at_full_brightness() -> None:
    # One cell of a 7×7 map upsampled ×73 and blurred with σ ≈ 55 px stays fully visible at its
    # centre instead of fading to a quarter.
    cluster_map = np.zeros((7, 7), dtype=np.float32)
    cluster_map[2, 5] = 1.0
    crop = np.full((224, 224, 3), 200, dtype=np.uint8)
    picture = decode(render_challenge(crop, cluster_map, 0))
    centre = picture[int(2.5 * 512 / 7), int(5.5 * 512 / 7)]
    assert centre.min() >= 190
    assert picture[20, 20].max() < 10
