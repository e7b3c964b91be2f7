"""Reading WordNet's noun files: senses, synsets, hypernyms; a missing WordNet is no error."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.labels.lexicon import open_wordnet

wordnet = open_wordnet()
needs_wordnet = pytest.mark.skipif(wordnet is None, reason="Debian's wordnet-base not installed")


@needs_wordnet
def test_senses_synsets_and_hypernyms() -> None:
    assert wordnet is not None
    car = wordnet.synset(wordnet.senses("car")[0])
    assert {"car", "automobile", "motorcar"} <= set(car.lemmas)
    assert car.offset in wordnet.senses("automobile")
    assert wordnet.senses("Fire Hydrant") == wordnet.senses("fire_hydrant") != ()
    fang = wordnet.senses("fang")
    tooth = set(wordnet.senses("tooth"))
    assert any(tooth & set(wordnet.ancestors(s, 2)) for s in fang)
    assert not wordnet.knows("qwzxv")


def test_missing_files_mean_no_wordnet(tmp_path: Path) -> None:
    assert open_wordnet(tmp_path) is None
