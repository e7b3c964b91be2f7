"""The whole inv loop, offline, on real photos: explain → play → rebuild → report and export.

The steps are the production ones: `engine.precompute.precompute` explains the photos, the real
bot `Application` serves challenges through the fake Bot API server that the tests use, simulated
players play them, `engine.rebuild.rebuild` builds concepts and global explanations, and the
report and export read the database. The demo keeps everything it writes under one folder
(`out/` by default) with its own database, so it never touches a real deployment's data.

This module imports neither torch nor telegram at import time; the engine steps are imported
when they run.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inv.settings import Settings

log = logging.getLogger(__name__)

# Human think times are played back this much faster; MIN_ANSWER_SECONDS is scaled alike.
DEFAULT_TIME_SCALE = 0.005
# A small crowd covers more of the collection when each challenge retires after three plays and
# only the heaviest clusters of each layer are served (the report still shows every cluster).
DEMO_PLAYS_PER_CHALLENGE = 3
DEMO_CLUSTERS_PER_LAYER = 2


@dataclass
class DemoOptions:
    out: Path = Path("out")
    seed: int = 7
    players: int = 30
    challenges: int = 20
    images: int | None = None
    model: str | None = None
    time_scale: float = DEFAULT_TIME_SCALE
    progress: bool = True
    plays_per_challenge: int = DEMO_PLAYS_PER_CHALLENGE
    # Retire a cluster early once a rebuild finds its top concept settled; rebuilds run during
    # play every `rebuild_every` plays (0: only once at the end, so nothing retires early).
    adaptive: bool = True
    rebuild_every: int = 0


@dataclass
class DemoResult:
    report: Path
    export: Path
    data_dir: Path
    timings: dict[str, float] = field(default_factory=dict)
    summary: dict[str, object] = field(default_factory=dict)


def _timed(timings: dict[str, float], name: str, step: Callable[[], object]) -> object:
    started = time.perf_counter()
    try:
        return step()
    finally:
        timings[name] = time.perf_counter() - started


def demo_settings(settings: Settings, options: DemoOptions) -> Settings:
    """`settings` pointed at the demo's own folder, with the answer-time floor at the time scale.

    The database starts empty each run (the precomputed files under DATA_DIR are reused by
    content), which is what makes a seeded demo reproducible.
    """
    from pydantic import SecretStr

    data_dir = (options.out / "data").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (data_dir / f"inv.db{suffix}").unlink(missing_ok=True)
    shutil.rmtree(data_dir / "charts", ignore_errors=True)
    update: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": f"sqlite:///{data_dir / 'inv.db'}",
        "min_answer_seconds": round(settings.min_answer_seconds * options.time_scale, 4),
        "pseudonym_secret": SecretStr(f"inv-demo-pseudonym-key-seed-{options.seed:012d}"),
        "plays_per_challenge": options.plays_per_challenge,
        "adaptive_retirement": options.adaptive,
        # The demo's players act at its time scale, far faster than people: no flood limit.
        "flood_rate": 0.0,
        "layers": None,
    }
    if options.model:
        update["model"] = options.model
        update["weights"] = None
    return settings.model_copy(update=update)


def prepare_images(folder: Path, limit: int | None) -> list[Path]:
    from inv.demo.images import gather_demo_images

    return gather_demo_images(folder, limit)


def explain(settings: Settings, images_dir: Path, *, progress: bool) -> object:
    """Precompute with the settings' MODEL (the demo's --model replaces it)."""
    from engine.precompute import precompute
    from inv.wiring import precompute_options

    report = precompute(images_dir, progress=progress, **precompute_options(settings))
    print(report.summary())
    return report


def servable_photos(settings: Settings) -> tuple[int, int]:
    """(photos the game may serve, photos explained): served photos are those whose network
    answer is confident (MIN_CONFIDENCE) or their known true class."""
    from sqlalchemy import func, select

    from bot.serving import servable_image
    from storage.db import session_scope
    from storage.models import Image

    with session_scope() as session:
        explained = session.execute(select(func.count()).select_from(Image)).scalar_one()
        served = session.execute(
            select(func.count()).select_from(Image).where(servable_image(settings.min_confidence))
        ).scalar_one()
    return int(served), int(explained)


def focus_crowd(clusters_per_layer: int = DEMO_CLUSTERS_PER_LAYER) -> int:
    """Serve only the `clusters_per_layer` heaviest clusters of each layer; returns how many."""
    from sqlalchemy import func, select, update

    from storage.db import session_scope
    from storage.models import Cluster

    with session_scope() as session:
        session.execute(update(Cluster).values(active=Cluster.rank < clusters_per_layer))
        return int(
            session.execute(select(func.count()).where(Cluster.active.is_(True))).scalar_one()
        )


def play(settings: Settings, options: DemoOptions) -> object:
    from bot.app import BotThread, Timeouts
    from inv.demo.players import CrowdSimulator
    from inv.wiring import bot_application
    from testkit.fake_telegram import FakeTelegram

    with FakeTelegram() as fake:
        app = bot_application(
            settings,
            token=fake.token,
            base_url=fake.base_url,
            base_file_url=fake.base_file_url,
            rate_limiter=False,
            timeouts=Timeouts(read=10.0, get_updates_read=5.0),
            jobs=False,
            concurrency=1,
            rng=random.Random(options.seed),
        )
        with BotThread(app, poll_timeout=1.0):
            crowd = CrowdSimulator(
                fake,
                seed=options.seed,
                players=options.players,
                challenges=options.challenges,
                time_scale=options.time_scale,
                rebuild_every=options.rebuild_every,
                rebuild=lambda: _rebuild_quietly(settings),
            )
            import sys

            from tqdm import tqdm

            with tqdm(
                total=options.players * options.challenges,
                desc="play",
                unit="turn",
                file=sys.stderr,
                disable=not options.progress,
            ) as bar:
                result = crowd.run(progress=bar.update)
            fake.settle()
        violations = list(fake.violations)
    if violations:
        raise RuntimeError(f"the bot sent requests the Bot API would refuse: {violations[:3]}")
    print(
        f"{result.players} players played {result.plays} challenges: {result.guesses} guesses "
        f"({result.correct} right), {result.resigns} resigns, {result.labels} labels typed "
        f"({result.noise_labels} noise) of which the bot stored {stored_answers()}, "
        f"in {result.seconds:.1f} s"
    )
    return result


def stored_answers() -> int:
    from sqlalchemy import func, select

    from storage.db import session_scope
    from storage.models import Answer

    with session_scope(readonly=True) as session:
        return int(session.execute(select(func.count()).select_from(Answer)).scalar_one())


def _rebuild_quietly(settings: Settings) -> None:
    """An incremental rebuild while the crowd plays, as the bot's scheduled job would run."""
    from inv.wiring import rebuild_function

    report = rebuild_function(settings)()
    if report.ran and not report.ok:
        raise RuntimeError(f"rebuild failed: {report.summary()}")


def rebuild_all(settings: Settings, progress: bool) -> object:
    import sys

    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from inv.wiring import rebuild_function

    bar = tqdm(total=100, unit="%", desc="rebuild", file=sys.stderr, disable=not progress)

    def advance(stage: str, fraction: float) -> None:
        bar.set_description(stage)
        bar.update(max(0, round(fraction * 100) - bar.n))

    try:
        with logging_redirect_tqdm():  # log lines above the bar, not through it
            report = rebuild_function(settings)(full=True, progress=advance)
    finally:
        bar.close()
    if not report.ran or not report.ok:
        raise RuntimeError(f"rebuild failed: {report.summary()}")
    print(report.summary())
    return report


def run_demo(options: DemoOptions, settings: Settings) -> DemoResult:
    """The demo under `options.out`, with `settings` redirected to its own folder and database."""
    from engine.report import build_report
    from storage import migrate
    from storage.db import get_engine, use_database
    from storage.export import write_export

    timings: dict[str, float] = {}
    settings = demo_settings(settings, options)
    data_dir = settings.data_dir
    use_database(settings.sqlalchemy_url)
    images_dir = options.out / "images"
    _timed(timings, "init", lambda: migrate.upgrade(get_engine()))
    images = _timed(timings, "images", lambda: prepare_images(images_dir, options.images))
    print(f"[1/5] {len(images)} demo photos in {images_dir}")  # type: ignore[arg-type]
    print("[2/5] explaining them layer by layer (INV)")
    _timed(timings, "precompute", lambda: explain(settings, images_dir, progress=options.progress))
    photos, explained = servable_photos(settings)
    print(f"      {photos} of {explained} photos are served (confident, or their true class)")
    served = focus_crowd()
    print(
        f"[3/5] {options.players} simulated players play up to {options.challenges} challenges "
        f"each, of the {served} the bot serves"
    )
    crowd = _timed(timings, "play", lambda: play(settings, options))
    print("[4/5] rebuilding concepts and global explanations")
    rebuild_report = _timed(timings, "rebuild", lambda: rebuild_all(settings, options.progress))
    print("[5/5] writing the report and the export")
    report_path = options.out / "report.html"
    export_path = options.out / "export.zip"
    _timed(
        timings,
        "report",
        lambda: build_report(
            report_path,
            title="inv demo",
            note=f"Offline demo, seed {options.seed}: {options.players} simulated players.",
            data_dir=data_dir,
        ),
    )
    export = _timed(
        timings,
        "export",
        lambda: write_export(
            export_path,
            data_dir=data_dir,
            parameters=settings.export_parameters(),
            with_images=True,
        ),
    )
    return DemoResult(
        report=report_path,
        export=export_path,
        data_dir=data_dir,
        timings=timings,
        summary={
            "images": len(images),  # type: ignore[arg-type]
            "crowd": crowd,
            "rebuild": rebuild_report,
            "export_counts": getattr(export, "counts", {}),
        },
    )
