"""Evaluation sets for label grouping, from independent sources (see README.md here).

    from tests.labels.data import EVAL_SETS, load
    for name in EVAL_SETS: replies = load(name).replies   # (reply as typed, group, kind)

"train" sets may be used to choose the pipeline's constants; "heldout" sets only report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class EvalSet:
    name: str
    role: str  # "train" or "heldout"
    source: str  # "hand-written" or "wordnet"
    replies: list[tuple[str, str, str]]  # (reply as typed, group, kind)
    class_names: tuple[str, ...]  # stripped from every reply, as the explained class would be


def _read_tsv(path: Path) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            text, group, kind = line.split("\t")
            rows.append((text, group, kind))
    return rows


def _crowd() -> EvalSet:
    from tests.labels.crowd_set import REPLIES

    return EvalSet("crowd", "train", "hand-written", list(REPLIES), ("dog",))


def _photos(role: str) -> EvalSet:
    if role == "train":
        from tests.labels.data.photos_train import CLASS_NAMES, REPLIES
    else:
        from tests.labels.data.photos_heldout import CLASS_NAMES, REPLIES
    return EvalSet(f"photos-{role}", role, "hand-written", list(REPLIES), CLASS_NAMES)


def _wordnet(role: str) -> EvalSet:
    replies = _read_tsv(HERE / f"wordnet_{role}.tsv")
    return EvalSet(f"wordnet-{role}", role, "wordnet", replies, ())


_LOADERS = {
    "crowd": _crowd,
    "wordnet-train": lambda: _wordnet("train"),
    "wordnet-heldout": lambda: _wordnet("heldout"),
    "photos-train": lambda: _photos("train"),
    "photos-heldout": lambda: _photos("heldout"),
}
EVAL_SETS: tuple[str, ...] = tuple(_LOADERS)


def load(name: str) -> EvalSet:
    return _LOADERS[name]()
