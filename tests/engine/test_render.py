"""Challenge and overlay rendering, map files, and the torch-free import of `engine.render`."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.render import (
    HINT_LEVELS,
    JET_LUT,
    MAX_SIDE,
    cell_ranks,
    encode_map,
    feather_sigma,
    lit_share,
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


def test_the_soft_edge_is_a_fixed_share_of_a_cell_whatever_the_sizes() -> None:
    assert feather_sigma((7, 7), (512, 512)) == pytest.approx(512 / 7 * 0.15)
    assert feather_sigma((56, 56), (1024, 1024)) == pytest.approx(1024 / 56 * 0.15)
    assert feather_sigma((14, 28), (560, 280)) == pytest.approx(20 * 0.15)


@pytest.mark.parametrize("shape", [(7, 7), (14, 14), (28, 28), (56, 56), (9, 13), (6, 8)])
@pytest.mark.parametrize("side", [512, 768, 1024])
def test_every_level_lights_its_share_and_never_dims_what_was_shown(
    shape: tuple[int, int], side: int
) -> None:
    rng = np.random.default_rng(shape[0] * 100 + shape[1] + side)
    for trial in range(3):
        cluster_map = rng.random(shape).astype(np.float32) ** 3
        if trial == 2:
            cluster_map[cluster_map < 0.5] = 0.0  # a flat zero floor (ties) under the peaks
        previous = np.zeros((side, side), dtype=np.uint8)
        for level, q in enumerate(HINT_LEVELS):
            mask = np.asarray(reveal_mask(cluster_map, (side, side), level))
            assert abs(lit_share(mask) - q) <= 0.25 * q, (shape, side, level, lit_share(mask))
            assert (mask >= previous).all(), f"hint {level + 1} darkens a pixel of hint {level}"
            previous = mask


def test_the_first_hint_on_a_7x7_map_is_about_one_cell() -> None:
    cluster_map = bump(7, 7, (2.0, 5.0)) * 0.5
    cluster_map[2, 5] = 1.0
    mask = np.asarray(reveal_mask(cluster_map, (511, 511), 0))
    lit = mask >= 128
    ys, xs = np.nonzero(lit)
    cell = 511 / 7
    # Lit pixels lie inside the peak cell (the soft edge trims its corners a little).
    assert ys.min() >= 2 * cell - 1 and ys.max() <= 3 * cell + 1
    assert xs.min() >= 5 * cell - 1 and xs.max() <= 6 * cell + 1
    assert 0.8 <= lit.sum() / cell**2 <= 1.05
    # Nothing is rescaled: outside the cell's soft edge the picture stays black.
    assert mask[: int(2 * cell - cell / 2)].max() == 0


def test_cell_ranks_order_by_value_then_by_neighbourhood() -> None:
    cluster_map = np.zeros((3, 4), dtype=np.float32)
    cluster_map[1, 1] = 1.0
    cluster_map[0, 3] = 0.5
    ranks = cell_ranks(cluster_map)
    assert ranks[1, 1] == 0 and ranks[0, 3] == 1
    assert sorted(ranks.ravel().tolist()) == list(range(12))
    # Among the zero cells, those next to the peak come first.
    assert ranks[1, 0] < ranks[2, 3] and ranks[0, 1] < ranks[2, 3]


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
