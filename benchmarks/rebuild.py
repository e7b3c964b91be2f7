"""Rebuild benchmark: a synthetic crowd, a full rebuild in a cold process, then an incremental one.

    .venv/bin/python benchmarks/rebuild.py                 # 100,000 answers, 10,000 phrases
    .venv/bin/python benchmarks/rebuild.py --answers 10000 --phrases 2000   # a quick look

The crowd: 20 classes × 9 layers, 10 images per class, 4 clusters per layer; 2,000 players with
trusts between 0.3 and 0.95; about two labels per play. Each class has its own 500 phrases
("adjective noun", 25 nouns × 20 adjectives, unique across classes), drawn with a Zipf-like
frequency and typed in crowd-like variants (plural, capitals, "something like a …", "… on the
left", the class name), so cleaning, grouping and merging all have work to do.

The full rebuild runs in a fresh process (imports and model loading included), on a database that
has never embedded anything. The same process then receives 1,000 new answers over 2 classes and
rebuilds incrementally. Figures: wall times, stage breakdown, phrases embedded per second, peak
resident memory of that process, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

NOUNS = """
wheel tire door window roof ear eye nose tail paw leg wing beak feather fur whisker tooth
collar handle screen keyboard button lamp mirror seat pedal chain bell horn hood trunk
branch leaf flower petal stem root bark grass sky cloud water wave sand rock stone
road fence wall brick tile floor carpet table chair bottle cup plate bowl spoon fork knife
string knob dial lever pipe cable wire strap buckle zipper pocket sleeve hat shoe boot glove
scarf belt badge label sign letter arrow circle stripe spot dot line edge corner
frame panel grill bumper antenna mast sail rope anchor hull deck cabin chimney tower
dome arch column stair railing gate bridge tunnel track rail engine motor propeller blade
fin scale shell claw antler mane hoof snout muzzle jaw lip tongue cheek forehead neck
shoulder belly chest hip knee elbow finger thumb nail hair beard eyebrow eyelash
""".split()  # noqa: SIM905 - a word list reads better as text
ADJECTIVES = """
red blue green yellow black white grey brown orange pink purple golden silver dark bright
shiny dull rough smooth soft hard round square long short thin thick tall small big tiny
huge wet dry dirty clean old new broken rusty wooden metal plastic glass furry fluffy
striped spotted curly straight sharp blunt flat curved pointy narrow wide heavy muddy sandy
rocky grassy snowy icy frozen hot cold warm cracked painted polished glossy faded torn bent
twisted folded hairy scaly leafy transparent wavy jagged sparkly glowing hollow solid fuzzy
wrinkled spiky bumpy tangled blurry colorful vivid pale
""".split()  # noqa: SIM905
CLASSES = [
    "tench", "springer", "cassette", "chainsaw", "church", "trumpet", "truck", "pump",
    "golf ball", "parachute", "tabby", "beagle", "goldfish", "pelican", "tractor", "lighthouse",
    "violin", "umbrella", "volcano", "strawberry",
]  # fmt: skip
LAYERS = [f"features.{i}" for i in (11, 13, 15, 18, 20, 22, 25, 27, 29)]
IMAGES_PER_CLASS = 10
CLUSTERS_PER_LAYER = 4
PARTICIPANTS = 2000


def _variant(rng: random.Random, adjective: str, noun: str, class_name: str) -> str:
    """How a player might type "adjective noun"."""
    roll = rng.random()
    if roll < 0.55:
        return f"{adjective} {noun}"
    if roll < 0.70:
        return f"{adjective} {noun}s"
    if roll < 0.78:
        return f"{adjective.capitalize()} {noun}"
    if roll < 0.86:
        return f"something like a {adjective} {noun}"
    if roll < 0.93:
        return f"{adjective} {noun} on the left"
    return f"the {class_name}'s {adjective} {noun}"


def _class_phrases(
    n_classes: int, per_class: int, rng: random.Random
) -> list[list[tuple[str, str]]]:
    """Per class, `per_class` (adjective, noun) pairs, no pair used by two classes."""
    nouns = sorted(set(NOUNS))
    adjectives = sorted(set(ADJECTIVES))
    free = {noun: list(adjectives) for noun in nouns}
    result = []
    per_noun = 20
    for _ in range(n_classes):
        pairs: list[tuple[str, str]] = []
        # Nouns with the most unused adjectives first, so that no pair is used twice.
        order = sorted(nouns, key=lambda n: (-len(free[n]), rng.random()))
        for noun in order:
            if len(pairs) >= per_class:
                break
            rng.shuffle(free[noun])
            take = min(per_noun, per_class - len(pairs), len(free[noun]))
            pairs.extend((free[noun].pop(), noun) for _ in range(take))
        result.append(pairs)
    return result


def generate(data_dir: Path, n_answers: int, n_phrases: int, n_classes: int, seed: int = 1) -> dict:
    """Insert the synthetic collection and crowd; returns what the incremental step needs."""
    import numpy as np
    from PIL import Image as PILImage
    from sqlalchemy import insert

    from engine.render import encode_map
    from storage.db import get_engine, session_scope
    from storage.migrate import upgrade
    from storage.models import Answer, Cluster, ExplainedLayer, Image, Model, Participant, Play

    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    engine = get_engine()
    upgrade(engine)
    classes = CLASSES[:n_classes]
    per_class = max(1, n_phrases // n_classes)
    phrases = _class_phrases(n_classes, per_class, rng)
    yy, xx = np.mgrid[0:14, 0:14]
    with session_scope(engine) as s:
        model = Model(
            name="vgg16-bench", weights_hash="b" * 16, num_classes=len(classes), classes=classes
        )
        s.add(model)
        s.flush()
        cluster_rows = []
        for c in range(n_classes):
            for n in range(IMAGES_PER_CLASS):
                crop = f"crops/{c}-{n}.jpg"
                (data_dir / "crops").mkdir(parents=True, exist_ok=True)
                # A smooth random scene with a little grain, compressible like a photo.
                low = nrng.uniform(0, 255, size=(8, 8, 3)).astype(np.uint8)
                scene = np.asarray(PILImage.fromarray(low).resize((224, 224), PILImage.BICUBIC))
                grain = nrng.normal(0, 6, size=scene.shape)
                pixels = np.clip(scene + grain, 0, 255).astype(np.uint8)
                PILImage.fromarray(pixels).save(data_dir / crop, quality=85)
                image = Image(
                    model_id=model.id, sha256=f"{c:05d}{n:05d}".ljust(64, "0"), config_key="bench",
                    source_path=f"/bench/{c}-{n}.jpg", crop_file=crop, width=224, height=224,
                    true_class=c, predicted_class=c, predicted_prob=0.9, explained_class=c,
                )  # fmt: skip
                s.add(image)
                s.flush()
                for depth, layer_name in enumerate(LAYERS):
                    layer = ExplainedLayer(
                        image_id=image.id, layer_name=layer_name, depth=depth, channels=512,
                        kept_channels=40, height=14, width=14, kept_weight=90.0,
                    )  # fmt: skip
                    s.add(layer)
                    s.flush()
                    for rank in range(CLUSTERS_PER_LAYER):
                        cy, cx = nrng.uniform(0, 14, size=2)
                        heat = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)
                        map_file = f"maps/{image.id}-{depth}-{rank}.png"
                        (data_dir / "maps").mkdir(parents=True, exist_ok=True)
                        (data_dir / map_file).write_bytes(encode_map(heat / heat.max()))
                        cluster_rows.append(
                            dict(
                                layer_id=layer.id, image_id=image.id, class_index=c,
                                layer_name=layer_name, depth=depth, rank=rank,
                                weight=40.0 / (rank + 1), n_maps=8 - rank, channels=[rank],
                                map_file=map_file,
                            )
                        )  # fmt: skip
        s.execute(insert(Cluster.__table__), cluster_rows)
        participants = [
            dict(telegram_id=10_000 + i, pseudonym=f"bench{i}", trust=rng.uniform(0.3, 0.95))
            for i in range(PARTICIPANTS)
        ]
        s.execute(insert(Participant.__table__), participants)
    with engine.connect() as conn:
        from sqlalchemy import select

        clusters = conn.execute(
            select(Cluster.__table__.c.id, Cluster.__table__.c.class_index)
        ).all()
        people = conn.execute(select(Participant.__table__.c.id)).scalars().all()
    by_class: dict[int, list[int]] = {}
    for cid, c in clusters:
        by_class.setdefault(c, []).append(cid)
    # Each cluster "shows" a few of its class's nouns; players mostly name those.
    nouns_of: dict[int, list[int]] = {}
    for cid, c in clusters:
        nouns_of[cid] = rng.sample(range(len(phrases[c])), min(6, len(phrases[c])))
    zipf = [1.0 / (i + 1) ** 0.9 for i in range(per_class)]
    sizes = [len(p) for p in phrases]

    def one_play(pid: int, cid: int, c: int, labels: int) -> tuple[dict, list[dict]]:
        hint = rng.choice([0, 0, 1, 1, 2, 3, 4, 5])
        correct = rng.random() < 0.8
        outcome = "win" if correct else ("lose" if rng.random() < 0.85 else "resign")
        play = dict(
            participant_id=pid, cluster_id=cid, stage="done", outcome=outcome, hint_level=hint,
            guessed_class=c if correct else (c + 1) % n_classes, correct=correct,
            guess_points=round(100 * (1 - 0.1 * hint)) if correct else 0, options=[],
        )  # fmt: skip
        answers = []
        for _ in range(labels):
            if rng.random() < 0.7:
                index = rng.choice(nouns_of[cid])
            else:
                index = rng.choices(range(sizes[c]), weights=zipf[: sizes[c]])[0]
            adjective, noun = phrases[c][index]
            label = _variant(rng, adjective, noun, classes[c])
            answers.append(
                dict(raw_message=label, label=label, normalized=label.lower(), hint_level=hint,
                     bonus_points=0, accepted=True)
            )  # fmt: skip
        return play, answers

    def insert_plays(items: list[tuple[dict, list[dict]]]) -> None:
        with session_scope(engine) as s:
            for start in range(0, len(items), 5000):
                chunk = items[start : start + 5000]
                ids = s.execute(
                    insert(Play.__table__).returning(Play.__table__.c.id), [p for p, _ in chunk],
                    ).scalars().all()  # fmt: skip
                rows = [
                    dict(a, play_id=pid)
                    for pid, (_, answers) in zip(ids, chunk, strict=True)
                    for a in answers
                ]
                s.execute(insert(Answer.__table__), rows)

    taken: set[tuple[int, int]] = set()
    items = []
    total = 0
    while total < n_answers:
        c = rng.randrange(n_classes)
        cid = rng.choice(by_class[c])
        pid = rng.choice(people)
        if (pid, cid) in taken:
            continue
        taken.add((pid, cid))
        labels = min(rng.choice([1, 2, 2, 3]), n_answers - total)
        items.append(one_play(pid, cid, c, labels))
        total += labels
    insert_plays(items)
    return {"by_class": by_class, "people": people, "taken": sorted(taken), "seed": seed}


def _new_answers(state: dict, n_answers: int, classes: tuple[int, int]) -> int:
    """`n_answers` new answers over two classes, from new plays (same phrase pools)."""
    from sqlalchemy import insert

    from storage.db import get_engine, session_scope
    from storage.models import Answer, Play

    rng = random.Random(state["seed"] + 99)
    taken = {tuple(t) for t in state["taken"]}
    engine = get_engine()
    total = plays = 0
    with session_scope(engine) as s:
        while total < n_answers:
            c = classes[plays % 2]
            cid = rng.choice(state["by_class"][c])
            pid = rng.choice(state["people"])
            if (pid, cid) in taken:
                continue
            taken.add((pid, cid))
            play_id = s.execute(
                insert(Play.__table__).returning(Play.__table__.c.id),
                [dict(participant_id=pid, cluster_id=cid, stage="done", outcome="win", hint_level=1,
                      guessed_class=c, correct=True, guess_points=90, options=[])],
            ).scalar_one()  # fmt: skip
            labels = [f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}" for _ in range(2)]
            s.execute(
                insert(Answer.__table__),
                [dict(play_id=play_id, raw_message=", ".join(labels), label=label,
                      normalized=label, hint_level=1, bonus_points=0, accepted=True)
                 for label in labels],
            )  # fmt: skip
            total += len(labels)
            plays += 1
    return total


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all its threads (wall time depends on others'
    load of the shared cores; this does not)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _reference_encoding() -> tuple[float, int]:
    """Reference E: encoding, with the default Sentence-BERT model and an empty cache, of the
    phrases the full rebuild embedded (the model is loaded already, as in the rebuild's figure)."""
    from sqlalchemy import select

    from engine.labels.embed import Embedder, resolve_model
    from inv.settings import get_settings
    from storage.db import get_engine
    from storage.models import PhraseEmbedding

    model_name = get_settings().sbert_model
    table = PhraseEmbedding.__table__
    with get_engine().connect() as conn:
        phrases = list(
            conn.execute(
                select(table.c.phrase).where(table.c.model_name == resolve_model(model_name)[0])
            ).scalars()
        )
    embedder = Embedder(model_name, store=None)
    embedder.vectors(phrases)
    return embedder.encode_seconds, len(phrases)


def _worker(args: argparse.Namespace) -> None:
    """Runs in the fresh process: the full rebuild, then the incremental one."""
    started = time.perf_counter()
    from inv.settings import get_settings
    from inv.wiring import rebuild_function
    from storage.db import use_database

    settings = get_settings()
    use_database(settings.sqlalchemy_url)
    rebuild = rebuild_function(settings)
    full = rebuild(full=True)
    full_done = time.perf_counter()
    full_cpu = _cpu_seconds()
    assert full.ok, full.error
    reference_seconds, reference_phrases = _reference_encoding()
    state = json.loads(Path(args.state).read_text())
    state["by_class"] = {int(k): v for k, v in state["by_class"].items()}
    n_classes = len(state["by_class"])
    pair = (3, 11) if n_classes > 11 else (0, min(1, n_classes - 1))
    added = _new_answers(state, args.new_answers, pair)
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    incremental = rebuild()
    t1, cpu1 = time.perf_counter(), _cpu_seconds()
    assert incremental.ok, incremental.error

    from sqlalchemy import func, select

    from storage.db import get_engine
    from storage.models import Answer

    answers = Answer.__table__
    with get_engine().connect() as conn:
        distinct = conn.execute(
            select(func.count(func.distinct(answers.c.cleaned))).where(answers.c.cleaned != "")
        ).scalar()
        distinct_raw = conn.execute(select(func.count(func.distinct(answers.c.label)))).scalar()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "full_in_process_s": round(full_done - started, 2),
        "full_cpu_s": round(full_cpu, 1),
        "incremental_cpu_s": round(cpu1 - cpu0, 2),
        "full_stages_s": full.timings,
        "full_summary": full.summary(),
        "embedded": full.embedded,
        "embed_seconds": round(full.embed_seconds, 2),
        "incremental_s": round(t1 - t0, 2),
        "incremental_stages_s": incremental.timings,
        "incremental_summary": incremental.summary(),
        "incremental_answers_added": added,
        "incremental_classes": incremental.classes_rebuilt,
        "distinct_cleaned_phrases": distinct,
        "distinct_raw_labels": distinct_raw,
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "tcav": [
            {
                "seconds": report.timings.get("tcav", 0.0),
                "marked": report.concept_tests,
                "skipped": report.concept_tests_skipped,
            }
            for report in (full, incremental)
        ],
        "reference_E_s": round(reference_seconds, 2),
        "reference_E_phrases": reference_phrases,
    }
    print(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--phrases", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--new-answers", type=int, default=1_000)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--no-record", action="store_true", help="write no JSON record")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--state", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return 0

    data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="inv-bench-"))).resolve() / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DATA_DIR=str(data_dir), INV_ENV_FILE="", PYTHONPATH=str(REPO))
    env.pop("DATABASE_URL", None)
    os.environ.update({k: env[k] for k in ("DATA_DIR", "INV_ENV_FILE")})
    sys.path.insert(0, str(REPO))
    from inv.settings import get_settings
    from storage.db import use_database

    use_database(get_settings().sqlalchemy_url)
    from benchmarks.record import Record

    record = Record("rebuild")
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    state = generate(data_dir, args.answers, args.phrases, args.classes)
    generated = time.perf_counter() - t0
    state_file = data_dir / "bench-state.json"
    state_file.write_text(json.dumps(state))
    print(f"generated {args.answers:,} answers in {generated:.1f} s under {data_dir}", flush=True)

    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--worker", "--state", str(state_file),
         "--new-answers", str(args.new_answers)],
        env=env, capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    process_wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    if out.returncode != 0:
        print(out.stderr[-4000:], file=sys.stderr)
        return 1
    result = json.loads(out.stdout.strip().splitlines()[-1])
    seconds = result["embed_seconds"]
    phrases_per_s = result["embedded"] / seconds if seconds else 0.0
    rows = [
        ("answers / distinct raw labels / distinct cleaned phrases",
         f"{args.answers:,} / {result['distinct_raw_labels']:,} / {result['distinct_cleaned_phrases']:,}"),
        ("full rebuild, cold process (start to done, models loaded)", f"{result['full_in_process_s']:.1f} s"),
        ("  whole worker process (full, inserts, incremental, exit)", f"{process_wall:.1f} s"),
        ("  CPU time (user + system, all threads)", f"{result['full_cpu_s']:.1f} s"),
        ("  stages", ", ".join(f"{k} {v:.1f}" for k, v in result["full_stages_s"].items())),
        ("  summary", result["full_summary"]),
        ("phrases embedded per second (Sentence-BERT encoding)",
         f"{phrases_per_s:,.0f} /s ({result['embedded']:,} phrases and words in {seconds:.1f} s of encoding)"),
        (f"incremental rebuild, warm ({result['incremental_answers_added']:,} new answers, 2 classes)",
         f"{result['incremental_s']:.2f} s"),
        ("  CPU time (user + system, all threads)", f"{result['incremental_cpu_s']:.2f} s"),
        ("  stages", ", ".join(f"{k} {v:.2f}" for k, v in result["incremental_stages_s"].items())),
        ("  summary", result["incremental_summary"]),
        *(
            (
                f"TCAV stage, {kind} rebuild",
                f"{tcav['seconds']:.2f} s, {tcav['marked']:,} concepts marked"
                + (f" (network not asked: {tcav['skipped']})" if tcav["skipped"] else ""),
            )
            for kind, tcav in zip(("full", "incremental"), result["tcav"], strict=True)
        ),
        ("peak resident memory of the rebuild process", f"{result['peak_rss_mib']:,.0f} MiB"),
        ("load average before / after (1, 5, 15 min)",
         f"{' '.join(f'{x:.2f}' for x in load_before)} / {' '.join(f'{x:.2f}' for x in load_after)}"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    # Targets as ratios to E, the encoding of the same phrases measured in this run, so that
    # they mean the same on a fast machine and on a loaded one.
    reference = result["reference_E_s"]
    full_vs_e = result["full_in_process_s"] / reference if reference else float("inf")
    incremental_share = result["incremental_s"] / result["full_in_process_s"]
    switch = result["incremental_stages_s"].get("switch", 0.0)
    print(
        f"reference E: {result['reference_E_phrases']:,} phrases encoded with the default "
        f"Sentence-BERT model and an empty cache in {reference:.2f} s"
    )
    record.reference("E", {"seconds": reference, "phrases": result["reference_E_phrases"]})
    record.figures(result)
    checks = [
        ("full_vs_E", full_vs_e, "<= 2.5", full_vs_e <= 2.5),
        ("incremental_vs_full", incremental_share, "<= 0.05", incremental_share <= 0.05),
        ("incremental_switch_s", switch, "<= 0.5 s", switch <= 0.5),
        ("peak_gb", result["peak_rss_mib"] / 1024, "<= 2 GB", result["peak_rss_mib"] <= 2048),
    ]
    for name, value, target, ok in checks:
        record.ratio(name, value, target, ok)
    print(
        "targets: "
        + ", ".join(
            f"{name} {value:.3g} ({target}) {'met' if ok else 'MISSED'}"
            for name, value, target, ok in checks
        )
    )
    if not args.no_record:
        print(f"record: {record.write()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
