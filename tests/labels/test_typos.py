"""Typo folding: which phrase misspells which."""

from __future__ import annotations

import pytest

from engine.labels.typos import is_one_edit, typo_parents


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("neck", "nek", True),  # deletion
        ("seat", "seet", True),  # substitution
        ("branch", "brnach", True),  # neighbours swapped
        ("hair", "hiar", True),
        ("wheel", "wheels", True),  # insertion
        ("tail", "tale", False),  # two edits
        ("beak", "beak", False),  # equal is no typo
        ("sky", "skyyy", False),
    ],
)
def test_one_edit(a: str, b: str, expected: bool) -> None:
    assert is_one_edit(a, b) is expected
    assert is_one_edit(b, a) is expected


def test_rare_misspelling_points_at_frequent_word_and_chains_resolve() -> None:
    phrases = ["branch", "brnach", "brnaches", "cat", "cap", "blue sky", "blue skyy"]
    freq = [6, 2, 1, 5, 1, 3, 1]
    parents = typo_parents(phrases, freq)
    assert phrases[parents[1]] == "branch"
    assert phrases[parents[2]] == "brnaches"  # two edits from branch: stays itself
    assert parents[4] == 4  # short words are never typos of each other
    assert parents[6] == 6  # only single words are folded


def test_equally_frequent_words_are_both_kept() -> None:
    phrases = ["horse", "house"]
    assert typo_parents(phrases, [3, 3]) == [0, 1]
    # A word given at least twice as often absorbs its one-edit neighbour.
    assert typo_parents(phrases, [6, 3]) == [0, 0]
