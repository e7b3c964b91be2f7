"""Default layers are post-activation outputs for every supported family, and `inv layers` says so."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from engine.classifiers import load_model
from engine.hooks import capture_activations
from engine.images import Preprocess
from engine.layers import default_layers, inspect_layers, named_default_layers

LITE0_DEFAULTS = [
    "blocks.1.1.bn2",
    "blocks.2.1.bn2",
    "blocks.3.2.bn2",
    "blocks.4.2.bn2",
    "blocks.5.3.bn2",
    "blocks.6.0.bn2",
    "bn2",
]


def real_photos(preprocess: Preprocess) -> torch.Tensor:
    """Three real photographs (skimage and sklearn samples), preprocessed for the model."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    pictures = [data.coffee(), data.chelsea(), *load_sample_images().images[:1]]
    crops = [preprocess.crop(Image.fromarray(p).convert("RGB")) for p in pictures]
    return torch.from_numpy(np.stack([preprocess.normalise(c) for c in crops]))


def layer_minima(model: nn.Module, layers: list[str], x: torch.Tensor) -> dict[str, float]:
    with torch.no_grad(), capture_activations(model.eval(), layers) as capture:
        model(x)
        return {name: float(t.min()) for name, t in zip(layers, capture.ordered(), strict=True)}


def random_torchvision(name: str) -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None).eval()


def test_lite0_defaults_are_the_activated_depthwise_outputs_and_non_negative() -> None:
    loaded = load_model()
    layers = default_layers(loaded.module)
    assert layers == LITE0_DEFAULTS
    x = real_photos(loaded.preprocess)
    minima = layer_minima(loaded.module, layers, x)
    assert all(value >= 0 for value in minima.values()), minima
    # The stage outputs (linear projections) are what the method must not explain: on real photos
    # they are negative, which is why they are not the defaults.
    linear = layer_minima(loaded.module, [f"blocks.{i}" for i in range(1, 7)], x)
    assert all(value < 0 for value in linear.values()), linear


@pytest.mark.parametrize(
    "name",
    [
        "vgg16",  # named rule: post-ReLU features
        "resnet18",  # named rule: residual blocks ending in a ReLU
        "mobilenet_v2",  # generic rule: ReLU6 outputs
        "squeezenet1_1",  # generic rule: ReLU outputs of fire modules
    ],
)
def test_default_layers_of_each_family_are_non_negative_on_real_photos(name: str) -> None:
    model = random_torchvision(name)
    layers = default_layers(model)
    assert layers
    infos = {info.name: info for info in inspect_layers(model)}
    assert all(infos[layer].post_activation for layer in layers)
    minima = layer_minima(model, layers, real_photos(Preprocess()))
    assert all(value >= 0 for value in minima.values()), minima


def test_post_activation_marks_containers_that_end_in_an_activation() -> None:
    model = random_torchvision("resnet18")
    infos = {info.name: info for info in inspect_layers(model, 64)}
    assert infos["layer1.0"].post_activation  # BasicBlock returns its final ReLU's output
    assert infos["layer1.0.relu"].calls == 2 and not infos["layer1.0.relu"].hookable
    assert not infos["layer1.0.bn2"].post_activation and not infos["layer1.0.conv1"].post_activation
    assert not infos["avgpool"].post_activation

    lite0 = load_model().module
    lite = {info.name: info for info in inspect_layers(lite0)}
    assert lite["blocks.1.1.bn2"].post_activation and lite["bn2"].post_activation
    assert not lite["blocks.1.1.bn3"].post_activation and not lite["blocks.1"].post_activation


def test_generic_rule_picks_post_activation_blocks_over_unhookable_relus() -> None:
    # A ResNet-like model unknown to the named rules: its blocks reuse one ReLU module, so only
    # the blocks themselves (which return that ReLU's output) are hookable activation outputs.
    class Block(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(width, width, 3, padding=1)
            self.conv2 = nn.Conv2d(width, width, 3, padding=1)
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.relu(self.conv2(self.relu(self.conv1(x))) + x)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.stages = nn.Sequential(*(Block(8) for _ in range(6)))
            self.head = nn.Linear(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.stages(self.stem(x)).mean(dim=(2, 3)))

    model = Net()
    assert named_default_layers(model) is None
    assert default_layers(model, input_size=16) == [f"stages.{i}" for i in range(3, 6)]
