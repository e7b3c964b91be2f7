"""Which layers of a model can be explained, and which are explained by default.

A layer is a module name from `model.named_modules()`. It can be hooked when it runs exactly once
per forward pass and outputs a [B, K, h, w] tensor. Defaults:
- VGG (torchvision): the post-ReLU outputs of blocks 3 to 5, i.e. every ReLU of `features` after
  the second max-pool (VGG16: features.11,13,15,18,20,22,25,27,29 = block3_conv1 … block5_conv3).
- ResNet (torchvision): the outputs (post-ReLU) of the last nine residual blocks of layer2–layer4.
- EfficientNet (timm, e.g. EfficientNet-Lite0): for each stage from the second on, the activated
  depthwise output of its last block (`blocks.N.<last>.bn2`, BatchNorm + ReLU6), and the head's
  activation (`bn2`). A stage's own output (`blocks.N`, the block's `bn3`) is a linear
  projection, about half negative: the method's 1[A>0] gate and per-map min-max assume maps that
  come out of an activation.
- anything else: up to nine post-activation outputs evenly spaced over the second half of the
  network's depth, ending at the last spatial one.

A module is *post-activation* when its output comes out of an activation module: it is one, or it
returns the very tensor an activation inside it returned last (a ResNet block's final ReLU,
timm's BatchNormAct2d).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

MAX_DEFAULT_LAYERS = 9
ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardtanh,
)


@dataclass(frozen=True)
class LayerInfo:
    """One module seen in a sample forward pass."""

    name: str
    kind: str  # the module's class name
    calls: int  # times it ran in one forward pass
    shape: (
        tuple[int, ...] | None
    )  # output shape of its last call (batch of one), None if not a tensor
    order: int  # position (by completion) of its last call in the pass
    is_leaf: bool
    is_activation: bool
    post_activation: bool = False  # its output is an activation module's output
    produced_at: int = -1  # completion order of the leaf call that produced its output

    @property
    def hookable(self) -> bool:
        return self.calls == 1 and self.shape is not None and len(self.shape) == 4

    @property
    def spatial(self) -> bool:
        return self.hookable and self.shape is not None and self.shape[2] * self.shape[3] > 1


def _sample_input(model: nn.Module, input_size: int) -> torch.Tensor:
    try:
        param = next(model.parameters())
        device, dtype = param.device, param.dtype
    except StopIteration:
        device, dtype = torch.device("cpu"), torch.float32
    return torch.zeros(1, 3, input_size, input_size, device=device, dtype=dtype)


def inspect_layers(model: nn.Module, input_size: int = 224) -> list[LayerInfo]:
    """Run one sample (zeros) through the model and record every module's output shape."""
    seen: dict[str, dict[str, object]] = {}
    counter = [0]
    handles = []
    # The output of the leaf module that finished last, and whether that leaf is an activation.
    # A container returning that same object ends in that activation. Holding the reference
    # keeps the tensor alive, so no later tensor can take its identity.
    last_leaf: dict[str, object] = {"output": None, "activation": False, "order": -1}

    def make_hook(name: str, module: nn.Module):  # type: ignore[no-untyped-def]
        leaf = not any(True for _ in module.children())
        activation = isinstance(module, ACTIVATIONS)

        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            entry = seen.setdefault(name, {"calls": 0})
            entry["calls"] = int(entry["calls"]) + 1  # type: ignore[call-overload]
            entry["shape"] = tuple(output.shape) if isinstance(output, torch.Tensor) else None
            entry["order"] = counter[0]
            if leaf:
                last_leaf.update(output=output, activation=activation, order=counter[0])
                entry["post_activation"], entry["produced_at"] = activation, counter[0]
            else:
                same = output is last_leaf["output"]
                entry["post_activation"] = bool(same and last_leaf["activation"])
                entry["produced_at"] = last_leaf["order"] if same else counter[0]
            counter[0] += 1

        return hook

    modules = [(name, module) for name, module in model.named_modules() if name]
    was_training = model.training
    model.eval()
    try:
        for name, module in modules:
            handles.append(module.register_forward_hook(make_hook(name, module)))
        with torch.no_grad():
            model(_sample_input(model, input_size))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    infos = []
    for name, module in modules:
        if name not in seen:
            continue
        entry = seen[name]
        infos.append(
            LayerInfo(
                name=name,
                kind=type(module).__name__,
                calls=int(entry["calls"]),  # type: ignore[call-overload]
                shape=entry.get("shape"),  # type: ignore[arg-type]
                order=int(entry["order"]),  # type: ignore[call-overload]
                is_leaf=not any(True for _ in module.children()),
                is_activation=isinstance(module, ACTIVATIONS),
                post_activation=bool(entry.get("post_activation", False)),
                produced_at=int(entry.get("produced_at", -1)),  # type: ignore[call-overload]
            )
        )
    return sorted(infos, key=lambda info: info.order)


def _vgg_defaults(model: nn.Module) -> list[str] | None:
    features = getattr(model, "features", None)
    if type(model).__name__ != "VGG" or not isinstance(features, nn.Sequential):
        return None
    pools = 0
    names = []
    for index, module in enumerate(features):
        if isinstance(module, nn.MaxPool2d):
            pools += 1
        elif isinstance(module, nn.ReLU) and pools >= 2:
            names.append(f"features.{index}")
    return names or None


def _resnet_defaults(model: nn.Module) -> list[str] | None:
    if type(model).__name__ != "ResNet":
        return None
    blocks = [
        f"{stage}.{index}"
        for stage in ("layer2", "layer3", "layer4")
        for index, _ in enumerate(getattr(model, stage, []))
    ]
    return blocks[-MAX_DEFAULT_LAYERS:] or None


def _timm_efficientnet_defaults(model: nn.Module) -> list[str] | None:
    blocks = getattr(model, "blocks", None)
    if type(model).__name__ != "EfficientNet" or not isinstance(blocks, nn.Sequential):
        return None
    names = []
    for index in range(1, len(blocks)):
        stage = blocks[index]
        last = len(stage) - 1 if isinstance(stage, nn.Sequential) else None
        block = f"blocks.{index}.{last}" if last is not None else f"blocks.{index}"
        depthwise = model.get_submodule(block)
        # InvertedResidual: bn1 (expansion), bn2 (depthwise) activated, bn3 linear.
        if isinstance(getattr(depthwise, "bn2", None), nn.Module) and hasattr(depthwise, "bn3"):
            names.append(f"{block}.bn2")
    if isinstance(getattr(model, "bn2", None), nn.Module):
        names.append("bn2")
    return names or None


def generic_default_layers(infos: list[LayerInfo], limit: int = MAX_DEFAULT_LAYERS) -> list[str]:
    """Up to `limit` post-activation outputs evenly spaced over the second half of the spatial layers.

    An activation that runs more than once (a ResNet block's shared ReLU) cannot be hooked, but the
    block that returns its last output can; when a container and the activation inside it give the
    same output, the innermost hookable one stands for both.
    """
    spatial = [info for info in infos if info.spatial]
    if not spatial:
        raise ValueError("the model has no hookable layer with a [B, K, h, w] output")
    innermost: dict[int, LayerInfo] = {}
    for info in spatial:  # sorted by completion: an inner module finishes before its container
        if info.post_activation:
            innermost.setdefault(info.produced_at, info)
    candidates = sorted(innermost.values(), key=lambda info: info.order)
    if not candidates:
        candidates = [info for info in spatial if info.is_leaf] or spatial
    half = candidates[len(candidates) // 2 :] or candidates
    if len(half) <= limit:
        return [info.name for info in half]
    # Evenly spaced, always ending at the deepest one.
    picks = np.linspace(0, len(half) - 1, limit).round().astype(int)
    return [half[i].name for i in sorted(set(picks.tolist()))]


def named_default_layers(model: nn.Module) -> list[str] | None:
    """Defaults of the known architectures, or None."""
    for rule in (_vgg_defaults, _resnet_defaults, _timm_efficientnet_defaults):
        names = rule(model)
        if names:
            return names
    return None


def default_layers(model: nn.Module, input_size: int = 224) -> list[str]:
    """The layers explained when none are given."""
    return named_default_layers(model) or generic_default_layers(inspect_layers(model, input_size))
