"""Model presets: a registry of named architectures, their losses and how to decode them.

Every network is fully convolutional on ``keras.Input((None, None, 1))``: normalized
lightness in, one of three kinds of output ("heads") out:

- ``levels``: the seed experiments' head. Per pixel, 3 x 256 scores: one 256-class
  distribution for each 8-bit channel of a chosen color space (rgb, hsv, lab, yuv).
- ``ab_bins``: logits over the quantized in-gamut ab bins (``color.ab_bins()``), trained
  with soft-encoded, class-rebalanced cross-entropy and decoded by annealed mean
  (Zhang, Isola, Efros 2016).
- ``ab_regression``: two channels of normalized ab, trained with L1, L2 or Huber.

Model code uses only ``keras``, ``keras.layers`` and ``keras.ops`` so that every preset
builds under the TensorFlow, JAX and PyTorch backends.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any, Callable

import numpy as np

from huenet import color
from huenet.geometry import output_stride, pad_multiple  # noqa: F401  (part of this module's API)
from huenet.modelfile import import_keras_quietly

keras = import_keras_quietly()
from keras import layers, ops  # noqa: E402  (after the quiet import above)

HEADS = ("levels", "ab_bins", "ab_regression")


@dataclasses.dataclass(frozen=True)
class Preset:
    """One registry entry: a builder and the settings it is built with."""

    name: str
    builder: Callable[..., keras.Model]
    head: str
    description: str
    settings: dict[str, Any]


_REGISTRY: dict[str, Preset] = {}


def _register(name: str, builder: Callable[..., keras.Model], head: str, description: str, **settings: Any) -> None:
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
        if existing.settings == settings and existing.builder is parent.builder:
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
        raise ValueError(f"unknown color space {settings['color_space']!r}; choose one of {', '.join(color.COLOR_SPACES)}")
    return settings


def build_model(name: str, num_classes: int = 0, palette: bool = False, **overrides: Any) -> keras.Model:
    """Build preset ``name`` with optional setting overrides (e.g. ``dropout_rate=0.2``).

    ``num_classes`` > 0 adds the training-only class head of presets with a
    ``class_loss_weight``, and ``palette`` the training-only palette head of presets with a
    ``palette_loss_weight`` (see ``build_unet``); the network then has named outputs.
    """
    preset = get_preset(name)
    settings = resolve_settings(name, **overrides)
    parameters = _builder_parameters(preset.builder)
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
    return preset.builder(name=name, **builder_arguments)


def _builder_parameters(builder: Callable[..., Any]) -> set[str]:
    return set(inspect.signature(builder).parameters)


# --- seed architectures ---------------------------------------------------------------


def build_seed_dense(name: str = "seed-dense", dropout_rate: float = 0.0) -> keras.Model:
    """The seed's "one dense layer".

    Interpretation: a dense layer applied to each pixel's gray value (Keras ``Dense`` acts on
    the last axis), mapping it to 3 x 256 logits. A dense layer over the flattened image
    would need 32*32 x 32*32*768 weights (800M) and could not take other sizes, so the
    seed can only have meant a per-pixel layer.
    """
    inputs = keras.Input((None, None, 1), name="lightness")
    x = layers.Dropout(dropout_rate)(inputs) if dropout_rate else inputs
    outputs = layers.Dense(3 * 256, name="levels")(x)
    return keras.Model(inputs, outputs, name=name)


def build_seed_conv(name: str = "seed-conv", dropout_rate: float = 0.0) -> keras.Model:
    """The seed's "one 3x3 conv": a single 3x3 convolution straight to 3 x 256 logits."""
    inputs = keras.Input((None, None, 1), name="lightness")
    x = layers.Dropout(dropout_rate)(inputs) if dropout_rate else inputs
    outputs = layers.Conv2D(3 * 256, 3, padding="same", name="levels")(x)
    return keras.Model(inputs, outputs, name=name)


def build_seed_conv2(name: str = "seed-conv2", filters: int = 64, dropout_rate: float = 0.0) -> keras.Model:
    """The seed's "two convs with batch norm (ReLU then sigmoid)".

    Interpretation: conv 3x3 (64 filters, a width the text does not give) -> batch norm ->
    ReLU -> conv 3x3 to 3 x 256 -> batch norm -> sigmoid. The sigmoid scores of each
    channel are divided by their sum to form the 256-class distribution that cross-entropy
    needs, which is what Keras' ``categorical_crossentropy`` does with non-logit outputs.
    """
    inputs = keras.Input((None, None, 1), name="lightness")
    x = layers.Conv2D(filters, 3, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    if dropout_rate:
        x = layers.Dropout(dropout_rate)(x)
    x = layers.Conv2D(3 * 256, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    outputs = layers.Activation("sigmoid", name="levels")(x)
    return keras.Model(inputs, outputs, name=name)


# --- U-Net ----------------------------------------------------------------------------


def _conv_block(x: Any, filters: int, dropout_rate: float) -> Any:
    for _ in range(2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    if dropout_rate:
        x = layers.SpatialDropout2D(dropout_rate)(x)
    return x


def build_unet(
    name: str = "unet",
    head: str = "ab_regression",
    base_filters: int = 32,
    depth: int = 3,
    output_stride: int = 2,
    dropout_rate: float = 0.0,
    global_context: bool = False,
    skip_squeeze: bool = False,
    num_bins: int = 0,
    num_classes: int = 0,
    palette: bool = False,
) -> keras.Model:
    """A U-Net from normalized lightness to ab (regression) or ab-bin logits.

    ``output_stride=2`` stops the decoder one level early and predicts ab at half
    resolution: chroma carries little high-frequency detail (JPEG's 4:2:0 stores it at half
    resolution too) and the full-resolution lightness restores the edges at recombination.
    ``global_context`` adds image-level features (global average pool -> dense) to the
    bottleneck, as Iizuka et al. (2016) do, so that a patch's colors can depend on the scene.
    ``skip_squeeze`` maps each decoder level's concatenated input (upsampled + skip, three
    times the level's width) to the level's width with a 1x1 convolution before its 3x3
    convolutions: those first 3x3 convolutions are over 40% of huenet-base's compute.
    ``num_classes`` > 0 (training only) adds Iizuka et al.'s auxiliary classification: a
    dense layer from the global context features to class logits, so that those features
    are pushed to encode what the scene is. The network's outputs are then a dict
    ``{head: ab, "class": logits}``; ``inference_network`` drops the class head again.
    ``palette`` (training only, ab_bins head) adds a second image-level head on the same
    features: logits over the ab bins, trained towards the image's color histogram (its
    pixels' soft-encoded ab, averaged), which needs no labels. It is named "palette".
    """
    if head not in ("ab_bins", "ab_regression"):
        raise ValueError(f"U-Net head must be 'ab_bins' or 'ab_regression', got {head!r}")
    if output_stride not in (1, 2):
        raise ValueError(f"output_stride must be 1 or 2, got {output_stride!r}")
    inputs = keras.Input((None, None, 1), name="lightness")
    x = inputs
    skips = []
    for level in range(depth):
        x = _conv_block(x, base_filters * 2**level, 0.0)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    bottleneck_filters = base_filters * 2**depth
    x = _conv_block(x, bottleneck_filters, dropout_rate)
    if (num_classes or palette) and not global_context:
        raise ValueError("the class and palette heads read the global context features: set global_context")
    if palette and head != "ab_bins":
        raise ValueError("the palette head predicts a histogram over the ab bins: it needs the ab_bins head")
    auxiliary = {}
    if global_context:
        context = layers.GlobalAveragePooling2D(keepdims=True)(x)  # (batch, 1, 1, filters)
        context = layers.Dense(bottleneck_filters, activation="relu")(context)
        x = layers.Add()([x, context])
        if num_classes:
            auxiliary[CLASS_OUTPUT] = layers.Dense(num_classes, dtype="float32", name=CLASS_OUTPUT)(layers.Flatten()(context))
        if palette:
            auxiliary[PALETTE_OUTPUT] = layers.Dense(num_bins, dtype="float32", name=PALETTE_OUTPUT)(layers.Flatten()(context))
    for level in reversed(range(depth)):
        if output_stride == 2 and level == 0:
            break
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = layers.Concatenate()([x, skips[level]])
        if skip_squeeze:
            x = layers.Conv2D(base_filters * 2**level, 1, use_bias=False)(x)
        x = _conv_block(x, base_filters * 2**level, dropout_rate if level > 0 else 0.0)
    channels = num_bins if head == "ab_bins" else 2
    outputs = layers.Conv2D(channels, 1, name=head)(x)  # (batch, h / stride, w / stride, channels)
    if auxiliary:
        return keras.Model(inputs, {head: outputs, **auxiliary}, name=name)
    return keras.Model(inputs, outputs, name=name)


CLASS_OUTPUT = "class"  # name of the training-only class head's output
PALETTE_OUTPUT = "palette"  # name of the training-only palette head's output
AUXILIARY_OUTPUTS = (CLASS_OUTPUT, PALETTE_OUTPUT)


def inference_network(network: keras.Model) -> keras.Model:
    """The network without its training-only heads (unchanged if it has none).

    A huenet model file holds one output, the colors; the class and palette heads only
    shaped training.
    """
    if not isinstance(network.output, dict):
        return network
    (head,) = [name for name in network.output if name not in AUXILIARY_OUTPUTS]
    return keras.Model(network.input, network.output[head], name=network.name)


# --- losses and metrics -----------------------------------------------------------------


@keras.saving.register_keras_serializable(package="huenet")
class LevelsCrossEntropy(keras.losses.Loss):
    """Cross-entropy of 3 x 256-class channel levels. y_true: (batch, h, w, 3) ints."""

    def __init__(self, from_logits: bool = True, name: str = "levels_crossentropy", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.from_logits = from_logits

    def call(self, y_true: Any, y_pred: Any) -> Any:
        scores = ops.reshape(y_pred, (-1, 3, 256))  # (pixels, channel, level)
        if self.from_logits:
            log_probabilities = ops.log_softmax(scores, axis=-1)
        else:
            probabilities = scores / ops.maximum(ops.sum(scores, axis=-1, keepdims=True), 1e-7)
            log_probabilities = ops.log(ops.clip(probabilities, 1e-7, 1.0))
        labels = ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1, 3)), 256)
        return -ops.mean(ops.sum(labels * log_probabilities, axis=-1), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits}


def _soft_encode(y_true: Any, sigma: float) -> tuple[Any, Any]:
    """(target distribution over the ab bins, squared distances to the bins) of normalized ab."""
    centers = ops.convert_to_tensor(color.ab_bins())  # (Q, 2)
    ab = ops.cast(y_true, "float32") * color.AB_SCALE
    distance2 = ops.sum(ops.square(ops.expand_dims(ab, -2) - centers), axis=-1)  # (batch, h, w, Q)
    return ops.softmax(-distance2 / (2.0 * sigma**2), axis=-1), distance2


@keras.saving.register_keras_serializable(package="huenet")
class AbBinCrossEntropy(keras.losses.Loss):
    """Soft-encoded, rebalanced cross-entropy over ab bins (Zhang et al. 2016).

    y_true: normalized ab, (batch, h, w, 2). The target distribution is a Gaussian
    (``sigma`` in Lab units) around the true ab over the bin centers; each pixel is weighted
    by the rebalancing weight of its nearest bin.
    """

    def __init__(self, bin_weights: list[float], sigma: float = 5.0, name: str = "ab_bin_crossentropy", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.bin_weights = [float(w) for w in bin_weights]
        self.sigma = float(sigma)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        target, distance2 = _soft_encode(y_true, self.sigma)
        log_probabilities = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        crossentropy = -ops.sum(target * log_probabilities, axis=-1)
        weights = ops.take(ops.convert_to_tensor(np.asarray(self.bin_weights, np.float32)), ops.argmin(distance2, axis=-1))
        return crossentropy * weights

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "bin_weights": self.bin_weights, "sigma": self.sigma}


@keras.saving.register_keras_serializable(package="huenet")
class PaletteCrossEntropy(keras.losses.Loss):
    """Cross-entropy between an image's ab histogram and the palette head's prediction.

    y_true: normalized ab, (batch, h, w, 2), the same targets as the ab-bin head; the
    histogram is the mean of the pixels' soft encodings. y_pred: (batch, Q) logits.
    """

    def __init__(self, sigma: float = 5.0, name: str = "palette_crossentropy", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.sigma = float(sigma)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        target, _ = _soft_encode(y_true, self.sigma)
        histogram = ops.mean(target, axis=(1, 2))  # (batch, Q)
        return -ops.sum(histogram * ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "sigma": self.sigma}


@keras.saving.register_keras_serializable(package="huenet")
class AbError(keras.metrics.Mean):
    """Mean Euclidean ab error in Lab units of the plain (temperature 1) decoding."""

    def __init__(self, head: str = "ab_regression", name: str = "ab_error", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.head = head

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = ops.cast(y_pred, "float32")
        if self.head == "ab_bins":
            ab_pred = ops.matmul(ops.softmax(y_pred, axis=-1), ops.convert_to_tensor(color.ab_bins()))
        else:
            ab_pred = y_pred * color.AB_SCALE
        error = ops.sqrt(ops.sum(ops.square(ab_pred - ops.cast(y_true, "float32") * color.AB_SCALE), axis=-1) + 1e-12)
        super().update_state(error, sample_weight=sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "head": self.head}


@keras.saving.register_keras_serializable(package="huenet")
class LevelsAccuracy(keras.metrics.Mean):
    """The seed's "accuracy": share of 8-bit channel values predicted exactly."""

    def __init__(self, name: str = "accuracy", **kwargs: Any):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        scores = ops.reshape(y_pred, (-1, 3, 256))  # (pixels, channel, level)
        hits = ops.cast(ops.equal(ops.argmax(scores, axis=-1), ops.reshape(ops.cast(y_true, "int32"), (-1, 3))), "float32")
        super().update_state(hits, sample_weight=sample_weight)


def make_loss_and_metrics(settings: dict[str, Any], head: str, bin_prior: np.ndarray | None = None) -> tuple[Any, list]:
    """The training loss and metrics for a head with the given settings."""
    if head == "levels":
        return LevelsCrossEntropy(from_logits=settings.get("output_activation", "logits") == "logits"), [LevelsAccuracy()]
    if head == "ab_bins":
        prior = bin_prior if bin_prior is not None else np.ones(len(color.ab_bins()))
        weights = color.rebalancing_weights(prior, mix=settings.get("rebalance_mix", 0.5))
        return AbBinCrossEntropy(weights.tolist()), [AbError(head)]
    loss_name = settings.get("loss", "huber")
    losses = {"l1": keras.losses.MeanAbsoluteError(), "l2": keras.losses.MeanSquaredError(), "huber": keras.losses.Huber(delta=0.1)}
    if loss_name not in losses:
        raise ValueError(f"unknown regression loss {loss_name!r}; choose one of {', '.join(losses)}")
    return losses[loss_name], [AbError(head)]


# --- the registry -------------------------------------------------------------------------

_SEED_SETTINGS = dict(color_space="rgb", dropout_rate=0.0, working_size=32)
_register("seed-dense", build_seed_dense, "levels", "seed: one per-pixel dense layer, 256-class levels",
          output_activation="logits", **_SEED_SETTINGS)
_register("seed-conv", build_seed_conv, "levels", "seed: one 3x3 conv, 256-class levels",
          output_activation="logits", **_SEED_SETTINGS)
_register("seed-conv2", build_seed_conv2, "levels", "seed: two 3x3 convs + batch norm, ReLU then sigmoid",
          output_activation="sigmoid", filters=64, **_SEED_SETTINGS)
_UNET = dict(base_filters=32, depth=3, output_stride=2, dropout_rate=0.0, global_context=False, skip_squeeze=False,
             class_loss_weight=0.0, palette_loss_weight=0.0, working_size=32)
_register("unet-tiny", build_unet, "ab_regression", "tiny U-Net for tests (regression, 8 filters)",
          **{**_UNET, "base_filters": 8, "depth": 2}, loss="huber")
_register("unet-regression", build_unet, "ab_regression", "U-Net regressing ab (Huber by default; L1, L2)",
          **_UNET, loss="huber")
_register("unet-classification", build_unet, "ab_bins", "U-Net over ab bins, rebalanced, annealed mean",
          **_UNET, rebalance_mix=0.5, temperature=0.38)
_HUENET_BASE = {**_UNET, "base_filters": 48, "global_context": True, "dropout_rate": 0.1}
_register("huenet-base", build_unet, "ab_bins", "wide U-Net with global context over ab bins (bundled before v4)",
          **_HUENET_BASE, rebalance_mix=1.0, temperature=1.0)
# The auxiliary class loss needs class labels: a CIFAR-10 release or class folders.
_register("huenet-class", build_unet, "ab_bins", "default model: huenet-base, squeezed decoder, trained with an auxiliary class loss",
          **{**_HUENET_BASE, "skip_squeeze": True, "class_loss_weight": 0.1}, rebalance_mix=1.0, temperature=1.0)
