"""Grouping phrase vectors into synonym groups and naming them, numpy and scipy only.

By default phrases merge up to a distance calibrated once on evaluation sets (MERGE_THRESHOLD
under MERGE_LINKAGE): the same threshold for every class and every run, so a class's concepts do
not depend on how many other phrases it happens to have. Choosing the number of groups by
silhouette on each call remains available.

For the silhouette mode, one complete-linkage dendrogram on cosine distances is built per call. Its cuts are walked from one
group to many: each step splits one group in two, and the per-group distance sums every silhouette
needs are updated in place, so the silhouette of a cut costs O(n·k) instead of a new clustering.
Silhouettes are computed for a bounded set of cuts (every cut for small inputs, a grid refined
around its best value for large ones).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
from scipy.spatial.distance import squareform

from engine.labels.heads import COLOUR_WORDS

# Threshold mode, and the fallback for inputs too small for a silhouette: the paper's authors
# suggest about 0.5, and on the hand-built crowd set it sits on the plateau of best cuts.
DEFAULT_THRESHOLD = 0.5
# The default merge: groups of phrases whose MERGE_LINKAGE distance (cosine distance with lexical
# links folded in) is at most MERGE_THRESHOLD, both chosen on the training evaluation sets
# (benchmarks/labels.py).
# On the training sets, average linkage beat complete linkage at every threshold with lexical
# links, and 0.4 had the best worst-set ARI over both spaCy pipelines.
MERGE_LINKAGE = "average"
MERGE_THRESHOLD = 0.4
# Phrases farther apart than this are never one concept, whatever the silhouette prefers: it
# keeps unrelated words apart when a class has few, all different, replies.
MAX_GROUP_DISTANCE = 0.8
# A best silhouette below this means the phrases have no group structure worth trusting (sets of
# unrelated words score 0.0–0.15 with all-MiniLM-L6-v2, crowd replies with synonyms 0.3–0.6); the
# threshold cut then decides, which keeps unrelated words apart.
MIN_SILHOUETTE = 0.25
# Every cut is scored up to this many phrases; beyond it a grid of cuts, then its neighbourhood.
EXHAUSTIVE_LIMIT = 400
GRID_POINTS = 64
# Above this many distinct phrases per class the n×n matrices get large: threshold mode instead.
MAX_SILHOUETTE_PHRASES = 4000


def cosine_distances(vectors: np.ndarray) -> np.ndarray:
    """The (n, n) cosine distance matrix of unit vectors, symmetric with a zero diagonal."""
    v = np.asarray(vectors, dtype=np.float64)
    dist = 1.0 - v @ v.T
    np.clip(dist, 0.0, 2.0, out=dist)
    dist = (dist + dist.T) / 2.0
    np.fill_diagonal(dist, 0.0)
    return dist


def complete_linkage(dist: np.ndarray) -> np.ndarray:
    return linkage(squareform(dist, checks=False), method="complete")


def merge_linkage(dist: np.ndarray) -> np.ndarray:
    """The dendrogram the calibrated threshold cuts (MERGE_LINKAGE between groups)."""
    return linkage(squareform(dist, checks=False), method=MERGE_LINKAGE)


def threshold_cut(tree: np.ndarray, n: int, threshold: float) -> np.ndarray:
    """Labels 0..k-1 of the cut whose groups have every pairwise distance ≤ threshold."""
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    return _relabel(fcluster(tree, t=threshold, criterion="distance"))


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..k-1 in order of first appearance (a canonical form)."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64)


def silhouette_of_labels(dist: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette of a labelling from a precomputed distance matrix (sklearn's definition)."""
    k = int(labels.max()) + 1
    onehot = np.zeros((labels.shape[0], k))
    onehot[np.arange(labels.shape[0]), labels] = 1.0
    sums = dist @ onehot
    return _silhouette(sums, labels, onehot.sum(axis=0))


def _silhouette(sums: np.ndarray, labels: np.ndarray, sizes: np.ndarray) -> float:
    """Mean silhouette from per-point distance sums to each group (n, k) and group sizes (k,)."""
    n = labels.shape[0]
    rows = np.arange(n)
    own_size = sizes[labels]
    a = sums[rows, labels] / np.maximum(own_size - 1.0, 1.0)
    mean_to = sums / sizes
    mean_to[rows, labels] = np.inf
    b = mean_to.min(axis=1)
    denom = np.maximum(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(denom > 0, (b - a) / denom, 0.0)
    s[own_size <= 1] = 0.0  # a singleton's silhouette is 0 by definition
    return float(s.mean())


@dataclass(frozen=True)
class Cut:
    labels: np.ndarray  # (n,) group of each phrase, 0..k-1
    k: int
    silhouette: float | None  # None when chosen by threshold


class _DendrogramWalk:
    """Cuts of one dendrogram from 1 to n-1 groups, with per-group distance sums kept current."""

    def __init__(self, tree: np.ndarray, dist: np.ndarray) -> None:
        self.tree = tree
        self.dist = dist
        n = dist.shape[0]
        self.n = n
        self.order = leaves_list(tree)
        # Every dendrogram node's leaves are contiguous in the leaf order: (start, size) per node.
        self.start = np.empty(2 * n - 1, dtype=np.int64)
        self.size = np.empty(2 * n - 1, dtype=np.int64)
        self.start[self.order] = np.arange(n)
        self.size[:n] = 1
        for i, (a, b) in enumerate(tree[:, :2].astype(np.int64)):
            self.start[n + i] = min(self.start[a], self.start[b])
            self.size[n + i] = self.size[a] + self.size[b]

    def members(self, node: int) -> np.ndarray:
        s = self.start[node]
        return self.order[s : s + self.size[node]]

    def scores(self, wanted: set[int]) -> dict[int, float]:
        """Silhouette of the cut into k groups for each k in `wanted` (2 ≤ k ≤ n-1)."""
        n = self.n
        top = max(wanted)
        sums = np.zeros((n, top), dtype=np.float64)
        sizes = np.zeros(top, dtype=np.float64)
        labels = np.zeros(n, dtype=np.int64)
        column = {2 * n - 2: 0}
        sums[:, 0] = self.dist.sum(axis=1)
        sizes[0] = n
        results: dict[int, float] = {}
        for k in range(1, top):
            merge = n - 1 - k  # undo merges from the highest down
            node = n + merge
            a, b = (int(x) for x in self.tree[merge, :2])
            small, big = (a, b) if self.size[a] <= self.size[b] else (b, a)
            col = column.pop(node)
            idx = self.members(small)
            part = self.dist[:, idx].sum(axis=1)
            sums[:, k] = part
            sums[:, col] -= part
            sizes[k] = len(idx)
            sizes[col] -= len(idx)
            labels[idx] = k
            column[small] = k
            column[big] = col
            if k + 1 in wanted:
                results[k + 1] = _silhouette(sums[:, : k + 1], labels, sizes[: k + 1])
        return results

    def labels_for(self, k: int) -> np.ndarray:
        """The cut into k groups, consistent with `scores` (merges undone from the highest)."""
        n = self.n
        labels = np.zeros(n, dtype=np.int64)
        for step in range(1, k):
            merge = n - 1 - step
            a, b = (int(x) for x in self.tree[merge, :2])
            small = a if self.size[a] <= self.size[b] else b
            labels[self.members(small)] = step
        return _relabel(labels)


def _candidates(low: int, high: int) -> list[int]:
    if high - low + 1 <= GRID_POINTS or high <= EXHAUSTIVE_LIMIT:
        return list(range(low, high + 1))
    return sorted({round(float(x)) for x in np.linspace(low, high, GRID_POINTS)})


def silhouette_cut(
    tree: np.ndarray,
    dist: np.ndarray,
    *,
    max_distance: float = MAX_GROUP_DISTANCE,
    small_threshold: float = DEFAULT_THRESHOLD,
    min_silhouette: float = MIN_SILHOUETTE,
) -> Cut:
    """The cut with the best silhouette (ties: fewer groups), never joining phrases > max_distance.

    Fewer than 4 phrases leave no meaningful silhouette range, and a best silhouette below
    `min_silhouette` no structure to trust: both are cut at `small_threshold` instead.
    """
    n = dist.shape[0]
    if n < 4:
        labels = threshold_cut(tree, n, small_threshold)
        return Cut(labels, int(labels.max()) + 1, None)
    # The finest cut any candidate may be no coarser than: the one at max_distance.
    low = max(2, int(threshold_cut(tree, n, max_distance).max()) + 1)
    high = n - 1
    if low > high:
        labels = np.arange(n, dtype=np.int64)
        return Cut(labels, n, None)
    walk = _DendrogramWalk(tree, dist)
    grid = _candidates(low, high)
    scores = walk.scores(set(grid))
    if len(grid) < high - low + 1:
        # Refine between the neighbours of the best grid point.
        best = _best(scores)
        pos = grid.index(best)
        lo = grid[max(pos - 1, 0)]
        hi = grid[min(pos + 1, len(grid) - 1)]
        scores.update(walk.scores(set(range(lo, hi + 1))))
    k = _best(scores)
    if scores[k] < min_silhouette:
        labels = threshold_cut(tree, n, small_threshold)
        return Cut(labels, int(labels.max()) + 1, None)
    return Cut(walk.labels_for(k), k, scores[k])


def _best(scores: dict[int, float]) -> int:
    best_k, best_s = -1, -np.inf
    for k in sorted(scores):
        if scores[k] > best_s + 1e-12:
            best_k, best_s = k, scores[k]
    return best_k


# ---------------------------------------------------------------------------------------------
# Representatives
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamedGroup:
    name: str
    members: list[int]  # indices into the distinct phrases
    weight: float


def representative(
    phrases: Sequence[str],
    weights: np.ndarray,
    phrase_vectors: np.ndarray,
    token_vectors: Callable[[Sequence[str]], np.ndarray],
    is_stop: Callable[[str], bool],
) -> str:
    """The non-stop-word token with the highest weighted summed cosine similarity to `phrases`.

    Ties go to the token used most often, then alphabetical order. A group whose words are all
    stop words is represented by its heaviest phrase.
    """
    counts: dict[str, float] = {}
    for phrase, w in zip(phrases, weights, strict=True):
        for token in phrase.split():
            if not is_stop(token):
                counts[token] = counts.get(token, 0.0) + float(w)
    if not counts:
        heaviest = max(range(len(phrases)), key=lambda i: (weights[i], -len(phrases[i])))
        return phrases[heaviest]
    tokens = sorted(counts)
    sims = token_vectors(tokens) @ phrase_vectors.T  # (tokens, phrases)
    total = sims.astype(np.float64) @ np.asarray(weights, dtype=np.float64)
    best = max(
        range(len(tokens)), key=lambda i: (round(total[i], 9), counts[tokens[i]], _neg(tokens[i]))
    )
    return tokens[best]


def _neg(text: str) -> tuple[int, ...]:
    """A key that sorts strings in reverse, so that max() prefers the alphabetically first."""
    return tuple(-ord(ch) for ch in text)


def name_groups(
    phrases: Sequence[str],
    weights: np.ndarray,
    vectors: np.ndarray,
    labels: np.ndarray,
    token_vectors: Callable[[Sequence[str]], np.ndarray],
    is_stop: Callable[[str], bool],
    lemma: Callable[[str], str],
) -> list[NamedGroup]:
    """Representative per group, lemmatised; groups whose representatives share a lemma unified.

    Groups of different colours are not unified under one word: when groups named by the same
    word name two or more colours (every phrase of "blue stripe"'s group says "blue", of the
    other's "white"), each coloured one is named with its colour ("blue stripe").
    """
    by_word: dict[str, list[tuple[str | None, list[int]]]] = {}
    for g in range(int(labels.max()) + 1 if len(labels) else 0):
        idx = np.flatnonzero(labels == g)
        members = [phrases[i] for i in idx]
        token = representative(members, weights[idx], vectors[idx], token_vectors, is_stop)
        word = lemma(token) if " " not in token else token
        colours = frozenset.intersection(*(frozenset(p.split()) & COLOUR_WORDS for p in members))
        colour = next(iter(colours)) if len(colours) == 1 and word not in colours else None
        by_word.setdefault(word, []).append((colour, [int(i) for i in idx]))
    by_name: dict[str, list[int]] = {}
    for word, found in by_word.items():
        distinct = {colour for colour, _ in found if colour is not None}
        for colour, idx in found:
            name = f"{colour} {word}" if colour is not None and len(distinct) > 1 else word
            by_name.setdefault(name, []).extend(idx)
    groups = [
        NamedGroup(name, sorted(members), float(weights[members].sum()))
        for name, members in by_name.items()
    ]
    groups.sort(key=lambda g: (-g.weight, g.name))
    return groups
