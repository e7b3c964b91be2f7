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
Agreement (benchmarks/agreement.py): on EfficientNet-Lite0 with its ImageNet weights and real
photographs, the default and other variants against the authors' t-SNE pipeline on three measures
(surviving clusters, ARI of the channel clusterings, weighted best-match map cosine), next to
t-SNE's three noise floors (random init with two seeds, PCA columns sign-flipped, 500 vs 1000
iterations); also the effect of the perplexity rule, of sklearn's PCA, and of native-resolution
cluster maps. Timings are the best of interleaved rounds: other work on the machine slows every
configuration of a round alike.
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
from engine.cpus import available_cpus
from engine.overlap import OverlappedRunner, Timeline

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


def agreement_run(args: argparse.Namespace, device: torch.device) -> dict[str, object]:
    from PIL import Image

    from benchmarks.agreement import report
    from engine.classifiers import load_model

    loaded = load_model()
    pictures = photos()[: args.photos]
    x = torch.stack([
        torch.from_numpy(loaded.preprocess.normalise(loaded.preprocess.crop(Image.fromarray(p).convert("RGB"))))
        for _, p in pictures
    ])  # fmt: skip
    explainer = Explainer(loaded.module, None, ExplainConfig(), device=device, workers=0)
    passes = [explainer.forward_backward(chunk) for chunk in x.split(args.batch_size)]
    explainer.close()
    top1 = [loaded.classes[int(t)] for p in passes for t in p.targets]
    print(f"\nAgreement: EfficientNet-Lite0 (ImageNet weights), {len(pictures)} photos × {len(explainer.layers)} layers "
          f"({','.join(explainer.layers)}), {load_text()}")  # fmt: skip
    print(
        "photos: "
        + ", ".join(f"{name}→{label}" for (name, _), label in zip(pictures, top1, strict=True))
    )
    return report(passes, threads=available_cpus(), candidates=args.candidates)


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
    parser.add_argument(
        "--photos", type=int, default=8, help="photos in the agreement part (up to 15)"
    )
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="also measure candidate fast reductions (t-SNE 250 iterations, openTSNE)",
    )
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
        peak = best.pop("peak_rss_gb")
        record.figures({f"{key}_s_per_image": value for key, value in best.items()})
        record.figures({"peak_rss_gb": peak})
        for key, value in best.items():
            if key != "a":
                record.data["ratios"][f"{key}_x_L"] = round(value / best["a"], 4)
    if args.peak_batch:
        record.figures({f"batch_{args.peak_batch}_memory": peak_memory(args.peak_batch, device)})
    if not args.skip_agreement:
        record.figures({"agreement_with_tsne": agreement_run(args, device)})
    print(f"\npeak memory (max RSS) at the end: {peak_rss_gb():.2f} GB; {load_text()}")
    if not args.no_record:
        print(f"record: {record.write()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
