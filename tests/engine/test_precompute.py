"""`inv precompute`: rows and maps for good images, a report for broken ones, idempotent reruns,
crash safety (SIGKILL then rerun), ImageFolder classes, gold clusters, and the CPU/network overlap."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sqlalchemy.engine import Engine
from sqlmodel import select

from engine import ExplainConfig, Explainer
from engine.content_files import clean_orphans, referenced_files
from engine.overlap import OverlappedRunner, Timeline
from engine.precompute import precompute
from engine.render import load_map
from inv.cli import main as inv_main
from inv.settings import get_settings
from storage.db import session_scope
from storage.models import Cluster, ExplainedLayer
from storage.models import Image as ImageRow
from storage.models import Model as ModelRow
from tests.engine.engine_testkit import (
    SMALL_CLASSES,
    photo,
    small_cnn,
    write_broken_images,
    write_unusual_images,
)

FACTORY = "tests.engine.engine_testkit:small_cnn"
REPO = Path(__file__).resolve().parents[2]


def run_precompute(folder: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    options = {
        "data_dir": get_settings().data_dir,
        "model": FACTORY,
        "device": "cpu",
        "progress": False,
        "batch_size": 3,
        "workers": 2,
    }
    options.update(kwargs)
    return precompute(folder, **options)  # type: ignore[arg-type]


def check_consistent(engine: Engine, expected_images: int, layers: int = 2) -> None:
    """Every image complete (all layers, contiguous ranks, one gold at most), every file present."""
    data_dir = get_settings().data_dir
    with session_scope(engine, readonly=True) as session:
        images = session.exec(select(ImageRow)).all()
        assert len(images) == expected_images
        assert len({(i.model_id, i.sha256, i.config_key) for i in images}) == expected_images
        for image in images:
            rows = session.exec(
                select(ExplainedLayer).where(ExplainedLayer.image_id == image.id)
            ).all()
            assert sorted(r.depth for r in rows) == list(range(layers))
            clusters = session.exec(select(Cluster).where(Cluster.image_id == image.id)).all()
            for row in rows:
                ranks = sorted(c.rank for c in clusters if c.layer_id == row.id)
                assert ranks == list(range(len(ranks)))
            assert sum(c.is_gold for c in clusters) <= 1
            crop = Image.open(data_dir / image.crop_file)
            assert crop.size == (image.width, image.height) == (56, 56)
    for relative in referenced_files(engine):
        assert (data_dir / relative).is_file(), relative


def test_good_and_broken_images_then_a_rerun_does_nothing(
    any_db_engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(4):
        photo(seed).save(folder / f"photo{seed}.jpg", quality=92)
    shutil.copy(folder / "photo0.jpg", folder / "copy_of_photo0.jpg")
    unusual = write_unusual_images(folder)
    broken = write_broken_images(folder)
    (folder / "notes.txt").write_text("not an image")

    report = run_precompute(folder)
    assert report.explained == 4 + len(unusual)
    assert sorted(Path(p).name for p, _ in report.failed) == sorted(broken)
    for path, reason in report.failed:
        assert broken[Path(path).name] in reason
    assert [Path(p).name for p, _ in report.duplicates] == [
        "photo0.jpg"
    ]  # copy_of_photo0 sorts first
    assert report.ignored_files == 1
    assert report.overlap_seconds > 0  # clustering of a batch ran during the next network pass
    summary = report.summary()
    assert "failed: " in summary and "truncated.jpg" in summary

    check_consistent(any_db_engine, report.explained)
    data_dir = get_settings().data_dir
    with session_scope(any_db_engine, readonly=True) as session:
        (model,) = session.exec(select(ModelRow)).all()
        assert model.name == FACTORY and model.classes == SMALL_CLASSES and model.input_size == 56
        images = session.exec(select(ImageRow)).all()
        assert {Path(i.source_path).name for i in images} == {
            *(f"photo{s}.jpg" for s in (1, 2, 3)),
            "copy_of_photo0.jpg",
            *unusual,
        }
        clusters = session.exec(select(Cluster)).all()
        assert clusters and all(
            c.class_index == i.explained_class
            for i in images
            for c in clusters
            if c.image_id == i.id
        )
        for cluster in clusters[:10]:
            values = load_map(data_dir / cluster.map_file)
            assert values.min() >= 0 and values.max() == pytest.approx(1.0)
        layer = session.exec(
            select(ExplainedLayer).where(ExplainedLayer.layer_name == "features.9")
        ).first()
        assert (
            layer is not None and (layer.height, layer.width) == (14, 14) and layer.channels == 48
        )
        assert load_map(data_dir / layer.gradcam_file).shape == (14, 14)
        # Gold: no true classes here, so the heaviest deepest cluster of confident predictions.
        for image in images:
            gold = [c for c in clusters if c.image_id == image.id and c.is_gold]
            deepest = [
                c for c in clusters if c.image_id == image.id and c.depth == 1 and c.rank == 0
            ]
            assert gold == (deepest if image.predicted_prob >= 0.5 else [])

    again = run_precompute(folder)
    assert again.explained == 0 and again.already_done == report.explained
    check_consistent(any_db_engine, report.explained)
    # Another configuration is another explanation of the same images.
    tsne = run_precompute(folder, reduction="tsne", limit=3)
    assert tsne.images_found == 3 and tsne.explained == 3 and tsne.config_key != report.config_key


def test_image_folder_gives_true_classes_and_gold(any_db_engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "classes"
    for folder, seeds in {"Dog": (20, 21), "2": (22,), "unknown_thing": (23,)}.items():
        (root / folder).mkdir(parents=True)
        for seed in seeds:
            photo(seed).save(root / folder / f"{seed}.png")
    report = run_precompute(root, target="true")
    assert report.explained == 4
    assert any("unknown_thing" in note for note in report.notes)
    with session_scope(any_db_engine, readonly=True) as session:
        images = {Path(i.source_path).name: i for i in session.exec(select(ImageRow)).all()}
        clusters = session.exec(select(Cluster)).all()
    assert [images[f"{s}.png"].true_class for s in (20, 21, 22, 23)] == [1, 1, 2, None]
    for image in images.values():
        expected = image.true_class if image.true_class is not None else image.predicted_class
        assert image.explained_class == expected
        has_gold = any(c.is_gold for c in clusters if c.image_id == image.id)
        correct = (
            image.predicted_class == image.true_class
            if image.true_class is not None
            else image.predicted_prob >= 0.5
        )
        assert has_gold == correct


def _count_images(db_path: Path) -> int:
    try:
        with sqlite3.connect(db_path, timeout=5) as connection:
            return int(connection.execute("select count(*) from image").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_sigkill_after_first_commit_then_rerun_is_complete(
    db_engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    total = 16
    for seed in range(total):
        photo(100 + seed).save(folder / f"p{seed:02d}.png")
    settings = get_settings()
    db_path = Path(settings.sqlalchemy_url.removeprefix("sqlite:///"))
    env = {
        **os.environ,
        "DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.sqlalchemy_url,
        "INV_ENV_FILE": "",
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-m", "inv.cli", "precompute", "--images", str(folder), "--model", FACTORY,
               "--batch-size", "1", "--reduction", "tsne", "--device", "cpu", "--no-progress"]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    try:
        while _count_images(db_path) < 1:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "no image committed in time"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    committed = _count_images(db_path)
    assert 1 <= committed < total, "the run must be killed part-way"
    check_consistent(db_engine, committed)

    report = run_precompute(folder, reduction="tsne")
    assert report.already_done == committed and report.explained == total - committed
    check_consistent(db_engine, total)
    # Files of the image in flight at the kill are either reused (same content) or orphans.
    clean_orphans(settings.data_dir, min_age_s=0)
    data_dir = settings.data_dir
    stored = {
        p.relative_to(data_dir).as_posix()
        for kind, files in (("crops", "*.png"), ("maps", "*.png"), ("displays", "*.jpg"))
        for p in (data_dir / kind).rglob(files)
    }
    assert stored == referenced_files(db_engine)
    assert not any(p.name.startswith(".tmp-") for p in data_dir.rglob("*"))


def test_clustering_overlaps_the_next_network_pass_on_cpu() -> None:
    explainer = Explainer(
        small_cnn(), None, ExplainConfig(reduction="tsne"), device="cpu", workers=1, input_size=56
    )
    batches = [
        torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(i)) for i in range(4)
    ]
    timeline = Timeline()

    def network(x: torch.Tensor):  # type: ignore[no-untyped-def]
        # The tiny test network passes in ~2 ms; a real one takes far longer. Stretching the pass
        # keeps the check about the runner's scheduling, not about how fast a thread wakes up.
        time.sleep(0.05)
        return explainer.forward_backward(x)

    runner = OverlappedRunner(
        network, lambda _x, passed: explainer.cluster(passed), timeline=timeline
    )
    results = list(runner.run(batches))
    assert len(results) == 4 and all(len(r) == 2 for r in results)
    for i in range(3):
        next_start, next_end = timeline.span("network", i + 1)
        finish_start, finish_end = timeline.span("finish", i)
        # The two run at once: batch i+1's pass starts before batch i's clustering ends.
        assert next_start < finish_end and finish_start < next_end, (
            "batch i+1's pass must run while batch i clusters"
        )
    assert timeline.overlap_seconds() > 0
    # Same results as without the pipeline.
    direct = explainer.explain(batches[2])
    for a, b in zip(results[2], direct, strict=True):
        for name in a.layers:
            np.testing.assert_allclose(
                a.layers[name].channel_weights, b.layers[name].channel_weights, rtol=1e-5
            )
    explainer.close()


def test_cli_precompute_and_layers(
    db_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "cli"
    folder.mkdir()
    photo(40).save(folder / "a.png")
    write_broken_images(folder)
    code = inv_main(
        [
            "precompute",
            "--images",
            str(folder),
            "--model",
            FACTORY,
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "1 explained" in out and "failed: " in out and "layers: features.6,features.9" in out
    assert inv_main(["precompute", "--images", str(tmp_path / "nowhere"), "--model", FACTORY]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert inv_main(["precompute", "--images", str(folder), "--model", "no_such_net"]) == 2
    assert (
        inv_main(
            ["precompute", "--images", str(folder), "--model", FACTORY, "--layers", "features.99"]
        )
        == 2
    )
    assert "features.99" in capsys.readouterr().err

    assert (
        inv_main(["layers", "--model", "vgg16", "--weights", "random", "--input-size", "64"]) == 0
    )
    out = capsys.readouterr().out
    assert "features.29  ReLU" in out and "512x4x4" in out
    rows = {
        line.split()[0]: line.split() for line in out.splitlines() if line.startswith("features.")
    }
    assert rows["features.29"][3:] == ["yes", "*"]  # post-activation, default
    assert rows["features.28"][3:] == []  # a convolution: linear, not a default
    assert (
        "default layers: features.11,features.13,features.15,features.18,features.20,features.22,features.25,features.27,features.29"
        in out
    )
