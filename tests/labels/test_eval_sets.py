"""The evaluation sets are what benchmarks/labels.py reports them to be."""

from __future__ import annotations

from tests.labels.data import EVAL_SETS, load


def test_sets_are_sizeable_split_and_independent() -> None:
    sets = {name: load(name) for name in EVAL_SETS}
    heldout = [s for s in sets.values() if s.role == "heldout"]
    assert any(s.source != "wordnet" for s in heldout), "a held-out set owes nothing to WordNet"
    assert {s.source for s in sets.values()} >= {"hand-written", "wordnet"}
    for evaluation in sets.values():
        groups = {group for _, group, _ in evaluation.replies}
        assert len(evaluation.replies) >= 150 and len(groups) >= 30, evaluation.name
        kinds = {kind for *_, kind in evaluation.replies}
        assert {"typo", "filler", "synonym", "inflection"} <= kinds, evaluation.name
    # The WordNet sets share no group (they are split by synset).
    train = {g for _, g, _ in sets["wordnet-train"].replies}
    assert not train & {g for _, g, _ in sets["wordnet-heldout"].replies}
