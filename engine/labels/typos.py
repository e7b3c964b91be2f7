"""Correct misspellings in crowd replies before synonyms are grouped.

Sentence-BERT places a typo ("neck" → "nek", "chain" → "chian") far from its word, so without this
step a typo becomes a concept of its own. Each token is checked against a word-frequency list
(wordfreq's English list) and the crowd's own words: a token that is neither a known word nor
typed often by the crowd is replaced by the nearest known word, by Damerau–Levenshtein distance
(a swap of neighbours is one edit, as are an insertion, deletion and substitution). A known word
is never turned into another ("house" stays, however many players typed "horse"), and short
tokens are left alone: "cat" and "cap" are different words, not typos.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

MIN_TYPO_LENGTH = 4  # shorter tokens are never corrected

# wordfreq's Zipf scale: log10 of occurrences per billion words (3 = once per million words).
# Word lists hold misspellings too ("watter" 1.7, "chian" 1.9, "eyez" 2.0), so a token is taken
# as a known word only from KNOWN_ZIPF on; below it, it may be corrected, and only into a word of
# at least CANDIDATE_ZIPF that is at least MIN_ZIPF_GAIN more frequent (ten times per point).
KNOWN_ZIPF = 2.5
CANDIDATE_ZIPF = 3.0
MIN_ZIPF_GAIN = 1.0
# A token the crowd itself types this often is a word of its own, whatever the word list says.
CROWD_KNOWN_COUNT = 3.0
# Two edits are allowed from this length on; shorter words two edits apart are other words.
TWO_EDIT_LENGTH = 7


def damerau_levenshtein(a: str, b: str) -> int:
    """Edits between a and b: insert, delete, substitute, swap two neighbours (each costs 1)."""
    la, lb = len(a), len(b)
    previous2: list[int] = []
    previous = list(range(lb + 1))
    for i in range(1, la + 1):
        current = [i] + [0] * lb
        for j in range(1, lb + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, previous2[j - 2] + 1)
            current[j] = best
        previous2, previous = previous, current
    return previous[lb]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


class DeletionIndex:
    """Words found by symmetric deletion, to look up near spellings without comparing all pairs.

    A word within two edits of a token shares a string with it once up to two letters are
    deleted from the token and up to one from the word (this misses only some two-edit pairs,
    such as two substitutions). Every candidate is then checked with the exact distance.
    """

    def __init__(self, words: Iterable[str]) -> None:
        self._by_deletion: dict[str, list[str]] = {}
        for word in words:
            for variant in _deletes(word) | {word}:
                self._by_deletion.setdefault(variant, []).append(word)

    def near(self, token: str, max_edits: int) -> list[tuple[int, str]]:
        """(edits, word) for each indexed word other than token within max_edits (1 or 2)."""
        variants = {token} | _deletes(token)
        if max_edits >= 2:
            variants |= {d for v in _deletes(token) for d in _deletes(v)}
        seen: set[str] = set()
        found: list[tuple[int, str]] = []
        for variant in variants:
            for word in self._by_deletion.get(variant, ()):
                if word in seen or word == token:
                    continue
                seen.add(word)
                edits = damerau_levenshtein(token, word)
                if edits <= max_edits:
                    found.append((edits, word))
        return found


class Vocabulary:
    """English words with their Zipf frequency; candidates for corrections are indexed."""

    def __init__(self, zipf: dict[str, float]) -> None:
        self._zipf = zipf
        self._index = DeletionIndex(
            w for w, z in zipf.items() if z >= CANDIDATE_ZIPF and len(w) >= MIN_TYPO_LENGTH - 1
        )

    def zipf(self, word: str) -> float:
        return self._zipf.get(word, 0.0)

    def near(self, token: str, max_edits: int) -> list[tuple[int, str]]:
        """(edits, word) for each candidate word within max_edits (1 or 2) of token."""
        return self._index.near(token, max_edits)


_english: Vocabulary | None = None


def english_vocabulary() -> Vocabulary:
    """wordfreq's English list ("best" sources), plain lower-case words only; built once."""
    global _english
    if _english is None:
        from wordfreq import get_frequency_dict

        zipf = {
            word: math.log10(freq * 1e9)
            for word, freq in get_frequency_dict("en", wordlist="best").items()
            if word.isascii() and word.isalpha()
        }
        _english = Vocabulary(zipf)
    return _english


def corrections(
    counts: dict[str, float],
    vocabulary: Vocabulary,
    lemma: Callable[[str], str],
) -> dict[str, str]:
    """For each misspelt token of the crowd's `counts` (token → how often typed), its correction.

    Known words (in the word list from KNOWN_ZIPF on, or typed CROWD_KNOWN_COUNT times) are never
    corrected. Candidates are the crowd's known tokens and the word list's words within one edit
    (two for long tokens). The crowd's own words come first (players describe the same picture:
    "chesses" is "chess" there, not "cheeses"), then fewest edits, then the crowd's commonest,
    then the word list's.
    A correction is lemmatised, so "pawss" → "paws" → "paw" joins the crowd's "paw".
    """
    known = {
        t: c
        for t, c in counts.items()
        if c >= CROWD_KNOWN_COUNT or vocabulary.zipf(t) >= KNOWN_ZIPF
    }
    crowd = DeletionIndex(w for w in known if " " not in w)
    fixed: dict[str, str] = {}
    for token in counts:
        if token in known or len(token) < MIN_TYPO_LENGTH or not token.isascii():
            continue
        if not token.isalpha():
            continue
        max_edits = 2 if len(token) >= TWO_EDIT_LENGTH else 1
        floor = vocabulary.zipf(token) + MIN_ZIPF_GAIN
        options: list[tuple[bool, int, float, float, str]] = []
        for edits, word in vocabulary.near(token, max_edits):
            if vocabulary.zipf(word) >= floor:
                base = lemma(word)
                count = known.get(base, 0.0)
                options.append((count == 0, edits, -count, -vocabulary.zipf(word), base))
        for edits, word in crowd.near(token, max_edits):
            options.append((False, edits, -known[word], -vocabulary.zipf(word), word))
        if options:
            fixed[token] = min(options)[-1]
    return fixed
