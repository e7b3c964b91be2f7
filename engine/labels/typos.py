"""Fold misspellings into the phrase they misspell, before synonyms are grouped.

Sentence-BERT places a typo ("neck" → "nek", "branch" → "brnach") far from its word, so without
this step a typo becomes a concept of its own. A phrase is read as a typo of another when both are
single words, the other is given at least twice as often, and one edit turns one into the other
(insert, delete, substitute, or swap two neighbours). Short words are left alone: "cat" and "cap"
are different words, not typos. The price is that a rare real word one edit from a common one
("house" next to many "horse") is folded too; crowds misspell far more often than that happens.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_TYPO_LENGTH = 4  # both words at least this long
MIN_FREQUENCY_RATIO = 2.0  # the word is given at least this many times as often as its typo


def is_one_edit(a: str, b: str) -> bool:
    """True when a and b differ by exactly one insertion, deletion, substitution or swap."""
    if a == b:
        return False
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    shorter, longer = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(shorter) and shorter[i] == longer[i]:
        i += 1
    return shorter[i:] == longer[i + 1 :]


def typo_parents(phrases: Sequence[str], frequencies: Sequence[float]) -> list[int]:
    """For each phrase, the index of the phrase it misspells, or its own index.

    The parent is the most frequent single word one edit away that is at least
    MIN_FREQUENCY_RATIO times as frequent (ties broken by the phrase itself); parents are always
    more frequent, so chains cannot loop, and each is resolved to its root.
    """
    n = len(phrases)
    parent = list(range(n))
    words = [
        i
        for i, p in enumerate(phrases)
        if " " not in p.strip() and len(p.strip()) >= MIN_TYPO_LENGTH
    ]
    by_length: dict[int, list[int]] = {}
    for i in words:
        by_length.setdefault(len(phrases[i]), []).append(i)
    for i in words:
        word = phrases[i]
        best: int | None = None
        for length in (len(word) - 1, len(word), len(word) + 1):
            for j in by_length.get(length, []):
                if frequencies[j] < MIN_FREQUENCY_RATIO * frequencies[i] or not is_one_edit(
                    word, phrases[j]
                ):
                    continue
                if best is None or (frequencies[j], phrases[best]) > (
                    frequencies[best],
                    phrases[j],
                ):
                    best = j
        if best is not None:
            parent[i] = best
    for i in range(n):
        root = i
        while parent[root] != root:
            root = parent[root]
        parent[i] = root
    return parent
