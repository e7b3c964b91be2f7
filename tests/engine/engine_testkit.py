"""Small models and images for the engine tests (importable as a `module:callable` factory).

The precompute tests run `inv precompute --model engine_testkit:small_cnn` in a subprocess with
this folder on PYTHONPATH.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from engine.images import Preprocess

SMALL_CLASSES = ["cat", "dog", "bird", "fish"]
PAUSE_ENV = "INV_TESTKIT_FORWARD_PAUSE"  # seconds each forward pass of SmallCNN sleeps


class SmallCNN(nn.Module):
    """A VGG-like toy: enough channels for real clustering, fast on a CPU at 64 px."""

    def __init__(self, num_classes: int = 4, width: int = 24) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(2 * width, num_classes)
        # A worker process of a multi-worker test can be slowed down (so that it is surely killed
        # while it holds images) without changing the model's name, weights or outputs.
        self.pause_seconds = float(os.environ.get(PAUSE_ENV, "0") or 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pause_seconds:
            time.sleep(self.pause_seconds)
        return self.classifier(self.pool(self.features(x)).flatten(1))


def small_cnn() -> nn.Module:
    """The factory used by precompute tests: fixed weights, class names, 64→56 px crops."""
    torch.manual_seed(7)
    model = SmallCNN(num_classes=len(SMALL_CLASSES))
    model.classes = list(SMALL_CLASSES)  # type: ignore[assignment]
    model.inv_preprocess = Preprocess(resize_size=64, crop_size=56)  # type: ignore[assignment]
    return model


def photo(seed: int, size: tuple[int, int] = (80, 64)) -> Image.Image:
    """A smooth random colour image (a stand-in for a photograph)."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, size=(6, 5, 3)).astype(np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


def jpeg_bytes(image: Image.Image, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **kwargs)
    return buffer.getvalue()


def write_broken_images(folder: Path) -> dict[str, str]:
    """Files that must be reported and skipped; name -> a word expected in the reason."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corrupt.jpg").write_bytes(b"this is not an image at all" * 10)
    data = jpeg_bytes(photo(99, (120, 100)), quality=90)
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    photo(98, (12, 10)).save(folder / "tiny.png")
    (folder / "empty.png").write_bytes(b"")
    return {
        "corrupt.jpg": "not a readable image",
        "truncated.jpg": "unreadable",
        "tiny.png": "too small",
        "empty.png": "not a readable image",
    }


def write_unusual_images(folder: Path) -> list[str]:
    """Files in unusual formats that must be converted and explained."""
    folder.mkdir(parents=True, exist_ok=True)
    photo(11).convert("L").save(folder / "gray.png")
    photo(12).convert("CMYK").save(folder / "cmyk.jpg")
    sixteen = (np.asarray(photo(13).convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(sixteen).save(folder / "sixteen.png")
    rgba = photo(14).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / "alpha.png")
    photo(15).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.gif")
    return ["gray.png", "cmyk.jpg", "sixteen.png", "alpha.png", "palette.gif"]
