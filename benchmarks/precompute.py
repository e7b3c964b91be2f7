"""Benchmark of INV local explanations: speed against the network pass, and agreement with t-SNE.

    .venv/bin/python benchmarks/precompute.py                 # CPU, the full run (~4 minutes)
    .venv/bin/python benchmarks/precompute.py --device cuda   # the GPU path and its overlap
    .venv/bin/python benchmarks/precompute.py --quick         # fewer repeats, no serial baselines

Timings (VGG16, random weights, 224 px, batch 8, the same inputs for every row), per image and as
a ratio to (a):
  (a) the network pass alone with the nine hooks: one forward, one backward to the hooked
      activations (torch.autograd.grad; no parameter gradients), channel weights and Grad-CAM,
      results on the CPU. This is the limit L.
  (b) INV with t-SNE (the paper's pipeline; 500 iterations, the engine's t-SNE setting), layers
      clustered in parallel threads.
  (b') the same with sklearn's 1000 iterations, as the paper ran it.
  (b1) (b') with one clustering thread (serial, as the authors' notebook runs).
  (c) INV with the default reduction (Ward on the PCA vectors, one tree, silhouette per k).
  (d) the same nine per-layer maps from pytorch-grad-cam: nine GradCAM calls.
  (e) (a) and (c) through the overlapped pipeline of `inv precompute` (batch i's clustering
      during batch i+1's network pass), over several batches.
Agreement (EfficientNet-Lite0 with its ImageNet weights, real photographs; random weights give
degenerate gradients): adjusted Rand index of the channel clusterings and the weight-weighted
best-match cosine of the cluster maps, for (c) against (b'), next to two t-SNE runs (1000
iterations) from random initialisations with different seeds (t-SNE's own noise floor), and for
(b)'s 500 iterations against (b')'s 1000. Timings are the best of interleaved rounds: other work on
the machine slows every configuration of a round alike.
Peak memory: the process's maximum resident set size after the VGG16 rows (and the GPU's peak
allocation on CUDA).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import ExplainConfig, Explainer
from engine.explainer import available_cpus
from engine.pipeline import OverlappedRunner, Timeline
from engine.results import ImageExplanation, LayerExplanation

VGG_LAYERS = ["features.11", "features.13", "features.15", "features.18", "features.20", "features.22",
              "features.25", "features.27", "features.29"]  # fmt: skip
DARKNET = Path("/usr/share/darknet/data")


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def run_once(fn: Callable[[], object], sync: Callable[[], None]) -> float:
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


# ---- speed -----------------------------------------------------------------------------------


def overlapped_run(explainer: Explainer, x: torch.Tensor, batches: int, timeline: Timeline) -> None:
    runner = OverlappedRunner(
        explainer.forward_backward, lambda _x, p: explainer.cluster(p), timeline=timeline
    )
    for _ in runner.run([x] * batches):
        pass


def speed(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    """The timing rows, printed; returns seconds per image by row key."""
    import torchvision

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    model = torchvision.models.vgg16().eval().to(device)
    x = torch.randn(args.batch_size, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    b = args.batch_size
    paper_tsne = ExplainConfig(reduction="tsne", tsne_max_iter=1000)
    ward = Explainer(model, VGG_LAYERS, ExplainConfig(), device=device)
    tsne = Explainer(model, VGG_LAYERS, ExplainConfig(reduction="tsne"), device=device)
    tsne_paper = Explainer(model, VGG_LAYERS, paper_tsne, device=device)
    tsne_serial = Explainer(model, VGG_LAYERS, paper_tsne, device=device, workers=1)

    # Warm-up: first calls pay for lazy imports, thread pools and allocator growth.
    passed = ward.forward_backward(x)
    ward.cluster(passed)
    tsne.cluster(passed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    # Rounds interleave the configurations so that a change in the machine's load hits them
    # alike; each row reports its best round (per image).
    timeline = Timeline()
    cheap = {
        "a": lambda: ward.forward_backward(x),
        "c": lambda: ward.explain(x),
        "cluster": lambda: ward.cluster(passed),
        "e": lambda: overlapped_run(ward, x, args.pipeline_batches, timeline),
        "b": lambda: tsne.explain(x),
    }
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for key, fn in cheap.items():
            seconds = run_once(fn, sync) / (b * (args.pipeline_batches if key == "e" else 1))
            best[key] = min(best.get(key, np.inf), seconds)
    if not args.quick:
        best["b_paper"] = min(run_once(lambda: tsne_paper.explain(x), sync) for _ in range(2)) / b
        best["b1"] = run_once(lambda: tsne_serial.explain(x), sync) / b
    inv_peak = peak_rss_gb()
    inv_gpu_peak = torch.cuda.max_memory_allocated() / 1024**3 if device.type == "cuda" else 0.0
    if not args.quick:
        best["d"] = gradcam_nine(model, x, passed.targets, device, sync) / b

    names = {
        "a": "(a) network pass + hooks (L)",
        "b": "(b) INV, t-SNE (500 it.), parallel layers",
        "b_paper": "(b') INV, t-SNE (1000 it.), parallel layers",
        "b1": "(b1) INV, t-SNE (1000 it.), one thread",
        "c": "(c) INV, default (Ward on PCA)",
        "d": "(d) pytorch-grad-cam, 9 calls",
        "e": f"(e) (c) overlapped over {args.pipeline_batches} batches",
    }
    limit = best["a"]
    print(f"\nVGG16 (random weights), 224 px, batch {b}, device {device}, "
          f"{torch.get_num_threads()} torch threads, {available_cpus()} CPUs, best of {args.repeats} "
          f"interleaved rounds, {load_text()}")  # fmt: skip
    print(f"{'configuration':<44} {'s/image':>9} {'× L':>7}")
    for key, name in names.items():
        if key in best:
            print(f"{name:<44} {best[key]:>9.3f} {best[key] / limit:>7.2f}")
    print(f"clustering alone (default), s/image: {best['cluster']:.3f}; network and clustering "
          f"overlapped for {timeline.overlap_seconds():.2f} s in the pipeline runs")  # fmt: skip
    print(f"peak memory (max RSS of this process) through rows (a)-(c), (e): {inv_peak:.2f} GB; "
          f"after (d) as well: {peak_rss_gb():.2f} GB")  # fmt: skip
    if device.type == "cuda":
        print(f"peak GPU memory allocated through (a)-(c), (e): {inv_gpu_peak:.2f} GB")
    for explainer in (ward, tsne, tsne_paper, tsne_serial):
        explainer.close()
    return {**best, "peak_rss_gb": inv_peak}


def peak_memory_child(batch: int, device: torch.device) -> dict[str, float]:
    """In a fresh process: max RSS with VGG16 and the default explainer loaded, then after one
    batch of `batch` images explained (what `inv precompute --batch-size N` needs at least)."""
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.vgg16().eval().to(device)
    explainer = Explainer(model, VGG_LAYERS, ExplainConfig(), device=device)
    x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    loaded = peak_rss_gb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    explainer.explain(x)
    gpu = torch.cuda.max_memory_allocated() / 1024**3 if device.type == "cuda" else 0.0
    explainer.close()
    return {"loaded_gb": loaded, "peak_gb": peak_rss_gb(), "gpu_peak_gb": gpu}


def peak_memory(batch: int, device: torch.device) -> dict[str, float]:
    """peak_memory_child in a new interpreter: max RSS only grows, so the rows above would hide
    the batch's own peak."""
    import json
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, "--peak-memory-child", str(batch), "--device", str(device)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    gpu = f"; GPU peak {figures['gpu_peak_gb']:.2f} GB" if device.type == "cuda" else ""
    print(f"peak memory at batch {batch} (fresh process, default reduction, VGG16): "
          f"{figures['peak_gb']:.2f} GB max RSS, of which model and runtime "
          f"{figures['loaded_gb']:.2f} GB{gpu}; {load_text()}")  # fmt: skip
    return figures


def gradcam_nine(
    model: torch.nn.Module, x: torch.Tensor, targets: np.ndarray, device: torch.device, sync
) -> float:  # type: ignore[no-untyped-def]
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    x = x.to(device)
    wanted = [ClassifierOutputTarget(int(t)) for t in targets]

    def nine_calls() -> None:
        for name in VGG_LAYERS:
            with GradCAM(model=model, target_layers=[model.get_submodule(name)]) as cam:
                cam(input_tensor=x, targets=wanted)

    seconds = run_once(nine_calls, sync)
    model.zero_grad(set_to_none=True)
    return seconds


# ---- agreement -------------------------------------------------------------------------------


def photos() -> list[tuple[str, np.ndarray]]:
    from matplotlib import cbook
    from PIL import Image
    from skimage import data
    from sklearn.datasets import load_sample_images

    found = [
        (name, getattr(data, name)())
        for name in ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "camera")
    ]
    sample = load_sample_images()
    found += [
        (Path(f).name, image) for f, image in zip(sample.filenames, sample.images, strict=True)
    ]
    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        found.append(("grace_hopper", np.asarray(Image.open(fh).convert("RGB"))))
    for name in ("dog", "eagle", "giraffe", "horses", "kite", "person"):
        if (DARKNET / f"{name}.jpg").is_file():
            found.append((name, np.asarray(Image.open(DARKNET / f"{name}.jpg").convert("RGB"))))
    return found


def best_match_cosine(a: LayerExplanation, b: LayerExplanation) -> float | None:
    """Symmetric weight-weighted best-match cosine between two layers' cluster maps."""
    if not a.clusters or not b.clusters:
        return None

    def one_way(x: LayerExplanation, y: LayerExplanation) -> float:
        ys = [c.map.ravel() / (np.linalg.norm(c.map) or 1.0) for c in y.clusters]
        total = sum(c.weight for c in x.clusters)
        score = 0.0
        for c in x.clusters:
            v = c.map.ravel() / (np.linalg.norm(c.map) or 1.0)
            score += c.weight * max(float(v @ w) for w in ys)
        return score / total

    return 0.5 * (one_way(a, b) + one_way(b, a))


def agreement(first: list[ImageExplanation], second: list[ImageExplanation]) -> tuple[float, float]:
    from sklearn.metrics import adjusted_rand_score

    aris, cosines = [], []
    for r1, r2 in zip(first, second, strict=True):
        for name, l1 in r1.layers.items():
            l2 = r2.layers[name]
            assert np.array_equal(l1.kept_channels, l2.kept_channels)
            if l1.kept_channels.size >= 4:
                aris.append(adjusted_rand_score(l1.labels, l2.labels))
            cosine = best_match_cosine(l1, l2)
            if cosine is not None:
                cosines.append(cosine)
    return float(np.mean(aris)), float(np.mean(cosines))


def agreement_run(args: argparse.Namespace, device: torch.device) -> None:
    from engine.models import load_model

    loaded = load_model()
    pictures = photos()
    from PIL import Image

    x = torch.stack([
        torch.from_numpy(loaded.preprocess.normalise(loaded.preprocess.crop(Image.fromarray(p).convert("RGB"))))
        for _, p in pictures
    ])  # fmt: skip
    configs = {
        "c": ExplainConfig(),
        "b": ExplainConfig(reduction="tsne", tsne_max_iter=1000),
        "r1": ExplainConfig(reduction="tsne", tsne_init="random", seed=1, tsne_max_iter=1000),
        "r2": ExplainConfig(reduction="tsne", tsne_init="random", seed=2, tsne_max_iter=1000),
        "b500": ExplainConfig(reduction="tsne", tsne_max_iter=500),
    }
    explainers = {
        k: Explainer(loaded.module, None, cfg, device=device) for k, cfg in configs.items()
    }
    results: dict[str, list[ImageExplanation]] = {key: [] for key in configs}
    seconds = dict.fromkeys(configs, 0.0)
    for chunk in x.split(args.batch_size):
        passed = explainers["c"].forward_backward(chunk)
        for key, explainer in explainers.items():
            start = time.perf_counter()
            results[key] += explainer.cluster(passed)
            seconds[key] += time.perf_counter() - start
    for explainer in explainers.values():
        explainer.close()
    layers = explainers["c"].layers
    jobs = len(pictures) * len(layers)
    top1 = [loaded.classes[r.predicted] for r in results["c"]]
    print(f"\nAgreement: EfficientNet-Lite0 (ImageNet weights), {len(pictures)} photos × {len(layers)} layers "
          f"({','.join(layers)}), {load_text()}")  # fmt: skip
    print(
        "photos: "
        + ", ".join(f"{name}→{label}" for (name, _), label in zip(pictures, top1, strict=True))
    )
    kept = [r.layers[n].kept_channels.size for r in results["c"] for n in layers]
    print(f"kept maps per layer: median {int(np.median(kept))}, range {min(kept)}–{max(kept)}")
    print(f"{'pair':<52} {'ARI':>6} {'w-cos':>7}")
    ari_cb, cos_cb = agreement(results["c"], results["b"])
    ari_rr, cos_rr = agreement(results["r1"], results["r2"])
    ari_br, cos_br = agreement(results["b"], results["r1"])
    ari_b5, cos_b5 = agreement(results["b500"], results["b"])
    ari_c5, cos_c5 = agreement(results["c"], results["b500"])
    table = [
        ("(c) default vs (b') t-SNE as in the paper", ari_cb, cos_cb),
        ("(c) default vs (b) t-SNE, 500 iterations", ari_c5, cos_c5),
        ("noise floor: t-SNE random init, seed 1 vs seed 2", ari_rr, cos_rr),
        ("(b') t-SNE PCA init vs random init seed 1", ari_br, cos_br),
        ("(b) 500 iterations vs (b') 1000 iterations", ari_b5, cos_b5),
    ]
    for name, ari, cosine in table:
        print(f"{name:<52} {ari:>6.3f} {cosine:>7.4f}")
    verdict = "meets" if cos_cb >= cos_rr - 0.01 else "MISSES"
    print(
        f"target (1) agreement: w-cos(c, b') = {cos_cb:.4f} vs floor {cos_rr:.4f} − 0.01 → {verdict}"
    )
    verdict = "at or above" if cos_b5 >= cos_rr and ari_b5 >= ari_rr else "BELOW"
    print(f"t-SNE at 500 iterations vs 1000: {verdict} the noise floor (ARI {ari_b5:.3f} vs {ari_rr:.3f}, "
          f"w-cos {cos_b5:.4f} vs {cos_rr:.4f})")  # fmt: skip
    print(f"clustering time per layer (wall, {available_cpus()} threads): Ward {seconds['c'] / jobs * 1000:.1f} ms, "
          f"t-SNE 1000 it. {seconds['b'] / jobs * 1000:.1f} ms, t-SNE 500 it. {seconds['b500'] / jobs * 1000:.1f} ms")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pipeline-batches", type=int, default=4)
    parser.add_argument(
        "--quick", action="store_true", help="skip the serial t-SNE and grad-cam rows"
    )
    parser.add_argument("--skip-agreement", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument(
        "--peak-batch", type=int, default=32, help="batch of the peak-memory line (0: none)"
    )
    parser.add_argument("--no-record", action="store_true", help="write no JSON record")
    parser.add_argument("--peak-memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from engine.explainer import resolve_device

    device = resolve_device(args.device)
    if args.peak_memory_child:
        import json

        print(json.dumps(peak_memory_child(args.peak_memory_child, device)))
        return 0
    print(f"inv benchmark: torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "") + f", {load_text()}")  # fmt: skip
    from benchmarks.record import Record

    record = Record("precompute")
    if not args.skip_speed:
        best = speed(args, device)
        # The network pass alone (a) is this run's reference: the other rows as multiples of it.
        record.reference("a_network_pass_s_per_image", {"seconds": best["a"]})
        record.figures({f"{key}_s_per_image": value for key, value in best.items()})
        for key, value in best.items():
            if key not in ("a", "peak_rss_gb"):
                record.data["ratios"][f"{key}_x_L"] = round(value / best["a"], 4)
    if args.peak_batch:
        record.figures({f"batch_{args.peak_batch}_memory": peak_memory(args.peak_batch, device)})
    if not args.skip_agreement:
        agreement_run(args, device)
    print(f"\npeak memory (max RSS) at the end: {peak_rss_gb():.2f} GB; {load_text()}")
    if not args.no_record:
        print(f"record: {record.write()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
