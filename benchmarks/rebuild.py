"""Rebuild benchmark: a synthetic crowd, a full rebuild in a cold process, then an incremental one.

    .venv/bin/python benchmarks/rebuild.py                 # 100,000 answers, 10,000 phrases
    .venv/bin/python benchmarks/rebuild.py --answers 10000 --phrases 2000   # a quick look

The collection (`testkit.collection.seed_collection`): 20 classes, 10 images per class, the nine
default layers of torchvision's EfficientNet-B0 (maps at each layer's own side), 4 clusters per
layer. The classifier is real and loadable without a download: EfficientNet-B0 with seeded random
weights saved to a local weights file (WEIGHTS), so the TCAV stage loads it and runs its batched
hooked pass over the images; MIN_CONCEPT_EXAMPLES is 3 (`--min-concept-examples`) so that, with 10
images per class, top concepts reach the network. The crowd: 2,000 players with trusts between
0.3 and 0.95; about two labels per play. Each class has its own 500 phrases ("adjective noun", 25
nouns × 20 adjectives, unique across classes), drawn with a Zipf-like frequency and typed in
crowd-like variants (plural, capitals, "something like a …", "… on the left", the class name), so
cleaning, grouping and merging all have work to do.

The full rebuild runs in a fresh process (imports and model loading included), on a database that
has never embedded anything. The same process then receives 1,000 new answers over 2 classes and
rebuilds incrementally. Figures: wall times, stage breakdown, phrases embedded per second, the
TCAV stage (seconds, per image passed, share of the rebuild), and the peak resident memory summed
over the rebuild process and its child processes (sampled with psutil every 0.1 s), with the load
average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
    from benchmarks.memory import record_tcav_stages

    if args.tcav_batch:
        import engine.concept_tests

        engine.concept_tests.BATCH_SIZE = args.tcav_batch
    stages = record_tcav_stages()
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
    from benchmarks.rebuild_collection import new_answers

    added = new_answers(state, args.new_answers, pair)
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
                "rebuild_s": round(report.seconds, 2),
                "marked": report.concept_tests,
                "tested": sum(1 for row in stage.result.rows if row["score"] is not None),
                "images": stage.result.images,
                "pooled": stage.result.pooled,
                "rss_before_mib": stage.rss_before_mib,
                "rss_after_mib": stage.rss_after_mib,
                "stage_raised_peak_mib": stage.raised_peak_mib,
                "skipped": report.concept_tests_skipped,
            }
            for report, stage in zip((full, incremental), stages, strict=True)
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
    parser.add_argument(
        "--min-concept-examples", type=int, default=3,
        help="MIN_CONCEPT_EXAMPLES of the rebuild (default 3, so concepts reach the network)",
    )  # fmt: skip
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--no-record", action="store_true", help="write no JSON record")
    parser.add_argument(
        "--tcav-batch", type=int, default=0,
        help="images per batch of the TCAV stage's pass (default: the stage's own)",
    )  # fmt: skip
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--state", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return 0

    data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="inv-bench-"))).resolve() / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DATA_DIR=str(data_dir), INV_ENV_FILE="", PYTHONPATH=str(REPO))
    env["MIN_CONCEPT_EXAMPLES"] = str(args.min_concept_examples)
    env.pop("DATABASE_URL", None)
    os.environ.update({k: env[k] for k in ("DATA_DIR", "INV_ENV_FILE")})
    sys.path.insert(0, str(REPO))
    from inv.settings import get_settings
    from storage.db import use_database

    use_database(get_settings().sqlalchemy_url)
    from benchmarks.memory import TreeMemory
    from benchmarks.rebuild_collection import generate
    from benchmarks.record import Record

    record = Record("rebuild")
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    state = generate(data_dir, args.answers, args.phrases, args.classes)
    generated = time.perf_counter() - t0
    state_file = data_dir / "bench-state.json"
    state_file.write_text(json.dumps(state))
    env["WEIGHTS"] = state["weights"]
    print(f"generated {args.answers:,} answers in {generated:.1f} s under {data_dir}", flush=True)

    t0 = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, __file__, "--worker", "--state", str(state_file),
         "--new-answers", str(args.new_answers), "--tcav-batch", str(args.tcav_batch)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    tree = TreeMemory(worker.pid)
    tree.start()
    stdout, stderr = worker.communicate()
    tree.stop()
    process_wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    if worker.returncode != 0:
        print(stderr[-4000:], file=sys.stderr)
        return 1
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_tree_rss_mib"] = round(tree.peak_bytes / 2**20, 1)
    result["peak_tree_processes"] = tree.peak_processes
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
                f"{tcav['seconds']:.2f} s = {tcav['seconds'] / tcav['rebuild_s']:.1%} of the "
                f"rebuild; {tcav['images']:,} images passed"
                + (f", {tcav['seconds'] / tcav['images']:.3f} s per image" if tcav["images"] else "")
                + f"; {tcav['tested']:,} concepts tested, {tcav['marked']:,} marked"
                + f"; {tcav['pooled']:,} cluster maps pooled (masked crops would pass each)"
                + (f" (network not asked: {tcav['skipped']})" if tcav["skipped"] else ""),
            )
            for kind, tcav in zip(("full", "incremental"), result["tcav"], strict=True)
        ),
        *(
            (
                f"  resident memory around it, {kind}",
                f"{tcav['rss_before_mib']:,.0f} MiB before, {tcav['rss_after_mib']:,.0f} MiB after; "
                f"it raised the process's peak by {tcav['stage_raised_peak_mib']:,.0f} MiB",
            )
            for kind, tcav in zip(("full", "incremental"), result["tcav"], strict=True)
        ),
        ("peak resident memory, rebuild process and its children (summed RSS, sampled)",
         f"{result['peak_tree_rss_mib']:,.0f} MiB ({result['peak_tree_processes']} processes at most)"),
        ("peak resident memory of the rebuild process alone (getrusage)",
         f"{result['peak_rss_mib']:,.0f} MiB"),
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
        (
            "peak_gb",
            result["peak_tree_rss_mib"] / 1024,
            "<= 2 GB",
            result["peak_tree_rss_mib"] <= 2048,
        ),
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
