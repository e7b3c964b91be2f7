"""The agreement key of a label: case folding, edge punctuation and one leading article."""

from __future__ import annotations

import pytest

from engine.labels.agreement import normalize_label


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Straße", "strasse"),  # full case folding, not lower()
        ("STRASSE", "strasse"),
        ("__cat__", "cat"),  # underscores count as edge punctuation
        ("¡¡Stripes!!", "stripes"),
        ("a the cat", "the cat"),  # one leading article only
        ("The  Stripes!", "stripes"),
        ("the", "the"),  # an article alone stays
        ("an apple", "apple"),
        ("Ｃａｔ", "cat"),  # NFKC
    ],
)
def test_normalize_label(raw: str, key: str) -> None:
    assert normalize_label(raw) == key
