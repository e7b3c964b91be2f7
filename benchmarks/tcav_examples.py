"""Concept examples for TCAV: activations pooled inside the cluster's map, or masked crops.

    .venv/bin/python benchmarks/tcav_examples.py            # seeds 0 1 2, both classes
    .venv/bin/python benchmarks/tcav_examples.py --seeds 0  # a quick look

Runs the synthetic proof of `tests/engine/test_tcav.py` (a hand-set network whose class is the
red bar's orientation; a green bar is present in every image and never a consistent reason) with
each extraction of the concept examples and counterexamples:

- map: the layer's activations of the whole crop, from the pass that also gives the gradients,
  averaged over positions weighted by the cluster's map (`engine.tcav.pool_in_map`);
- masked: the crop times the cluster's map (`engine.tcav.mask_crop`) passed through the network
  again, its activations averaged over positions (`engine.tcav_pass.mean_activations`).

Per seed and class: the TCAV score and Bonferroni-corrected p-value of the deciding concept (red
bar) and of the distractor (green bar), and the time of the extraction (network passes and
pooling) and of the whole test, wall and CPU. The methods alternate per case, so that a change of
the machine's load falls on both alike. Passing means: the red bar validated with TCAV >= 0.8,
the green bar not significant.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.tcav import NOT_SIGNIFICANT, VALIDATED, run_concept_tests  # noqa: E402
from tests.engine.test_tcav import EXTRACTIONS, HandSetNet, synthetic_case  # noqa: E402


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    load_before = os.getloadavg()
    model = HandSetNet()
    rows: list[tuple[str, int, int, float, float, float, float, float, float, float, bool]] = []
    for seed in args.seeds:
        for class_index in (0, 1):
            case = synthetic_case(seed, class_index)
            for method, extract in EXTRACTIONS.items():
                t0, c0 = time.perf_counter(), _cpu()
                concepts, counter, grads = extract(case, model)
                t1 = time.perf_counter()
                tests = run_concept_tests(concepts, counter, grads, min_examples=10, seed=seed)
                t2, c2 = time.perf_counter(), _cpu()
                red, green = tests["red bar"], tests["green bar"]
                ok = (
                    red.verdict == VALIDATED
                    and (red.score or 0.0) >= 0.8
                    and green.verdict == NOT_SIGNIFICANT
                )
                rows.append(
                    (method, seed, class_index, red.score or 0.0, red.p_value or 1.0,
                     green.score or 0.0, green.p_value or 1.0, t1 - t0, t2 - t0, c2 - c0, ok)
                )  # fmt: skip
    load_after = os.getloadavg()
    print(
        "| examples | seed | class | red bar TCAV | red bar p | green bar TCAV | green bar p "
        "| extraction s | test s (wall) | test s (CPU) | passes |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for method, seed, c, rs, rp, gs, gp, extraction, wall, cpu, ok in rows:
        print(
            f"| {method} | {seed} | {c} | {rs:.3f} | {rp:.2g} | {gs:.3f} | {gp:.2g} "
            f"| {extraction:.3f} | {wall:.2f} | {cpu:.2f} | {'yes' if ok else 'NO'} |"
        )
    print()
    print("| examples | cases passed | min red TCAV | max red p | min green p | mean extraction s "
          "| mean test s (wall) | mean test s (CPU) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for method in EXTRACTIONS:
        mine = [r for r in rows if r[0] == method]
        n = len(mine)
        print(
            f"| {method} | {sum(r[10] for r in mine)}/{n} | {min(r[3] for r in mine):.3f} "
            f"| {max(r[4] for r in mine):.2g} | {min(r[6] for r in mine):.2g} "
            f"| {sum(r[7] for r in mine) / n:.3f} | {sum(r[8] for r in mine) / n:.2f} "
            f"| {sum(r[9] for r in mine) / n:.2f} |"
        )
    print(
        "load average before / after (1, 5, 15 min): "
        f"{' '.join(f'{x:.2f}' for x in load_before)} / "
        f"{' '.join(f'{x:.2f}' for x in load_after)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
