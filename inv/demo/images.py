"""Real photographs that installed packages ship, gathered into one folder for the demo.

Nothing is downloaded and no photo is committed: scikit-image, scikit-learn and matplotlib carry
these files in their wheels, and Debian's `darknet` package adds six more when it is installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

DARKNET_DATA = Path("/usr/share/darknet/data")
DARKNET_PHOTOS = ("dog", "eagle", "giraffe", "horses", "kite", "person")


@dataclass(frozen=True)
class DemoPhoto:
    name: str
    source: str
    load: Callable[[], Image.Image]


def _skimage(name: str, index: int | None = None) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        import skimage.data

        data = getattr(skimage.data, name)()
        array = data[index] if index is not None else data
        return Image.fromarray(np.asarray(array, dtype=np.uint8)).convert("RGB")

    return load


def _sklearn(filename: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image(filename)).convert("RGB")

    return load


def _file(path: Path) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        with Image.open(path) as image:
            return image.convert("RGB")

    return load


def _matplotlib_sample(filename: str) -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / filename


def available_photos() -> list[DemoPhoto]:
    """Every demo photo that this machine can provide, in a fixed order."""
    photos = [
        DemoPhoto("chelsea", "scikit-image", _skimage("chelsea")),
        DemoPhoto("coffee", "scikit-image", _skimage("coffee")),
        DemoPhoto("astronaut", "scikit-image", _skimage("astronaut")),
        DemoPhoto("rocket", "scikit-image", _skimage("rocket")),
        DemoPhoto("motorcycle_left", "scikit-image", _skimage("stereo_motorcycle", 0)),
        DemoPhoto("motorcycle_right", "scikit-image", _skimage("stereo_motorcycle", 1)),
        DemoPhoto("china", "scikit-learn", _sklearn("china.jpg")),
        DemoPhoto("flower", "scikit-learn", _sklearn("flower.jpg")),
    ]
    grace = _matplotlib_sample("grace_hopper.jpg")
    if grace.is_file():
        photos.append(DemoPhoto("grace_hopper", "matplotlib", _file(grace)))
    for name in DARKNET_PHOTOS:
        path = DARKNET_DATA / f"{name}.jpg"
        if path.is_file():
            photos.append(DemoPhoto(name, "darknet (Debian)", _file(path)))
    return photos


def gather_demo_images(folder: Path, limit: int | None = None) -> list[Path]:
    """Write the demo photos as JPEG files into `folder` (a flat image folder); return their paths.

    Existing files are kept, so a second demo run explains exactly the same bytes.
    """
    folder.mkdir(parents=True, exist_ok=True)
    photos = available_photos()
    if limit is not None:
        photos = photos[:limit]
    paths = []
    for photo in photos:
        path = folder / f"{photo.name}.jpg"
        if not path.exists():
            try:
                image = photo.load()
            except Exception as exc:
                log.warning("demo photo %s from %s unavailable: %s", photo.name, photo.source, exc)
                continue
            tmp = path.with_suffix(".tmp")
            image.save(tmp, format="JPEG", quality=92)
            tmp.replace(path)
        paths.append(path)
    return paths
