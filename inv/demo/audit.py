"""Judge a demo's export against what the simulated crowd was told to say.

Only the simulator knows which words are noise and which forms are typos; this module reads the
export that researchers get (global_explanations.json, images.csv) and compares every class ×
layer top-5 with the vocabulary of the class's photos:

- a **noise** name is one of the noise words;
- a **typo** name is a word that only appears in the typo forms of the vocabulary;
- the **top concept** of a class × layer is **right** when it is a word of its photos' concepts.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from inv.demo.vocabulary import NOISE, VOCABULARY

# The last form of each concept is its typo, except for these, which are words in their own right.
REAL_LAST_FORMS = frozenset(
    {"column", "cone", "foamy top", "logo patch", "pad", "rubber", "rubber tire", "tabletop"}
)


def _words(forms: list[str]) -> set[str]:
    words = {w for form in forms for w in form.split()}
    # Concept names are lemmas: "ears" is named "ear".
    return (
        words
        | {w[:-1] for w in words if w.endswith("s")}
        | {w[:-2] for w in words if w.endswith("es")}
    )


def proper_words(photo: str) -> set[str]:
    """Every word of the photo's concepts, typos excluded."""
    forms = [
        form
        for concept in VOCABULARY.get(photo, [])
        for form in (concept if concept[-1] in REAL_LAST_FORMS else concept[:-1])
    ]
    return _words(forms)


def typo_words() -> set[str]:
    proper = set().union(*(proper_words(photo) for photo in VOCABULARY))
    typos = {c[-1] for concepts in VOCABULARY.values() for c in concepts} - REAL_LAST_FORMS
    return {w for typo in typos for w in typo.split()} - proper


def noise_words() -> set[str]:
    return {w for phrase in NOISE for w in phrase.split()}


@dataclass
class ExportAudit:
    tops: int = 0  # class × layer top-5 lists
    names: int = 0  # concept names in them
    noise: list[str] = field(default_factory=list)  # "class / layer: name"
    typos: list[str] = field(default_factory=list)
    first_right: int = 0  # top concepts that are words of the class's photos
    first_total: int = 0

    @property
    def accuracy(self) -> float:
        return self.first_right / self.first_total if self.first_total else 0.0


def audit_export(path: Path) -> ExportAudit:
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("global_explanations.json"))
        images = list(csv.DictReader(io.StringIO(archive.read("images.csv").decode())))
    photos: dict[int, set[str]] = {}
    for row in images:
        photos.setdefault(int(row["explained_class"]), set()).add(Path(row["source_path"]).stem)
    noise, typos = noise_words(), typo_words()
    audit = ExportAudit()
    for explanation in document.get("explanations", []):
        payload = explanation.get("payload", explanation)
        class_index = int(payload["class_index"])
        place = f"{payload.get('class_name', class_index)} / {payload['layer_name']}"
        names = [c["name"] for c in payload.get("concepts", [])][:5]
        audit.tops += 1
        audit.names += len(names)
        audit.noise += [f"{place}: {n}" for n in names if set(n.split()) & noise]
        audit.typos += [f"{place}: {n}" for n in names if set(n.split()) & typos]
        if names:
            truth = set().union(*(proper_words(p) for p in photos.get(class_index, set())))
            audit.first_total += 1
            audit.first_right += bool(set(names[0].split()) & truth)
    return audit
