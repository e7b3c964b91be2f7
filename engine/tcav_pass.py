"""The network half of TCAV: one hooked forward and backward pass per batch for a set of layers.

Every layer's activations and the gradient of each image's target logit with respect to them come
from the same pass (the engine's activation hooks, parameters frozen), so testing concepts at nine
layers costs one pass over the images, not nine. Gradients are summed over positions on the
device: TCAV only needs them dotted with a channel-space CAV (see `engine.tcav`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.explainer import _logits_of
from engine.hooks import capture_activations, frozen_parameters


@dataclass
class LayerBatch:
    """One batch's hooked pass, on the CPU."""

    start: int  # index of the batch's first image among all the images passed
    logits: np.ndarray  # float32 [B, C]
    activations: dict[str, np.ndarray]  # float32 [B, K, h, w]
    summed_gradients: dict[str, np.ndarray]  # float64 [B, K]: ∂y_target/∂A summed over h, w


def layer_passes(
    model: nn.Module,
    layers: Sequence[str],
    images: torch.Tensor,
    targets: Sequence[int] | np.ndarray | torch.Tensor,
    *,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
) -> Iterator[LayerBatch]:
    """Activations and summed target-logit gradients of `layers`, batch by batch.

    images: [N, 3, H, W], normalised as the model expects; targets: one class per image.
    Batches are yielded so that a caller keeps only what it pools, never every activation.
    """
    target = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    if target.shape[0] != images.shape[0]:
        raise ValueError(f"{target.shape[0]} targets for {images.shape[0]} images")
    model = model.to(device).eval()
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(device, dtype=torch.float32)
        t = target[start : start + batch_size].to(device)
        with (
            torch.enable_grad(),
            frozen_parameters(model),
            capture_activations(model, layers) as capture,
        ):
            logits = _logits_of(model(x))
            activations = capture.ordered()
            score = logits.gather(1, t[:, None]).sum()
            if score.requires_grad:
                grads = torch.autograd.grad(score, activations, allow_unused=True)
            else:
                grads = (None,) * len(activations)
        summed: dict[str, np.ndarray] = {}
        acts: dict[str, np.ndarray] = {}
        for name, act, grad in zip(layers, activations, grads, strict=True):
            acts[name] = act.detach().float().cpu().numpy()
            g = torch.zeros_like(act) if grad is None else grad
            summed[name] = g.detach().double().sum(dim=(2, 3)).cpu().numpy()
        yield LayerBatch(start, logits.detach().float().cpu().numpy(), acts, summed)


def mean_activations(
    model: nn.Module,
    layers: Sequence[str],
    images: torch.Tensor,
    *,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
) -> dict[str, np.ndarray]:
    """Each layer's activations averaged over positions, float64 [N, K]: a forward pass only.

    What the masked-crop extraction of concept examples needs (`engine.tcav.mask_crop`).
    """
    model = model.to(device).eval()
    found: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(device, dtype=torch.float32)
        with torch.no_grad(), capture_activations(model, layers) as capture:
            model(x)
            activations = capture.ordered()
        for name, act in zip(layers, activations, strict=True):
            found[name].append(act.double().mean(dim=(2, 3)).cpu().numpy())
    return {name: np.concatenate(parts) for name, parts in found.items()}
