"""The input folder of `inv precompute`: a flat folder of images or an ImageFolder.

In an ImageFolder each class has its subfolder, named by the class's name or index; its images
get that class as their true class, which decides gold challenges. Hidden files and folders are
skipped, files without an image extension counted, so the run can say what it ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.images import is_image_file


@dataclass(frozen=True)
class Source:
    """One image file found in the input folder."""

    path: Path
    folder_class: str | None  # the ImageFolder class folder, None for a flat folder
    true_class: int | None


def _norm_name(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def class_index_for_folder(folder: str, classes: Sequence[str]) -> int | None:
    """The model class a folder name stands for: a class name (case, _ and - ignored) or an index."""
    wanted = _norm_name(folder)
    for index, name in enumerate(classes):
        if _norm_name(name) == wanted:
            return index
    if folder.strip().isdigit() and int(folder) < len(classes):
        return int(folder)
    return None


def scan_folder(root: Path, classes: Sequence[str]) -> tuple[list[Source], int, list[str]]:
    """Images of a flat folder or an ImageFolder (class subfolders), sorted; ignored count; notes."""
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    sources: list[Source] = []
    ignored = 0
    notes: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            if is_image_file(entry):
                sources.append(Source(entry, None, None))
            else:
                ignored += 1
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        index = class_index_for_folder(folder.name, classes)
        files = [
            p
            for p in sorted(folder.rglob("*"))
            if not any(part.startswith(".") for part in p.relative_to(root).parts)
        ]
        images = [p for p in files if is_image_file(p)]
        ignored += sum(1 for p in files if p.is_file() and not is_image_file(p))
        if images and index is None:
            notes.append(
                f"class folder {folder.name!r} matches no class name or index of the model; "
                f"its {len(images)} images are explained for their predicted class with no true class"
            )
        sources.extend(Source(p, folder.name, index) for p in images)
    return sources, ignored, notes
