"""The agreement key of a label: case folding, edge punctuation and one leading article."""

from __future__ import annotations

import pytest

from engine.labels.agreement import normalize_label, strip_edge_punctuation


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Straße", "strasse"),  # full case folding, not lower()
        ("STRASSE", "strasse"),
        ("__cat__", "cat"),  # underscores count as edge punctuation
        ("¡¡Stripes!!", "stripes"),
        ("a the cat", "cat"),  # leading articles until none is left
        ("A\r<b>", "b"),  # an article that hides punctuation: the key normalises to itself
        ("the , the cat", "cat"),
        ("The  Stripes!", "stripes"),
        ("the", "the"),  # an article alone stays
        ("an apple", "apple"),
        ("Ｃａｔ", "cat"),  # NFKC
    ],
)
def test_normalize_label(raw: str, key: str) -> None:
    assert normalize_label(raw) == key


@pytest.mark.parametrize(
    "raw", ["A\r<b>", "a the cat", "the , the cat", "a .", "a a", "¡¡Stripes!!"]
)
def test_a_key_normalises_to_itself(raw: str) -> None:
    key = normalize_label(raw)
    assert normalize_label(key) == key


@pytest.mark.parametrize(
    ("raw", "stripped"),
    [("¡¡a, b!!", "a, b"), ("__x__", "x"), ("-> x", "x"), ("x <-", "x"), ("...", ""), ("x", "x")],
)
def test_strip_edge_punctuation_strips_both_ends_and_keeps_the_middle(
    raw: str, stripped: str
) -> None:
    assert strip_edge_punctuation(raw) == stripped
