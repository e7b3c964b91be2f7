"""The trust spread shown in /stats and the report: players per fifth of [0, 1]."""

from __future__ import annotations

import pytest

from storage.crowd_quality import trust_bins


def test_trust_bins_count_players_per_fifth_with_edges_opening_the_upper_bin() -> None:
    # 0.2 and 0.6 open their bins, 1.0 closes the last one; values outside [0, 1] go to the ends.
    values = [0.0, 0.1, -0.3, 0.2, 0.399, 0.55, 0.6, 0.99, 1.0, 1.7]
    bins = trust_bins(values)
    assert [b["players"] for b in bins] == [3, 2, 1, 1, 3]
    assert [b["low"] for b in bins] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert [b["high"] for b in bins] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert [b["players"] for b in trust_bins([])] == [0, 0, 0, 0, 0]
