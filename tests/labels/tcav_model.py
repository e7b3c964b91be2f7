"""A small seeded CNN loadable as the model factory `tests.labels.tcav_model:build`, whose layers
`features.10` and `features.29` (ReLU outputs on 64-pixel crops) match the test world's layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.classifiers import load_model
from engine.images import Preprocess
from inv.settings import get_settings
from storage.db import session_scope
from storage.models import Model
from tests.labels.world import World

SPEC = "tests.labels.tcav_model:build"


class TinyNet(nn.Module):
    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Identity() for _ in range(30)]
        blocks[8] = nn.Conv2d(3, 8, 3, padding=1)
        blocks[9] = nn.MaxPool2d(4)
        blocks[10] = nn.ReLU()
        blocks[27] = nn.Conv2d(8, 16, 3, padding=1)
        blocks[28] = nn.MaxPool2d(2)
        blocks[29] = nn.ReLU()
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Linear(16, classes)
        self.inv_preprocess = Preprocess(resize_size=64, crop_size=64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def build() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet()


def use_the_loadable_model(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The world's model becomes this network (random weights); two examples make a test."""
    monkeypatch.setenv("MIN_CONCEPT_EXAMPLES", "2")
    monkeypatch.setenv("WEIGHTS", "random")
    get_settings.cache_clear()
    loaded = load_model(SPEC, "random")
    with session_scope(world.engine) as s:
        model = s.get(Model, world.model_id)
        model.name, model.weights_hash = SPEC, loaded.weights_hash
