"""Exit codes that tell: nothing to explain, nothing explained, a file for a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from inv.cli import main
from tests.engine.engine_testkit import write_broken_images

FACTORY = "tests.engine.engine_testkit:small_cnn"


def precompute(folder: Path) -> int:
    options = ["--model", FACTORY, "--device", "cpu", "--no-progress"]
    return main(["precompute", "--images", str(folder), *options])


def test_a_folder_without_images_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a photo")
    assert precompute(folder) == 1
    err = capsys.readouterr().err
    assert f"no image files in {folder}" in err and ".jpg" in err


def test_a_folder_where_every_image_fails_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "broken"
    reasons = write_broken_images(folder)
    assert precompute(folder) == 1
    captured = capsys.readouterr()
    assert f"every image failed ({len(reasons)})" in captured.err
    assert "failed: " in captured.out  # each file's reason is still listed


def test_images_pointed_at_a_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(b"x")
    assert precompute(photo) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"inv precompute: --images {photo} is a file; give the folder that holds the images"
    )


def test_the_demo_counts_photos_with_photos(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert "--photos N" in out and "--images" not in out
    with pytest.raises(SystemExit, match="--photos must be at least 1"):
        main(["demo", "--photos", "0"])
