"""`Explainer`: INV local explanations for any CNN classifier, every chosen layer in one pass.

One forward and one backward pass per batch give every hooked layer's activations A and
gradients G = ∂y^c/∂A (each image its own target logit, the batch's target logits summed; the
gradient is taken with `torch.autograd.grad` with respect to the hooked activations only, so no
parameter gradient is ever computed). Channel importances and Grad-CAM are reduced on the
model's device; the clustering of each (image, layer) runs on the CPU in a thread pool. The two
halves are public (`forward_backward`, `cluster`) so that a caller can overlap the clustering of
one batch with the network pass of the next (see `engine.overlap`).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.config import ExplainConfig
from engine.cpus import available_cpus
from engine.hooks import capture_activations, frozen_parameters
from engine.method import explain_layer
from engine.results import ImageExplanation, LayerExplanation

Targets = Sequence[int | None] | torch.Tensor | np.ndarray | None


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """ "auto" (or None): CUDA when available, else the CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but no CUDA GPU is available")
    return resolved


@dataclass
class PassResult:
    """The network half of a batch, moved to the CPU: everything `cluster` needs."""

    layer_names: list[str]
    logits: np.ndarray  # float32 [B, C]
    targets: np.ndarray  # int64 [B]
    activations: dict[str, np.ndarray]  # float32 [B, K, h, w]
    alpha: dict[str, np.ndarray]  # float64 [B, K], the configured weighting's channel importance
    gradcam: dict[str, np.ndarray]  # float32 [B, h, w]

    @property
    def batch_size(self) -> int:
        return int(self.logits.shape[0])


def _logits_of(output: object) -> torch.Tensor:
    """The class scores of a model's output (a tensor, a tuple whose first item is, or .logits)."""
    if isinstance(output, torch.Tensor):
        logits = output
    elif isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        logits = output[0]
    elif isinstance(getattr(output, "logits", None), torch.Tensor):
        logits = output.logits  # type: ignore[union-attr]
    else:
        raise TypeError("the model's output is not a tensor of class scores")
    if logits.dim() != 2:
        raise TypeError(
            f"the model's output has shape {tuple(logits.shape)}, expected [B, classes]"
        )
    return logits


def _single_threaded_worker() -> None:
    # Several clustering jobs run side by side; each using every core for its small BLAS and
    # OpenMP calls would oversubscribe them (measured: about 2x slower on 2 cores).
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="openmp")  # per thread for libgomp


class Explainer:
    """INV for one model and a fixed list of layers.

    model: any `nn.Module` image classifier returning class scores (pre-softmax).
    layers: module names as in `model.named_modules()`, shallow to deep; None = the model's
        defaults (`engine.layers.default_layers`).
    config: the method's parameters.
    device: "auto", "cpu", "cuda", or a torch.device; the model is moved there and set to eval.
    workers: threads clustering (image, layer) jobs; None = the available CPUs, 0 = inline.
    input_size: the side of the sample input used to find default layers.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str] | None = None,
        config: ExplainConfig | None = None,
        *,
        device: str | torch.device | None = "auto",
        workers: int | None = None,
        input_size: int = 224,
    ) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        if layers is None:
            from engine.layers import default_layers

            layers = default_layers(self.model, input_size=input_size)
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("no layers to explain")
        modules = dict(self.model.named_modules())
        unknown = [name for name in self.layers if name not in modules]
        if unknown:
            raise KeyError(f"no such layer(s) in the model: {', '.join(unknown)}")
        self.config = config or ExplainConfig()
        self.workers = available_cpus() if workers is None else max(0, int(workers))
        self._pool: ThreadPoolExecutor | None = None
        self._blas_limit = None

    # ---- lifecycle --------------------------------------------------------------------------

    def _executor(self) -> ThreadPoolExecutor | None:
        if self.workers == 0:
            return None
        if self._pool is None:
            import sklearn.manifold  # noqa: F401  (load its OpenMP runtime before limiting it)
            from threadpoolctl import threadpool_limits

            # OpenBLAS's thread count is process-wide: one thread per call while this pool runs
            # (torch's own BLAS and OpenMP are separate libraries and keep their threads).
            self._blas_limit = threadpool_limits(limits=1, user_api="blas")
            self._pool = ThreadPoolExecutor(
                max_workers=self.workers,
                thread_name_prefix="inv-cluster",
                initializer=_single_threaded_worker,
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._blas_limit is not None:
            self._blas_limit.restore_original_limits()
            self._blas_limit = None

    def __enter__(self) -> Explainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the network half -------------------------------------------------------------------

    def _targets(self, logits: torch.Tensor, targets: Targets) -> torch.Tensor:
        predicted = logits.argmax(dim=1)
        if targets is None:
            if self.config.target == "true":
                raise ValueError("ExplainConfig.target='true' needs the true classes as targets")
            return predicted
        if isinstance(targets, torch.Tensor | np.ndarray):
            values: list[int | None] = [int(t) for t in targets.tolist()]
        else:
            values = [None if t is None else int(t) for t in targets]
        if len(values) != logits.shape[0]:
            raise ValueError(f"{len(values)} targets for {logits.shape[0]} images")
        num_classes = logits.shape[1]
        if any(t is not None and not 0 <= t < num_classes for t in values):
            raise ValueError(f"a target is outside the model's {num_classes} classes")
        chosen = [
            int(p) if t is None else t for t, p in zip(values, predicted.tolist(), strict=True)
        ]
        return torch.tensor(chosen, dtype=torch.long, device=logits.device)

    def forward_backward(self, images: torch.Tensor, targets: Targets = None) -> PassResult:
        """One forward and one backward pass over a batch; results moved to the CPU.

        images: float tensor [B, 3, H, W] (or [3, H, W]), already normalised for the model.
        targets: one class per image (None entries: the predicted class); None = config.target.
        """
        x = images if images.dim() == 4 else images.unsqueeze(0)
        x = x.to(self.device, dtype=torch.float32).detach()
        with (
            torch.enable_grad(),
            frozen_parameters(self.model),
            capture_activations(self.model, self.layers) as capture,
        ):
            logits = _logits_of(self.model(x))
            activations = capture.ordered()
            target = self._targets(logits.detach(), targets)
            score = logits.gather(1, target[:, None]).sum()
            if score.requires_grad:
                grads = torch.autograd.grad(score, activations, allow_unused=True)
            else:  # no hooked layer feeds the logits
                grads = (None,) * len(activations)

        acts_np: dict[str, np.ndarray] = {}
        alpha_np: dict[str, np.ndarray] = {}
        cam_np: dict[str, np.ndarray] = {}
        with torch.no_grad():
            for name, act, grad in zip(self.layers, activations, grads, strict=True):
                a = act.detach().float()
                g = torch.zeros_like(a) if grad is None else grad.float()
                mean_grad = g.mean(dim=(2, 3))
                if self.config.weighting == "guided":
                    # α_k = mean over positions of G·1[A>0]·1[G>0]
                    alpha = (g.clamp(min=0) * (a > 0)).mean(dim=(2, 3))
                else:
                    alpha = mean_grad.clamp(min=0)
                cam = torch.relu((mean_grad[:, :, None, None] * a).sum(dim=1))
                acts_np[name] = a.cpu().numpy()
                alpha_np[name] = alpha.double().cpu().numpy()
                cam_np[name] = cam.cpu().numpy()
        return PassResult(
            layer_names=list(self.layers),
            logits=logits.detach().float().cpu().numpy(),
            targets=target.cpu().numpy().astype(np.int64),
            activations=acts_np,
            alpha=alpha_np,
            gradcam=cam_np,
        )

    # ---- the CPU half -----------------------------------------------------------------------

    def _layer_job(self, batch: PassResult, b: int, name: str) -> LayerExplanation:
        return explain_layer(
            name,
            batch.activations[name][b],
            batch.alpha[name][b],
            batch.gradcam[name][b],
            self.config,
        )

    def cluster(self, batch: PassResult) -> list[ImageExplanation]:
        """Prune, reduce and cluster every (image, layer) of a pass; thread-parallel."""
        jobs = [(b, name) for b in range(batch.batch_size) for name in batch.layer_names]
        pool = self._executor()
        if pool is None:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=1, user_api="blas"):
                done = [self._layer_job(batch, b, name) for b, name in jobs]
        else:
            futures = [pool.submit(self._layer_job, batch, b, name) for b, name in jobs]
            done = [f.result() for f in futures]
        per_image: list[dict[str, LayerExplanation]] = [{} for _ in range(batch.batch_size)]
        for (b, name), layer in zip(jobs, done, strict=True):
            per_image[b][name] = layer
        return [
            ImageExplanation(
                target=int(batch.targets[b]), logits=batch.logits[b], layers=per_image[b]
            )
            for b in range(batch.batch_size)
        ]

    def explain(self, images: torch.Tensor, targets: Targets = None) -> list[ImageExplanation]:
        """INV explanations of a batch: `forward_backward` then `cluster`."""
        return self.cluster(self.forward_backward(images, targets))
