"""Model presets: a registry of named architectures and the settings they are built with.

Every network is fully convolutional on ``keras.Input((None, None, 1))``: normalized
lightness in, one of three kinds of output ("heads") out:

- ``levels``: the seed experiments' head. Per pixel, 3 x 256 scores: one 256-class
  distribution for each 8-bit channel of a chosen color space (rgb, hsv, lab, yuv).
- ``ab_bins``: logits over the quantized in-gamut ab bins (``color.ab_bins()``), trained
  with soft-encoded, class-rebalanced cross-entropy and decoded by annealed mean
  (Zhang, Isola, Efros 2016).
- ``ab_regression``: two channels of normalized ab, trained with L1, L2 or Huber.

The registry imports no Keras: listing presets and resolving their settings is instant.
The builders live in ``huenet.seed`` and ``huenet.unet`` (imported when a network is
built), the losses and metrics in ``huenet.losses``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from typing import Any, Callable

from huenet import color
from huenet.geometry import output_stride, pad_multiple  # noqa: F401  (part of this module's API)

HEADS = ("levels", "ab_bins", "ab_regression")


@dataclasses.dataclass(frozen=True)
class Preset:
    """One registry entry: a builder and the settings it is built with."""

    name: str
    builder: str  # "module:function", imported when the network is built
    head: str
    description: str
    settings: dict[str, Any]

    def build_function(self) -> Callable[..., Any]:
        module, function = self.builder.split(":")
        return getattr(importlib.import_module(module), function)


_REGISTRY: dict[str, Preset] = {}


def _register(name: str, builder: str, head: str, description: str, **settings: Any) -> None:
    _REGISTRY[name] = Preset(name, builder, head, description, settings)


def derive_preset(base: str, name: str, **overrides: Any) -> Preset:
    """Register ``name``: preset ``base`` with some settings changed, in this process only.

    For experiments (variant runs) that train through ``train()`` by preset name. A model
    saved from it loads without the entry: the file holds its architecture and settings.
    Deriving the same name again with the same settings returns the existing entry.
    """
    if not re.fullmatch(r"[A-Za-z0-9.][A-Za-z0-9_.-]*", name):
        # The preset name becomes the Keras model name, which TensorFlow uses as a scope.
        raise ValueError(f"preset name {name!r}: use letters, digits, '.', '_' and '-' only")
    parent = get_preset(base)
    settings = resolve_settings(base, **overrides)
    existing = _REGISTRY.get(name)
    if existing is not None:
        if existing.settings == settings and existing.builder == parent.builder:
            return existing
        raise ValueError(f"preset {name!r} already exists with other settings; pick another name")
    changes = ", ".join(f"{key}={value}" for key, value in overrides.items())
    _register(name, parent.builder, parent.head, f"{base} with {changes}", **settings)
    return _REGISTRY[name]


def preset_names() -> list[str]:
    """Names of all registered presets, in registration order."""
    return list(_REGISTRY)


def get_preset(name: str) -> Preset:
    """Look up a preset; raises ValueError naming the valid choices."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(_REGISTRY)}") from None


def resolve_settings(name: str, **overrides: Any) -> dict[str, Any]:
    """The preset's settings with ``overrides`` applied; unknown keys raise ValueError."""
    preset = get_preset(name)
    unknown = sorted(set(overrides) - set(preset.settings))
    if unknown:
        raise ValueError(
            f"preset {name!r} has no setting {', '.join(unknown)}; its settings are {', '.join(preset.settings)}"
        )
    settings = {**preset.settings, **{k: v for k, v in overrides.items() if v is not None}}
    for key in ("class_loss_weight", "palette_loss_weight"):
        weight = settings.get(key, 0.0)
        if not (isinstance(weight, (int, float)) and not isinstance(weight, bool) and 0 <= weight < float("inf")):
            raise ValueError(f"{key} must be a number, 0 (off) or more, got {weight!r}")
    if "color_space" in settings and settings["color_space"] not in color.COLOR_SPACES:
        raise ValueError(
            f"unknown color space {settings['color_space']!r}; choose one of {', '.join(color.COLOR_SPACES)}"
        )
    return settings


def build_model(name: str, num_classes: int = 0, palette: bool = False, **overrides: Any) -> Any:
    """Build preset ``name`` with optional setting overrides (e.g. ``dropout_rate=0.2``).

    ``num_classes`` > 0 adds the training-only class head of presets with a
    ``class_loss_weight``, and ``palette`` the training-only palette head of presets with a
    ``palette_loss_weight`` (see ``build_unet``); the network then has named outputs.
    """
    preset = get_preset(name)
    settings = resolve_settings(name, **overrides)
    builder = preset.build_function()
    parameters = set(inspect.signature(builder).parameters)
    builder_arguments = {k: v for k, v in settings.items() if k in parameters}
    if num_classes:
        if "num_classes" not in parameters or not settings.get("class_loss_weight"):
            raise ValueError(f"preset {name!r} has no class head (it needs a class_loss_weight above 0)")
        builder_arguments["num_classes"] = num_classes
    if palette:
        if "palette" not in parameters or not settings.get("palette_loss_weight"):
            raise ValueError(f"preset {name!r} has no palette head (it needs a palette_loss_weight above 0)")
        builder_arguments["palette"] = True
    if "head" in parameters:
        builder_arguments["head"] = preset.head
    if "num_bins" in parameters:
        builder_arguments["num_bins"] = len(color.ab_bins())
    return builder(name=name, **builder_arguments)


# --- the registry -------------------------------------------------------------------------

_SEED_SETTINGS = dict(color_space="rgb", dropout_rate=0.0, working_size=32)
_register(
    "seed-dense",
    "huenet.seed:build_seed_dense",
    "levels",
    "seed: one per-pixel dense layer, 256-class levels",
    output_activation="logits",
    **_SEED_SETTINGS,
)
_register(
    "seed-conv",
    "huenet.seed:build_seed_conv",
    "levels",
    "seed: one 3x3 conv, 256-class levels",
    output_activation="logits",
    **_SEED_SETTINGS,
)
_register(
    "seed-conv2",
    "huenet.seed:build_seed_conv2",
    "levels",
    "seed: two 3x3 convs + batch norm, ReLU then sigmoid",
    output_activation="sigmoid",
    filters=64,
    **_SEED_SETTINGS,
)
_UNET = dict(
    base_filters=32,
    depth=3,
    output_stride=2,
    dropout_rate=0.0,
    global_context=False,
    skip_squeeze=False,
    class_loss_weight=0.0,
    palette_loss_weight=0.0,
    hint_inputs=False,
    hint_branch=False,
    working_size=32,
)
_register(
    "unet-tiny",
    "huenet.unet:build_unet",
    "ab_regression",
    "tiny U-Net for tests (regression, 8 filters)",
    **{**_UNET, "base_filters": 8, "depth": 2},
    loss="huber",
)
_register(
    "unet-regression",
    "huenet.unet:build_unet",
    "ab_regression",
    "U-Net regressing ab (Huber by default; L1, L2)",
    **_UNET,
    loss="huber",
)
_register(
    "unet-classification",
    "huenet.unet:build_unet",
    "ab_bins",
    "U-Net over ab bins, rebalanced, annealed mean",
    **_UNET,
    rebalance_mix=0.5,
    temperature=0.38,
)
_HUENET_BASE = {**_UNET, "base_filters": 48, "global_context": True, "dropout_rate": 0.1}
_register(
    "huenet-base",
    "huenet.unet:build_unet",
    "ab_bins",
    "wide U-Net with global context over ab bins (bundled before v4)",
    **_HUENET_BASE,
    rebalance_mix=1.0,
    temperature=1.0,
)
# The auxiliary class loss needs class labels: a CIFAR-10 release or class folders.
_register(
    "huenet-class",
    "huenet.unet:build_unet",
    "ab_bins",
    "default model: huenet-base, squeezed decoder, trained with an auxiliary class loss",
    **{**_HUENET_BASE, "skip_squeeze": True, "class_loss_weight": 0.1},
    rebalance_mix=1.0,
    temperature=1.0,
)
# Photos: huenet-class's network, run at 64 pixels (Tiny ImageNet's size; the bundled photo
# model's calibrated working size replaces it), class loss over the photo classes.
_register(
    "huenet-photo",
    "huenet.unet:build_unet",
    "ab_bins",
    "photo model: huenet-class's network for photos (Tiny ImageNet, 64 px)",
    **{**_HUENET_BASE, "skip_squeeze": True, "class_loss_weight": 0.1, "working_size": 64},
    rebalance_mix=1.0,
    temperature=1.0,
)
# Photos with a pretrained encoder (since 2026-12-06): EfficientNet-Lite0 (ImageNet) reads the
# lightness, frozen unless train_encoder_from names a block; a U-Net decoder maps its features
# to ab bins. depth 5: inputs are multiples of 32 (the encoder's deepest stride).
_ENCODER_UNET = {
    "decoder_filters": (160, 96, 64, 32),
    "context_filters": 256,
    "dropout_rate": 0.0,
    "hint_inputs": False,
    "hint_branch": False,
    # The hints a hint branch trains on: patches up to 7 px (a person's hint at the working
    # size is about 5), half of them where the truth is colorful (hints.sample_training_hints).
    "max_patch": 7,
    "colorful_share": 0.5,
    "encoder_weights": "imagenet",
    "train_encoder_from": None,
    # Decoders on the one encoder, their logits averaged (experiments/join_decoders.py).
    "decoders": 1,
    "depth": 5,
    "output_stride": 2,
    "working_size": 224,
    "class_loss_weight": 0.0,
    "rebalance_mix": 1.0,
    "temperature": 1.0,
}
_register(
    "huenet-lite0",
    "huenet.unet:build_encoder_unet",
    "ab_bins",
    "photo model on a pretrained EfficientNet-Lite0 encoder (ImageNet) with a U-Net decoder",
    **_ENCODER_UNET,
)
# The same decoder on EfficientNet-Lite1 (2026-12-07): more blocks a stage, Lite0's feature widths.
_register(
    "huenet-lite1",
    "huenet.unet:build_encoder_unet",
    "ab_bins",
    "huenet-lite0's decoder on EfficientNet-Lite1 (ImageNet; Lite0's widths, 21 blocks)",
    **_ENCODER_UNET,
    encoder_variant="lite1",
)
