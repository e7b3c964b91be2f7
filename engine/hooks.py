"""Forward hooks that capture several layers' activations in one pass, always released.

Each hooked module's output is kept as the tensor to differentiate against, and the module hands
a clone on to the rest of the network. An in-place operation later in the network (a ReLU with
`inplace=True` after a hooked convolution, `out += identity` in a residual block) then changes
the clone, never the captured activation, and the gradient taken with respect to the captured
tensor is the true ∂y/∂A of that layer's output.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn


class LayerCallError(RuntimeError):
    """A hooked layer did not run exactly once, or its output is not a [B, K, h, w] tensor."""


class ActivationCapture:
    """Captured outputs of named modules during one forward pass."""

    def __init__(self, model: nn.Module, layer_names: Sequence[str]) -> None:
        modules = dict(model.named_modules())
        missing = [name for name in layer_names if name not in modules]
        if missing:
            raise KeyError(f"no such layer(s) in the model: {', '.join(missing)}")
        if len(set(layer_names)) != len(layer_names):
            raise ValueError("a layer is listed twice")
        self.layer_names = list(layer_names)
        self._modules = [modules[name] for name in self.layer_names]
        self.activations: dict[str, torch.Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, name: str):  # type: ignore[no-untyped-def]
        def hook(_module: nn.Module, _inputs: object, output: object) -> torch.Tensor:
            if not isinstance(output, torch.Tensor) or output.dim() != 4:
                raise LayerCallError(f"layer {name} does not output a [B, K, h, w] tensor")
            if name in self.activations:
                raise LayerCallError(
                    f"layer {name} runs more than once per forward pass; hook a module that runs once"
                )
            if torch.is_grad_enabled() and not output.requires_grad:
                # Nothing upstream is differentiated (see `frozen_parameters`): the graph starts
                # here, at the first hooked layer that runs.
                output = output.detach().requires_grad_(True)
            self.activations[name] = output
            return output.clone()

        return hook

    def attach(self) -> None:
        for name, module in zip(self.layer_names, self._modules, strict=True):
            self._handles.append(module.register_forward_hook(self._hook(name)))

    def release(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def ordered(self) -> list[torch.Tensor]:
        absent = [name for name in self.layer_names if name not in self.activations]
        if absent:
            raise LayerCallError(f"layer(s) never ran in the forward pass: {', '.join(absent)}")
        return [self.activations[name] for name in self.layer_names]


@contextmanager
def capture_activations(
    model: nn.Module, layer_names: Sequence[str]
) -> Iterator[ActivationCapture]:
    """Hooks on `layer_names` for the duration of the block; removed even when it raises."""
    capture = ActivationCapture(model, layer_names)
    capture.attach()
    try:
        yield capture
    finally:
        capture.release()


@contextmanager
def frozen_parameters(model: nn.Module) -> Iterator[None]:
    """Parameters with requires_grad=False for the block, restored afterwards (also on error).

    Gradients are taken with respect to activations only, so no parameter needs one; this keeps
    autograd from saving tensors for parameter gradients that would never be computed.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
