"""A fast demo (few photos, few players) runs the whole loop and leaves a consistent report."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from inv.demo.audit import audit_export
from inv.demo.players import CARELESS, COPIER, HONEST, SPAMMER, make_profiles
from inv.demo.run import DemoOptions, DemoResult, run_demo
from inv.demo.vocabulary import NOISE, VOCABULARY
from inv.settings import Settings
from storage.db import dispose_engines, session_scope, use_database
from storage.models import Answer, Cluster, Concept, GlobalExplanation, Image, Participant, Play

ARTIFACTS = Path(
    os.environ.get(
        "INV_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
    )
)


# Small enough for CI, large enough that the default crowd (a spammer, a copy-paste pair and a
# careless player among them) meets on clusters.
PLAYERS, CHALLENGES, PLAYS_PER_CHALLENGE = 10, 8, 5
SEED = 2


def fast_demo(out: Path, seed: int) -> DemoResult:
    """The demo at this module's size: few photos, players and challenges, no progress bars."""
    return run_demo(
        DemoOptions(
            out=out,
            seed=seed,
            players=PLAYERS,
            challenges=CHALLENGES,
            plays_per_challenge=PLAYS_PER_CHALLENGE,
            images=3,
            progress=False,
        ),
        Settings(_env_file=None),  # no developer .env leaks into the run
    )


def read_export(path: Path) -> dict[str, bytes]:
    """Every file of an export zip, by its name in the zip."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One fast demo run shared by the tests of this module."""
    out = tmp_path_factory.mktemp("demo") / "out"
    environment = dict(os.environ)
    try:
        result = fast_demo(out, SEED)
        # The demo redirects its own settings: no variable that was set changes, and no
        # settings variable appears. The libraries it loads first (torch, scikit-learn, Sentence-
        # BERT) add their own thread and cache variables on import, which redirects nothing.
        changed = sorted(k for k, v in environment.items() if os.environ.get(k) != v)
        settings_names = {name.upper() for name in Settings.model_fields}
        added = sorted((set(os.environ) - set(environment)) & settings_names)
        assert (changed, added) == ([], [])
        with session_scope(readonly=True) as session:
            counts = {
                "images": session.exec(select(func.count()).select_from(Image)).one(),
                "clusters": session.exec(select(func.count()).select_from(Cluster)).one(),
                "participants": session.exec(select(func.count()).select_from(Participant)).one(),
                "plays": session.exec(select(func.count()).select_from(Play)).one(),
                "answers": session.exec(select(func.count()).select_from(Answer)).one(),
                "concepts": session.exec(select(func.count()).select_from(Concept)).one(),
                "globals": session.exec(select(func.count()).select_from(GlobalExplanation)).one(),
            }
            telegram_ids = [str(p.telegram_id) for p in session.exec(select(Participant)).all()]
            top_concepts = [
                concept["name"]
                for explanation in session.exec(select(GlobalExplanation)).all()
                for concept in explanation.payload["concepts"]
            ]
        yield {
            "result": result,
            "counts": counts,
            "telegram_ids": telegram_ids,
            "top_concepts": top_concepts,
        }
    finally:
        use_database(None)
        dispose_engines()


def test_demo_fills_every_stage(demo: dict) -> None:
    counts = demo["counts"]
    assert counts["images"] == 3
    assert counts["clusters"] > 0
    assert counts["participants"] == PLAYERS
    assert 0 < counts["plays"] <= PLAYERS * CHALLENGES
    assert counts["answers"] > 0
    assert counts["concepts"] > 0
    assert counts["globals"] > 0
    timings = demo["result"].timings
    assert set(timings) >= {"precompute", "play", "rebuild", "report", "export"}


def test_noise_answers_never_reach_a_top_concept(demo: dict) -> None:
    assert demo["result"].summary["crowd"].noise_labels > 0
    assert demo["top_concepts"]
    assert not set(demo["top_concepts"]) & set(NOISE)
    audit = audit_export(demo["result"].export)
    assert audit.names > 0
    assert audit.noise == [] and audit.typos == []


@pytest.mark.parametrize("seed", [1, 3])
def test_no_noise_or_typo_in_any_top_five_of_other_seeds(
    seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With the demo run above, three seeds of the benchmark's noise check (benchmarks/crowd.py
    runs seeds 1-5 with 3, 9 and 15 photos and 30 players)."""
    out = tmp_path_factory.getbasetemp() / "noise-runs"  # shared: the photos are explained once
    result = fast_demo(out, seed)
    audit = audit_export(result.export)
    assert result.summary["crowd"].noise_labels > 0
    assert audit.noise == [] and audit.typos == [], audit


def test_the_simulated_crowd_is_hard_to_fool() -> None:
    """By default at least 10% of the players each are spammers, copy-paste pair members and
    careless players; a copier follows its partner and pastes its labels."""
    for count in (10, 30, 57):
        profiles = make_profiles(count, random.Random(count))
        kinds = Counter(p.kind for p in profiles)
        assert kinds[SPAMMER] >= 0.1 * count and kinds[CARELESS] >= 0.1 * count
        copiers = [p for p in profiles if p.kind == COPIER]
        assert 2 * len(copiers) >= 0.1 * count
        honest = {p.user_id for p in profiles if p.kind == HONEST}
        assert all(p.leader in honest for p in copiers)
        assert all(p.junk for p in profiles if p.kind == SPAMMER)


def test_report_matches_the_database(demo: dict) -> None:
    report = demo["result"].report.read_text(encoding="utf-8")
    counts = demo["counts"]
    assert f"{counts['images']} images" in report
    assert f"{counts['participants']} participants, {counts['plays']} plays" in report
    assert f"{counts['answers']} labels" in report
    assert report.count('<article class="image">') == counts["images"]
    # Self-contained: every picture is embedded, nothing is fetched.
    sources = re.findall(r'src="([^"]+)"', report)
    assert sources and all(src.startswith("data:image/") for src in sources)
    for telegram_id in demo["telegram_ids"]:
        assert telegram_id not in report


def test_report_says_plainly_which_concepts_the_network_test_could_not_decide(
    demo: dict,
) -> None:
    """About one photo per class: each top concept has a cluster or two, fewer than
    MIN_CONCEPT_EXAMPLES, so every mark is "too few examples" and no verdict is invented."""
    report = demo["result"].report.read_text(encoding="utf-8")
    marks = re.findall(
        r"<td>(too few examples|validated|not significant)( \([^<]*\))?</td>", report
    )
    assert len(marks) == len(demo["top_concepts"])
    assert {verdict for verdict, _ in marks} == {"too few examples"}
    assert "Network test of its concepts:" in report and "<td>validated" not in report
    rows = read_export(demo["result"].export)["concept_tests.csv"].decode().splitlines()
    assert len(rows) == 1 + len(demo["top_concepts"])


def test_export_matches_the_database(demo: dict) -> None:
    counts = demo["counts"]
    files = read_export(demo["result"].export)
    manifest = json.loads(files["manifest.json"])
    names = set(files)
    everything = b"".join(data for name, data in files.items() if not name.endswith(".png"))
    assert {"participants.csv", "plays.csv", "answers.csv", "concepts.csv"} <= names
    charts = [name for name in names if name.startswith("charts/")]
    # Every class with rising or fading concepts brings its layer-trend chart with its panels.
    explanations = json.loads(files["global_explanations.json"])["explanations"]
    with_trends = {e["class_index"] for e in explanations if e["payload"]["trend_chart_file"]}
    assert with_trends and sum("trend" in name for name in charts) == len(with_trends)
    assert all(
        bool(e["payload"]["trend_chart_file"])
        == bool(e["payload"]["rising"] or e["payload"]["falling"])
        for e in explanations
    )
    manifest_counts = manifest["counts"]
    for table in ("participants", "plays", "answers", "concepts"):
        assert manifest_counts[table] == counts[table], table
    for telegram_id in demo["telegram_ids"]:
        assert telegram_id.encode() not in everything


def test_vocabulary_covers_every_demo_photo() -> None:
    from inv.demo.images import available_photos

    names = {photo.name for photo in available_photos()}
    assert names <= set(VOCABULARY)
    for concepts in VOCABULARY.values():
        assert len(concepts) >= 5  # enough real concepts to fill a top 5 before any noise
    assert len(set(NOISE)) == len(NOISE) >= 50


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and os.environ.get("CI") != "true",
    reason="Debian chromium and chromium-driver are not installed",
)
def test_report_renders_in_headless_chromium(demo: dict) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1100,1600",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER or "chromedriver"), options=options)
    try:
        driver.get(demo["result"].report.resolve().as_uri())
        assert driver.title == "inv demo"
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]);"
        )
        assert images, "the report shows no picture"
        broken = [alt for alt, complete, width in images if not complete or width == 0]
        assert broken == []
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(ARTIFACTS / "report.png"))
    finally:
        driver.quit()


TIMESTAMPS = re.compile(
    r"inv-export-\d{8}t\d{6}|Written \d{4}-\d\d-\d\d \d\d:\d\d UTC|built \d{4}-\d\d-\d\d[ T][\d:.+-]+|\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:\+00:00)?"
)


IMAGE_FOLDER = re.compile(r'[^,"\s]*/images/')


def _without_timestamps(text: str) -> str:
    return TIMESTAMPS.sub("<time>", text)


def test_same_seed_gives_the_same_report_and_export(demo: dict, tmp_path: Path) -> None:
    try:
        again = fast_demo(tmp_path / "again", SEED)
    finally:
        use_database(None)
        dispose_engines()
    first = _without_timestamps(demo["result"].report.read_text(encoding="utf-8"))
    second = _without_timestamps(again.report.read_text(encoding="utf-8"))
    assert first == second
    a, b = read_export(demo["result"].export), read_export(again.export)
    assert sorted(a) == sorted(b)
    for name, left in a.items():
        if name == "manifest.json":
            continue  # carries the export's own time and file hashes of timestamped tables
        right = b[name]
        if name.endswith((".csv", ".json")):
            # Image rows keep the path each photo was read from, which names its run's folder.
            left_text = IMAGE_FOLDER.sub("<images>/", left.decode())
            right_text = IMAGE_FOLDER.sub("<images>/", right.decode())
            assert _without_timestamps(left_text) == _without_timestamps(right_text), name
        else:
            assert left == right, name
