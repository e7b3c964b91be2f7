"""The one-pass explainer on real networks: Grad-CAM identity, weights, batching, hooks, determinism.

VGG16 with random weights at 64×64 px keeps these fast; the identities do not depend on training.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from engine import ExplainConfig, Explainer
from engine.explainer import resolve_device
from engine.hooks import LayerCallError, capture_activations
from engine.method import minmax
from tests.engine.engine_testkit import SmallCNN

VGG_LAYERS = [
    "features.11",
    "features.13",
    "features.15",
    "features.18",
    "features.20",
    "features.22",
    "features.25",
    "features.27",
    "features.29",
]


@pytest.fixture(scope="module")
def vgg() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.vgg16().eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))


def reference_pass(
    model: nn.Module, x: torch.Tensor, layers: list[str]
) -> tuple[dict, dict, torch.Tensor]:
    """Activations and gradients computed independently: a copy without in-place ReLUs,
    retain_grad on hooked outputs, a plain backward of the predicted logits."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    modules = dict(model.named_modules())
    acts: dict[str, torch.Tensor] = {}

    def keep(name: str):  # type: ignore[no-untyped-def]
        def hook(_m, _i, out):  # type: ignore[no-untyped-def]
            out.retain_grad()
            acts[name] = out

        return hook

    handles = [modules[name].register_forward_hook(keep(name)) for name in layers]
    logits = model(x)
    target = logits.argmax(1)
    logits.gather(1, target[:, None]).sum().backward()
    for handle in handles:
        handle.remove()
    return {n: a.detach() for n, a in acts.items()}, {n: a.grad for n, a in acts.items()}, target


def test_default_layers_and_eval_mode(vgg: nn.Module) -> None:
    vgg.train()
    explainer = Explainer(vgg, device="cpu", workers=0)
    assert explainer.layers == VGG_LAYERS
    assert not vgg.training
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_gradcam_equals_captum_on_several_layers(vgg: nn.Module, images: torch.Tensor) -> None:
    from captum.attr import LayerGradCam

    layers = ["features.11", "features.20", "features.29"]
    explainer = Explainer(vgg, layers, ExplainConfig(), device="cpu", workers=0)
    results = explainer.explain(images)
    reference_model = copy.deepcopy(vgg)
    for module in reference_model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    targets = [r.target for r in results]
    for name in layers:
        cam = LayerGradCam(reference_model, reference_model.get_submodule(name))
        theirs = (
            cam.attribute(images, target=targets, relu_attributions=True).detach()[:, 0].numpy()
        )
        for b, result in enumerate(results):
            ours = result.layers[name].gradcam
            assert ours.shape == theirs[b].shape
            assert np.ptp(ours) > 0 and np.ptp(theirs[b]) > 0, "compared maps must not be constant"
            np.testing.assert_allclose(minmax(ours), minmax(theirs[b]), atol=1e-4)


@pytest.mark.parametrize("weighting", ["guided", "gradcam"])
def test_single_cluster_equals_weighted_sum_of_activations(
    vgg: nn.Module, images: torch.Tensor, weighting: str
) -> None:
    config = ExplainConfig(weighting=weighting, prune=False, single_cluster=True)  # type: ignore[arg-type]
    results = Explainer(vgg, VGG_LAYERS, config, device="cpu", workers=0).explain(images)
    acts, grads, target = reference_pass(vgg, images, VGG_LAYERS)
    assert [r.target for r in results] == target.tolist()
    for name in VGG_LAYERS:
        a, g = acts[name].double(), grads[name].double()
        if weighting == "guided":
            alpha = (g * (a > 0) * (g > 0)).mean(dim=(2, 3))
        else:
            alpha = g.mean(dim=(2, 3)).clamp(min=0)
        w = 100 * alpha / alpha.sum(dim=1, keepdim=True)
        for b, result in enumerate(results):
            layer = result.layers[name]
            np.testing.assert_allclose(layer.channel_weights, w[b].numpy(), rtol=1e-4, atol=1e-6)
            assert len(layer.clusters) == 1
            (cluster,) = layer.clusters
            assert cluster.weight == pytest.approx(100.0)
            assert cluster.channels.tolist() == torch.nonzero(w[b] > 0).flatten().tolist()
            expected = minmax(torch.einsum("k,khw->hw", w[b], a[b]).numpy())
            assert np.ptp(expected) > 0 and np.ptp(cluster.map) > 0
            np.testing.assert_allclose(cluster.map, expected, atol=1e-4)


def test_guided_weights_pruning_and_clusters_from_direct_computation(
    vgg: nn.Module, images: torch.Tensor
) -> None:
    layers = ["features.13", "features.27"]
    results = Explainer(vgg, layers, ExplainConfig(), device="cpu", workers=2).explain(images[:2])
    acts, grads, _ = reference_pass(vgg, images[:2], layers)
    for name in layers:
        a, g = acts[name].double(), grads[name].double()
        alpha = (g * (a > 0) * (g > 0)).mean(dim=(2, 3))
        w = (100 * alpha / alpha.sum(dim=1, keepdim=True)).numpy()
        threshold = 0.35 if a.shape[1] == 256 else 0.175
        for b, result in enumerate(results):
            layer = result.layers[name]
            np.testing.assert_allclose(layer.channel_weights, w[b], rtol=1e-4, atol=1e-7)
            kept = set(np.flatnonzero(w[b] > threshold).tolist())
            # Channels within float noise of the threshold may go either way.
            borderline = set(np.flatnonzero(np.isclose(w[b], threshold, rtol=1e-4)).tolist())
            assert set(layer.kept_channels.tolist()) ^ kept <= borderline
            for cluster in layer.clusters:
                assert cluster.weight == pytest.approx(w[b][cluster.channels].sum(), rel=1e-4)
                mean_map = np.tensordot(
                    w[b][cluster.channels], a[b].numpy()[cluster.channels], axes=1
                )
                np.testing.assert_allclose(cluster.map, minmax(mean_map), atol=1e-4)


def test_batch_equals_single_image_calls_and_seed_is_deterministic(
    vgg: nn.Module, images: torch.Tensor
) -> None:
    config = ExplainConfig(reduction="ward")
    explainer = Explainer(vgg, VGG_LAYERS[::4], config, device="cpu", workers=2)
    batch = explainer.explain(images)
    again = explainer.explain(images)
    for b in range(images.shape[0]):
        (single,) = explainer.explain(images[b : b + 1])
        for ours, other in ((batch[b], single), (batch[b], again[b])):
            assert ours.target == other.target
            np.testing.assert_allclose(ours.logits, other.logits, rtol=1e-4, atol=1e-4)
            for name, layer in ours.layers.items():
                twin = other.layers[name]
                np.testing.assert_allclose(
                    layer.channel_weights, twin.channel_weights, rtol=1e-3, atol=1e-6
                )
                assert [c.channels.tolist() for c in layer.clusters] == [
                    c.channels.tolist() for c in twin.clusters
                ]
                for c1, c2 in zip(layer.clusters, twin.clusters, strict=True):
                    np.testing.assert_allclose(c1.map, c2.map, atol=1e-4)
    explainer.close()


def test_tsne_same_seed_identical_clusters_across_explainers() -> None:
    torch.manual_seed(3)
    model = SmallCNN()
    x = torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(2))
    config = ExplainConfig(reduction="tsne", seed=11)
    first = Explainer(model, None, config, device="cpu", input_size=56).explain(x)
    second = Explainer(
        copy.deepcopy(model), None, config, device="cpu", workers=0, input_size=56
    ).explain(x)
    for r1, r2 in zip(first, second, strict=True):
        for name in r1.layers:
            assert [c.channels.tolist() for c in r1.layers[name].clusters] == [
                c.channels.tolist() for c in r2.layers[name].clusters
            ]
            np.testing.assert_array_equal(r1.layers[name].labels, r2.layers[name].labels)


def test_one_forward_one_backward_no_parameter_gradients(
    vgg: nn.Module, images: torch.Tensor
) -> None:
    calls = {"forward": 0, "backward": 0}

    def count_forward(*_args: object) -> None:
        calls["forward"] += 1

    def count_backward(*_args: object) -> None:
        calls["backward"] += 1

    handles = [
        vgg.register_forward_pre_hook(count_forward),
        vgg.classifier.register_full_backward_hook(count_backward),
    ]
    try:
        Explainer(vgg, VGG_LAYERS, ExplainConfig(), device="cpu", workers=0).forward_backward(
            images
        )
    finally:
        for handle in handles:
            handle.remove()
    assert calls == {"forward": 1, "backward": 1}
    assert all(p.grad is None for p in vgg.parameters())


def test_targets_choose_the_explained_logit(vgg: nn.Module, images: torch.Tensor) -> None:
    explainer = Explainer(vgg, ["features.29"], ExplainConfig(), device="cpu", workers=0)
    results = explainer.explain(images, targets=[5, None, 7])
    assert results[0].target == 5 and results[2].target == 7
    assert results[1].target == results[1].predicted
    with pytest.raises(ValueError, match="outside"):
        explainer.forward_backward(images, targets=[1, 2, 5000])
    true_config = Explainer(
        vgg, ["features.29"], ExplainConfig(target="true"), device="cpu", workers=0
    )
    with pytest.raises(ValueError, match="true classes"):
        true_config.forward_backward(images)


def test_inplace_relu_after_a_hooked_layer_does_not_corrupt_it() -> None:
    torch.manual_seed(4)
    model = SmallCNN().eval()
    clean = copy.deepcopy(model)
    for module in clean.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    x = torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(5))
    layers = ["features.0", "features.5"]  # convolutions each followed by ReLU(inplace=True)
    with capture_activations(model, layers) as capture, torch.enable_grad():
        model(x)
        assert (capture.activations["features.0"] < 0).any(), "the pre-ReLU output must survive"
    config = ExplainConfig(single_cluster=True, prune=False)
    ours = Explainer(model, layers, config, device="cpu", workers=0).explain(x)
    reference = Explainer(clean, layers, config, device="cpu", workers=0).explain(x)
    for r1, r2 in zip(ours, reference, strict=True):
        for name in layers:
            np.testing.assert_allclose(
                r1.layers[name].gradcam, r2.layers[name].gradcam, rtol=1e-5, atol=1e-6
            )
            np.testing.assert_allclose(
                r1.layers[name].channel_weights, r2.layers[name].channel_weights, rtol=1e-5
            )


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def test_hooks_are_released_also_on_error() -> None:
    model = SmallCNN()
    before = _hook_count(model)
    explainer = Explainer(
        model, ["features.0", "features.9"], ExplainConfig(), device="cpu", workers=0
    )
    with pytest.raises(RuntimeError):
        explainer.forward_backward(torch.randn(1, 5, 56, 56))  # wrong channel count
    assert _hook_count(model) == before

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(
                self.conv(x[:, :, 1:, 1:]).mean((2, 3)) + self.conv(x[:, :, :-1, :-1]).mean((2, 3))
            )

    twice = Twice()
    with pytest.raises(LayerCallError, match="more than once"):
        Explainer(twice, ["conv"], ExplainConfig(), device="cpu", workers=0).forward_backward(
            torch.randn(1, 3, 16, 16)
        )
    assert _hook_count(twice) == 0
    with pytest.raises(KeyError):
        Explainer(model, ["no.such.layer"], device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu() -> None:
    torch.manual_seed(6)
    model = SmallCNN()
    x = torch.randn(2, 3, 56, 56)
    cpu = Explainer(
        copy.deepcopy(model), None, ExplainConfig(), device="cpu", input_size=56
    ).explain(x)
    gpu = Explainer(
        copy.deepcopy(model), None, ExplainConfig(), device="cuda", input_size=56
    ).explain(x)
    for r1, r2 in zip(cpu, gpu, strict=True):
        for name in r1.layers:
            np.testing.assert_allclose(
                r1.layers[name].channel_weights,
                r2.layers[name].channel_weights,
                rtol=1e-3,
                atol=1e-5,
            )
