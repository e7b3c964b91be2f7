"""Lexical links folded into embedding distances, and their absence without WordNet."""

from __future__ import annotations

import numpy as np
import pytest

from engine.labels import links
from engine.labels.lexicon import open_wordnet

wordnet = open_wordnet()
needs_wordnet = pytest.mark.skipif(wordnet is None, reason="Debian's wordnet-base not installed")


def _far(n: int) -> np.ndarray:
    dist = np.full((n, n), 0.9)
    np.fill_diagonal(dist, 0.0)
    return dist


@needs_wordnet
def test_synonyms_and_direct_kinds_are_pulled_together() -> None:
    phrases = ["automobile", "car", "edifice", "building", "snout", "nose", "red bar", "green bar"]
    out = links.combined_distances(phrases, _far(len(phrases)), wordnet, consider_below=0.4)
    assert out[0, 1] == out[1, 0] == links.LINK_DISTANCE
    assert out[2, 3] == links.LINK_DISTANCE
    assert out[4, 5] == links.LINK_DISTANCE  # a snout is a kind of nose
    # Unrelated words keep their distance; phrases WordNet does not know as a whole get no
    # must-link from their shared head ("bar"), and their different colours keep them apart.
    assert out[0, 2] == 0.9
    assert out[6, 7] == links.CANNOT_LINK_DISTANCE


@needs_wordnet
def test_cannot_links_push_far_apart_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    phrases = ["bottle", "water"]
    close = np.array([[0.0, 0.3], [0.3, 0.0]])
    assert links.combined_distances(phrases, close, wordnet, consider_below=0.4)[0, 1] == 0.3
    monkeypatch.setattr(links, "CANNOT_LINK_PATH", 6)
    out = links.combined_distances(phrases, close, wordnet, consider_below=0.4)
    assert out[0, 1] == links.CANNOT_LINK_DISTANCE


def test_without_wordnet_distances_are_the_embeddings() -> None:
    dist = _far(2)
    out = links.combined_distances(["automobile", "car"], dist, None, consider_below=0.4)
    assert np.array_equal(out, dist)


def test_different_colours_never_merge() -> None:
    phrases = ["red bar", "green bar", "bar", "red green bar", "green stripe"]
    close = np.full((5, 5), 0.1)
    np.fill_diagonal(close, 0.0)
    out = links.combined_distances(phrases, close, None, consider_below=0.4)
    assert out[0, 1] == out[1, 0] == links.CANNOT_LINK_DISTANCE
    assert out[0, 2] == out[1, 2] == 0.1  # no colour: may join either
    assert out[0, 3] == out[1, 3] == 0.1  # a colour in common
    assert out[0, 4] == links.CANNOT_LINK_DISTANCE and out[1, 4] == 0.1
