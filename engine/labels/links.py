"""What a dictionary knows about two phrases, folded into their embedding distance.

Sentence-BERT keeps some synonyms apart ("automobile" and "car", "edifice" and "building") and
puts some different things close ("bottle" and "water", "glass" and "window"). WordNet knows both:
- must-link: two phrases that name one synset among their commonest senses, or where one is a
  direct kind of the other ("fang" → "tooth"), are pulled to LINK_DISTANCE;
- cannot-link (off by default): two phrases WordNet knows whose senses are nowhere near in its
  hierarchy (their shortest path through a common hypernym is longer than CANNOT_LINK_PATH steps
  for every pair of commonest senses) are pushed to CANNOT_LINK_DISTANCE, beyond any merge
  threshold. Path length does not tell neighbours from synonyms: "stove" and "cooker" are 8
  steps apart, "bottle" and "water" 8, "lawn" and "grass" 12, "cup" and "ball" 5. Every path
  limit from 5 to 8 lowered the training sets' ARI, so it is off (None) until a better measure of
  "different things" is found.

Only phrases that are WordNet lemmas as a whole take part ("fire hydrant" does, "red bar" does
not), so colour and material words are never overruled by the dictionary's view of the head.

One cannot-link needs no dictionary: two phrases that each name a colour, and no colour in
common, are different things ("red bar" and "green bar"), however close their vectors are (they
differ in one word of two). A phrase without a colour ("bar") may still join either.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.labels.heads import COLOUR_WORDS
from engine.labels.lexicon import WordNet

SENSES = 3  # a word's commonest senses considered (players mean the usual thing)
# How many hypernym steps up from one phrase's sense may reach the other's for a must-link.
HYPERNYM_STEPS = 1
LINK_DISTANCE = 0.15
CANNOT_LINK_DISTANCE = 1.0
CANNOT_LINK_PATH: int | None = None
# Hypernyms are followed this far up from each side when looking for a common one.
_MAX_ASCENT = 8


def colour_cannot_links(phrases: Sequence[str], dist: np.ndarray) -> np.ndarray:
    """`dist` with phrases of different colours pushed to CANNOT_LINK_DISTANCE (in place)."""
    colours = [frozenset(p.split()) & COLOUR_WORDS for p in phrases]
    coloured = [i for i, c in enumerate(colours) if c]
    for a, i in enumerate(coloured):
        for j in coloured[a + 1 :]:
            if not colours[i] & colours[j]:
                dist[i, j] = dist[j, i] = CANNOT_LINK_DISTANCE
    return dist


def combined_distances(
    phrases: Sequence[str],
    dist: np.ndarray,
    wordnet: WordNet | None,
    *,
    consider_below: float,
) -> np.ndarray:
    """`dist` with must-links pulled in and cannot-links pushed out (a new matrix).

    Cannot-links are only checked for pairs closer than `consider_below` (farther pairs are
    never merged anyway), which keeps the work near linear in practice.
    """
    out = colour_cannot_links(phrases, dist.copy())
    if wordnet is None or len(phrases) < 2:
        return out
    senses = [wordnet.senses(p)[:SENSES] for p in phrases]
    known = [i for i, s in enumerate(senses) if s]
    # Must-links through shared synsets and direct hypernyms, found by inverted index.
    by_synset: dict[int, set[int]] = {}
    for i in known:
        for offset in senses[i]:
            by_synset.setdefault(offset, set()).add(i)
    for i in known:
        related: set[int] = set()
        for offset in senses[i]:
            related.update(wordnet.ancestors(offset, HYPERNYM_STEPS))
        for offset in related:
            for j in by_synset.get(offset, ()):
                if j != i:
                    out[i, j] = out[j, i] = min(out[i, j], LINK_DISTANCE)
    if CANNOT_LINK_PATH is None:
        return out
    # Cannot-links among close pairs the dictionary knows.
    known_mask = np.zeros(len(phrases), dtype=bool)
    known_mask[known] = True
    close = np.argwhere(np.triu(out < consider_below, k=1) & np.outer(known_mask, known_mask))
    ancestors: dict[int, list[dict[int, int]]] = {}
    for i, j in close:
        i, j = int(i), int(j)
        if out[i, j] <= LINK_DISTANCE:
            continue
        for k in (i, j):
            if k not in ancestors:
                ancestors[k] = [wordnet.ancestors(s, _MAX_ASCENT) for s in senses[k]]
        if _shortest_path(ancestors[i], ancestors[j]) > CANNOT_LINK_PATH:
            out[i, j] = out[j, i] = CANNOT_LINK_DISTANCE
    return out


def _shortest_path(a: list[dict[int, int]], b: list[dict[int, int]]) -> int:
    best = 10**6
    for up_a in a:
        for up_b in b:
            for node in up_a.keys() & up_b.keys():
                best = min(best, up_a[node] + up_b[node])
    return best
