"""Reading image files robustly and cropping them as the model sees them (PIL and numpy only).

Any file a user drops in a folder may be broken or unusual: corrupt or truncated files, grayscale,
palette, CMYK, 16-bit or floating-point images, images with alpha, tiny icons or huge scans.
`load_rgb` turns each into an 8-bit RGB image or raises `ImageError` with a short reason; it never
lets an unexpected decoder error through.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jfif",
        ".png",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".ppm",
        ".pgm",
        ".pbm",
    }
)
MIN_SIDE = 32  # smaller images carry too little to explain at 224 px
MAX_PIXELS = 100_000_000  # above this only JPEGs are decoded (at a reduced scale); others refused

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


class ImageError(ValueError):
    """An image file that cannot be used; the message says why in a few words."""


@dataclass(frozen=True)
class Preprocess:
    """Resize the shorter side, centre-crop, normalise per channel (torchvision's convention).

    The crop is what the model sees and what players are shown, so maps line up with it.
    """

    resize_size: int = 256
    crop_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if self.interpolation not in _RESAMPLING:
            raise ValueError(f"unknown interpolation {self.interpolation!r}")
        if self.crop_size > self.resize_size:
            raise ValueError("crop_size must not exceed resize_size")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _resized(self, size: tuple[int, int]) -> tuple[int, int]:
        width, height = size
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.resize_size, int(self.resize_size * long / short)
        return (new_short, new_long) if width <= height else (new_long, new_short)

    def _crop_origin(self, resized: tuple[int, int]) -> tuple[int, int]:
        width, height = resized
        return round((width - self.crop_size) / 2.0), round((height - self.crop_size) / 2.0)

    def crop(self, image: Image.Image) -> Image.Image:
        """Shorter side to resize_size (as torchvision computes it), then the centre crop."""
        size = self._resized(image.size)
        if size != image.size:
            image = image.resize(size, _RESAMPLING[self.interpolation])
        left, top = self._crop_origin(image.size)
        return image.crop((left, top, left + self.crop_size, top + self.crop_size))

    def crop_box(self, size: tuple[int, int]) -> tuple[float, float, float, float]:
        """The region of an image of `size` that `crop` keeps, in the image's own pixels."""
        resized = self._resized(size)
        left, top = self._crop_origin(resized)
        sx, sy = size[0] / resized[0], size[1] / resized[1]
        return (
            left * sx,
            top * sy,
            (left + self.crop_size) * sx,
            (top + self.crop_size) * sy,
        )

    def display_crop(
        self, image: Image.Image, min_side: int = 512, max_side: int = 1024
    ) -> Image.Image:
        """The crop's region taken from `image` itself, between `min_side` and `max_side` pixels
        a side: what players see, sharper than the crop upscaled, and covering exactly what the
        model saw (so cluster maps line up with it)."""
        box = self.crop_box(image.size)
        side = round(min(max(box[2] - box[0], box[3] - box[1], min_side), max_side))
        return image.resize((side, side), Image.Resampling.LANCZOS, box=box)

    def normalise(self, crop: Image.Image) -> np.ndarray:
        """float32 [3, H, W]: (x/255 - mean)/std."""
        x = np.asarray(crop, dtype=np.float32) / 255.0
        x = (x - np.asarray(self.mean, dtype=np.float32)) / np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))


def _to_8bit(image: Image.Image) -> Image.Image:
    """High bit-depth grayscale to 8-bit, scaled rather than clipped."""
    values = np.asarray(image)
    if image.mode.startswith("I;16") or values.dtype == np.uint16:
        scaled = values.astype(np.float64) / 257.0
    elif image.mode == "F":
        finite = values[np.isfinite(values)]
        top = float(finite.max()) if finite.size else 1.0
        scaled = values * (255.0 if top <= 1.0 else 1.0)
    else:  # "I": 32-bit integers, most often a 16-bit PNG
        top = float(values.max()) if values.size else 0.0
        scaled = values.astype(np.float64) / (257.0 if 255 < top <= 65535 else 1.0)
        if top > 65535:
            scaled = values.astype(np.float64) * (255.0 / top)
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8), mode="L")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB; transparency is composited on white."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        image = _to_8bit(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def load_rgb(path: str | Path, *, min_side: int = MIN_SIDE, target_side: int = 256) -> Image.Image:
    """An 8-bit RGB image, EXIF orientation applied, or ImageError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            width, height = image.size
            if width * height > MAX_PIXELS:
                if image.format != "JPEG":
                    raise ImageError(f"too large ({width}x{height} pixels)")
                # Decode at a reduced scale that still covers the model's input.
                image.draft("RGB", (target_side, target_side))
            image.seek(0)  # the first frame of an animation
            image.load()
            image = ImageOps.exif_transpose(image) or image
            rgb = to_rgb(image)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except UnidentifiedImageError:
        raise ImageError("not a readable image (corrupt or unknown format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError("too large (decompression bomb guard)") from None
    except OSError as exc:
        reason = str(exc).split("(")[0].strip() or exc.__class__.__name__
        raise ImageError(f"unreadable: {reason}") from None
    except (ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise ImageError(f"unreadable: {exc.__class__.__name__}") from None
    if min(rgb.size) < min_side:
        raise ImageError(f"too small ({rgb.size[0]}x{rgb.size[1]}; needs {min_side} px a side)")
    return rgb


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_image_file(path: Path) -> bool:
    return (
        path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES
    )
