"""Typo correction: edit distances, and which tokens are corrected into what."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.labels.pipeline import LabelPipeline
from engine.labels.typos import (
    Vocabulary,
    corrections,
    damerau_levenshtein,
    english_vocabulary,
)


@pytest.mark.parametrize(
    ("a", "b", "edits"),
    [
        ("neck", "nek", 1),  # deletion
        ("seat", "seet", 1),  # substitution
        ("wheel", "wheels", 1),  # insertion
        ("chain", "chian", 1),  # a swap of neighbours is one edit
        ("tail", "tale", 2),
        ("handlebars", "hnadlebars", 1),
        ("kettle", "kettel", 1),
        ("paws", "pawss", 1),
        ("paw", "pawss", 2),
        ("ca", "abc", 3),  # restricted: a swapped pair is not edited again
        ("", "abc", 3),
        ("same", "same", 0),
    ],
)
def test_damerau_levenshtein(a: str, b: str, edits: int) -> None:
    assert damerau_levenshtein(a, b) == edits
    assert damerau_levenshtein(b, a) == edits


WORDS = Vocabulary(
    {"chain": 4.6, "chin": 4.0, "horse": 4.9, "house": 5.6, "water": 5.6, "paws": 3.4,
     "crosswalk": 2.6, "teh": 3.0, "kettle": 3.6}
)  # fmt: skip


def _lemma(word: str) -> str:
    return {"paws": "paw"}.get(word, word)


def test_out_of_vocabulary_tokens_are_corrected_even_when_rare_in_the_crowd() -> None:
    # "chian" typed as often as "chain": the old frequency rule kept it; the word list fixes it.
    fixed = corrections({"chian": 2, "chain": 2, "kettel": 1, "pawss": 1}, WORDS, _lemma)
    assert fixed == {"chian": "chain", "kettel": "kettle", "pawss": "paw"}


def test_known_words_are_never_corrected_into_others() -> None:
    # "house" is one edit from a crowd favourite, but a word; "teh" is on the list (above the
    # floor), "crosswalk" is rarer than the floor but typed three times by the crowd.
    counts = {"horse": 20, "house": 1, "teh": 1, "crosswalk": 3, "crosswlak": 1}
    assert corrections(counts, WORDS, _lemma) == {"crosswlak": "crosswalk"}


def test_crowd_words_win_ties_and_short_tokens_stay() -> None:
    # "chian" is one edit from both "chain" and "chin": the crowd's word wins.
    assert corrections({"chian": 1, "chin": 3}, WORDS, _lemma) == {"chian": "chin"}
    assert corrections({"chian": 1, "chain": 3}, WORDS, _lemma) == {"chian": "chain"}
    assert corrections({"wtr": 1}, WORDS, _lemma) == {}


def test_the_crowds_words_come_before_nearer_dictionary_words() -> None:
    words = Vocabulary({"cheeses": 3.5, "chess": 4.5})
    assert corrections({"chesses": 1, "chess": 3}, words, _lemma) == {"chesses": "chess"}


def test_misspellings_reach_the_corrector_as_typed(pipeline: LabelPipeline) -> None:
    # A lemmatiser would make "brae" of "braed"; kept as typed, it is corrected into "bread".
    assert pipeline.clean(["braed", "bread"]) == ["braed", "bread"]
    concepts = pipeline.group(["braed", "bread", "bread", "sky"])
    assert [c.members for c in concepts] == [[0, 1, 2], [3]]


def test_the_english_vocabulary_loads_from_the_package() -> None:
    english = english_vocabulary()
    assert english.zipf("building") > 4.0
    assert english.zipf("hnadlebars") == 0.0
    assert (1, "stove") in english.near("stoev", 1)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=64), st.integers(1, 5), max_size=30))
def test_any_crowd_tokens_get_word_corrections_or_none(counts: dict[str, int]) -> None:
    fixed = corrections(counts, WORDS, _lemma)
    assert set(fixed) <= set(counts)
    for token, word in fixed.items():
        assert word and word != token and token.isascii() and token.isalpha()


def test_many_distinct_tokens_are_corrected_in_near_linear_time() -> None:
    rng = random.Random(5)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(12)) for _ in range(3000)]
    words = [w for w in words if w[5] != w[6]]
    typos = {w[:5] + w[6] + w[5] + w[7:]: w for w in words}  # two neighbours swapped
    counts = {**dict.fromkeys(words, 3), **dict.fromkeys(typos, 1)}
    started = time.perf_counter()
    fixed = corrections(counts, WORDS, _lemma)
    elapsed = time.perf_counter() - started
    assert fixed == typos
    assert elapsed < 20.0  # comparing every typo with every word took minutes
