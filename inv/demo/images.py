"""Real photographs that installed packages ship, gathered into one folder for the demo.

Nothing is downloaded and no photo is committed: scikit-image, scikit-learn and matplotlib carry
these files in their wheels, and Debian's `darknet` package adds six more when it is installed.
A few are also used through a second view (a region of the photo showing another object), so
that enough photos are served without the Debian ones.

Where an ImageNet class names what a photo shows, the photo is written into a folder of that
name, which precompute reads as its true class (the ImageFolder layout); the others stay at the
top of the folder, with no true class. The game serves a photo only when the network's answer is
confident or the known true class, so true classes let more photos be played honestly.
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
DARKNET_TRUE_CLASSES = {"eagle": "bald eagle"}  # the others show no single ImageNet class


@dataclass(frozen=True)
class DemoPhoto:
    name: str
    source: str
    load: Callable[[], Image.Image]
    true_class: str | None = None  # an ImageNet class name that fits what the photo shows


def _region(
    load: Callable[[], Image.Image], box: tuple[float, float, float, float]
) -> Callable[[], Image.Image]:
    def crop() -> Image.Image:
        image = load()
        w, h = image.size
        return image.crop(
            (round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h))
        )

    return crop


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
        DemoPhoto("chelsea", "scikit-image", _skimage("chelsea"), "tabby"),
        DemoPhoto("coffee", "scikit-image", _skimage("coffee"), "espresso"),
        DemoPhoto("astronaut", "scikit-image", _skimage("astronaut")),
        DemoPhoto("rocket", "scikit-image", _skimage("rocket")),
        DemoPhoto("motorcycle_left", "scikit-image", _skimage("stereo_motorcycle", 0)),
        DemoPhoto("motorcycle_right", "scikit-image", _skimage("stereo_motorcycle", 1)),
        DemoPhoto("china", "scikit-learn", _sklearn("china.jpg"), "palace"),
        DemoPhoto("flower", "scikit-learn", _sklearn("flower.jpg")),
        DemoPhoto("cameraman", "scikit-image", _skimage("camera"), "tripod"),
        # Second views: the pagoda whole, and the helmet beside the astronaut.
        DemoPhoto(
            "summer_palace",
            "scikit-learn",
            _region(_sklearn("china.jpg"), (0, 0, 0.5, 1)),
            "palace",
        ),
        DemoPhoto("helmet", "scikit-image", _region(_skimage("astronaut"), (0.5, 0.5, 1, 1))),
    ]
    grace = _matplotlib_sample("grace_hopper.jpg")
    if grace.is_file():
        photos.append(DemoPhoto("grace_hopper", "matplotlib", _file(grace), "military uniform"))
        photos.append(
            DemoPhoto(
                "uniform",
                "matplotlib",
                _region(_file(grace), (0, 0.5, 1, 1)),
                "military uniform",
            )
        )
    for name in DARKNET_PHOTOS:
        path = DARKNET_DATA / f"{name}.jpg"
        if path.is_file():
            true_class = DARKNET_TRUE_CLASSES.get(name)
            photos.append(DemoPhoto(name, "darknet (Debian)", _file(path), true_class))
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
        home = folder / photo.true_class if photo.true_class else folder
        home.mkdir(exist_ok=True)
        path = home / f"{photo.name}.jpg"
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
