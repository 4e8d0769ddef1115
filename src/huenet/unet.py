"""huenet's U-Net: normalized lightness in, ab bins or ab out, with optional training-only heads.

Model code uses only ``keras``, ``keras.layers`` and ``keras.ops`` so that every preset
builds under the TensorFlow, JAX and PyTorch backends.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from huenet.kerasutil import import_keras_quietly

keras = import_keras_quietly()
from keras import layers  # noqa: E402  (after the quiet import above)

CLASS_OUTPUT = "class"  # name of the training-only class head's output
PALETTE_OUTPUT = "palette"  # name of the training-only palette head's output
AUXILIARY_OUTPUTS = (CLASS_OUTPUT, PALETTE_OUTPUT)


def _conv_block(x: Any, filters: int, dropout_rate: float) -> Any:
    for _ in range(2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    if dropout_rate:
        x = layers.SpatialDropout2D(dropout_rate)(x)
    return x


HINT_PREFIX = "hint_"  # names of the hint branch's layers (``build_unet(hint_branch=True)``)
HINT_GATE = HINT_PREFIX + "gate"


def _add_hint_branch(
    inputs: Any, skips: list, bottleneck: Any, base_filters: int, depth: int, first_level: int
) -> tuple[list, Any]:
    """The skips and bottleneck with the gated hint branch's features added (see ``build_unet``)."""
    from huenet.hints import HINT_CHANNELS

    # The gate: the hint mask (the last input channel, picked by a fixed 1x1 convolution),
    # its maximum over the image: (batch, 1, 1, 1), 1 with hints and 0 without.
    selector = layers.Conv2D(1, 1, use_bias=False, trainable=False, name=HINT_PREFIX + "mask")
    mask = selector(inputs)
    selector.set_weights([np.eye(1 + HINT_CHANNELS, dtype="float32")[:, -1:].reshape(1, 1, -1, 1)])
    gate = layers.GlobalMaxPooling2D(keepdims=True, name=HINT_GATE)(mask)
    x = inputs
    added = []
    for level in range(depth):
        for step in range(2):
            x = layers.Conv2D(
                base_filters * 2**level, 3, padding="same", use_bias=False, name=f"{HINT_PREFIX}conv_{level}_{step}"
            )(x)
            x = layers.BatchNormalization(name=f"{HINT_PREFIX}norm_{level}_{step}")(x)
            x = layers.Activation("relu", name=f"{HINT_PREFIX}relu_{level}_{step}")(x)
        if level >= first_level:
            added.append(x)
        x = layers.MaxPooling2D(2, name=f"{HINT_PREFIX}pool_{level}")(x)
    added.append(x)  # to the bottleneck, from the branch's deepest level pooled

    def zero_conv(features: Any, filters: int, name: str) -> Any:
        features = layers.Conv2D(
            filters, 1, use_bias=False, kernel_initializer="zeros", name=f"{HINT_PREFIX}zero_{name}"
        )(features)
        return layers.Multiply(name=f"{HINT_PREFIX}gated_{name}")([features, gate])

    skips = list(skips)
    for level, features in zip(range(first_level, depth), added):
        skips[level] = layers.Add(name=f"{HINT_PREFIX}add_{level}")(
            [skips[level], zero_conv(features, base_filters * 2**level, str(level))]
        )
    bottleneck_filters = base_filters * 2**depth
    bottleneck = layers.Add(name=f"{HINT_PREFIX}add_bottleneck")(
        [bottleneck, zero_conv(added[-1], bottleneck_filters, "bottleneck")]
    )
    return skips, bottleneck


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
    hint_inputs: bool = False,
    hint_branch: bool = False,
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
    ``hint_inputs`` adds three input channels after the lightness: user color hints as
    normalized ab and a mask (``huenet.hints``; Zhang, Zhu et al. 2017). All zeros is an
    automatic colorization.
    ``hint_branch`` (with ``hint_inputs``) adds a trainable copy of the encoder that reads
    the lightness and the hints, as ControlNet (Zhang et al. 2023) conditions a frozen
    network: its features at each decoder level and at the bottleneck pass through 1x1
    convolutions that start at zero and are added to the network's own. The branch is
    gated by the image's hint mask (its maximum: 0 or 1), so an image without hints gets
    exactly the network without the branch, whatever the branch learned, and the rest of
    the network can stay frozen (``huenet train --hint-branch``).
    """
    if head not in ("ab_bins", "ab_regression"):
        raise ValueError(f"U-Net head must be 'ab_bins' or 'ab_regression', got {head!r}")
    if output_stride not in (1, 2):
        raise ValueError(f"output_stride must be 1 or 2, got {output_stride!r}")
    from huenet.hints import HINT_CHANNELS

    if hint_branch and not hint_inputs:
        raise ValueError("the hint branch reads the hint inputs: set hint_inputs")
    inputs = keras.Input((None, None, 1 + (HINT_CHANNELS if hint_inputs else 0)), name="lightness")
    x = inputs
    skips = []
    for level in range(depth):
        x = _conv_block(x, base_filters * 2**level, 0.0)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    bottleneck_filters = base_filters * 2**depth
    x = _conv_block(x, bottleneck_filters, dropout_rate)
    if hint_branch:
        first_level = 1 if output_stride == 2 else 0
        skips, x = _add_hint_branch(inputs, skips, x, base_filters, depth, first_level)
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
            auxiliary[CLASS_OUTPUT] = layers.Dense(num_classes, dtype="float32", name=CLASS_OUTPUT)(
                layers.Flatten()(context)
            )
        if palette:
            auxiliary[PALETTE_OUTPUT] = layers.Dense(num_bins, dtype="float32", name=PALETTE_OUTPUT)(
                layers.Flatten()(context)
            )
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


def inference_network(network: keras.Model) -> keras.Model:
    """The network without its training-only heads (unchanged if it has none).

    A huenet model file holds one output, the colors; the class and palette heads only
    shaped training.
    """
    if not isinstance(network.output, dict):
        return network
    (head,) = [name for name in network.output if name not in AUXILIARY_OUTPUTS]
    return keras.Model(network.input, network.output[head], name=network.name)


DECODER_PREFIX = "decoder_"  # names of the encoder network's decoder layers (its first decoder's)
ENCODER_UNET_HINTS = DECODER_PREFIX + "hints"  # the encoder network's hint path into its decoder


def decoder_prefix(index: int) -> str:
    """The layer-name prefix of the encoder network's decoder ``index`` (from 0)."""
    return DECODER_PREFIX if index == 0 else f"decoder{index + 1}_"


def is_decoder_layer(name: str, head: str) -> bool:
    """Whether layer ``name`` of a one-decoder encoder network is its decoder's (``head``: its output)."""
    return name.startswith(DECODER_PREFIX) or name == head


ENCODER_HINT_WIDTHS = {2: 16, 4: 24, 8: 40, 16: 64, 32: 96}  # the hint branch's channels at each stride


def _encoder_hint_branch(inputs: Any, features: dict[str, Any]) -> dict[int, tuple[Any, Any]]:
    """The encoder network's hint branch: {stride: (features, gate)} for strides 2 to 32.

    The hints (and the lightness) go down by strided 3x3 convolutions; from stride 4 on,
    each level also reads the frozen encoder's features at its stride, so that the branch
    knows what the hinted thing is and where it ends, and the deepest level (a 7x7 grid at
    the working size) sees the whole photo. The gate is the image's largest hint-mask
    value (1 with hints, 0 without), so without hints the branch adds exactly nothing
    (and the NumPy engine skips it, ``numpy_network.NumpyNetwork._gates``). 0.6M weights,
    a few percent of the network's cost."""
    from huenet.hints import HINT_CHANNELS

    selector = layers.Conv2D(1, 1, use_bias=False, trainable=False, name=HINT_PREFIX + "mask")
    mask = selector(inputs)
    selector.set_weights([np.eye(1 + HINT_CHANNELS, dtype="float32")[:, -1:].reshape(1, 1, -1, 1)])
    gate = layers.GlobalMaxPooling2D(keepdims=True, name=HINT_GATE)(mask)

    def conv_bn_relu(x: Any, filters: int, strides: int, label: str) -> Any:
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{HINT_PREFIX}{label}")(x)
        x = layers.BatchNormalization(name=f"{HINT_PREFIX}{label}_bn")(x)
        return layers.Activation("relu", name=f"{HINT_PREFIX}{label}_relu")(x)

    x, branch = inputs, {}
    for stride, filters in ENCODER_HINT_WIDTHS.items():
        x = conv_bn_relu(x, filters, 2, f"down{stride}")
        if stride >= 4:
            x = layers.Concatenate(name=f"{HINT_PREFIX}read{stride}")([x, features[f"stride{stride}"]])
            x = conv_bn_relu(x, filters, 1, f"level{stride}")
        branch[stride] = (x, gate)
    return branch


def build_encoder_unet(
    name: str = "encoder-unet",
    head: str = "ab_bins",
    decoder_filters: tuple = (160, 96, 64, 32),
    context_filters: int = 256,
    dropout_rate: float = 0.0,
    num_bins: int = 0,
    hint_inputs: bool = False,
    encoder_weights: str | None = "imagenet",
    train_encoder_from: int | None = None,
    hint_branch: bool = False,
    encoder_variant: str = "lite0",
    decoders: int = 1,
) -> keras.Model:
    """The pretrained EfficientNet-Lite0 (``huenet.encoder``; ``encoder_variant`` "lite1" for
    Lite1, the same widths, more blocks) and a U-Net decoder to ab bins.

    The encoder reads the lightness; the decoder starts from its deepest features (stride 32,
    with the 1x1 head's) plus a global context (their average, through a dense layer: what
    the scene is), and climbs to stride 2 through the encoder's stride 16, 8, 4 and 2
    features (U-Net skips), one level of ``decoder_filters`` each. The output is ab-bin logits
    at stride 2, as ``build_unet``'s. ``hint_inputs`` adds the hint channels, read by the
    decoder: the encoder reads the lightness alone, and the whole input enters the stride-2
    level through a strided convolution that starts at zero (``ENCODER_UNET_HINTS``), so until
    it is trained on hints the network predicts what it did without them.
    ``encoder_weights="imagenet"`` loads the ImageNet weights (needs the
    ``train`` extra); the encoder is frozen, or trainable from block ``train_encoder_from`` on.

    ``hint_branch`` (with ``hint_inputs``) adds a small gated branch that carries the hints
    into every decoder level (``_encoder_hint_branch``): an image without hints gets
    exactly the network without it, so it trains alone on a frozen network
    (``huenet train --hint-branch``).

    ``decoders`` 2 or more: that many decoders on the one encoder, their logits averaged (the
    output ``head``; each decoder's own is ``head_1``, ``head_2``, ...). The first decoder's
    layers keep the names of a one-decoder network (``decoder_...``), the k-th's are
    ``decoder{k}_...``, so each is filled from a one-decoder network trained apart
    (``experiments/join_decoders.py``).
    """
    from huenet import encoder
    from huenet.hints import HINT_CHANNELS

    if head != "ab_bins":
        raise ValueError(f"the encoder U-Net predicts ab bins, got head {head!r}")
    if len(decoder_filters) != 4:
        raise ValueError(f"decoder_filters: one width for each of strides 16, 8, 4 and 2, got {decoder_filters!r}")
    if hint_branch and not hint_inputs:
        raise ValueError("the hint branch reads the hint inputs: set hint_inputs")
    if not isinstance(decoders, int) or isinstance(decoders, bool) or not 1 <= decoders <= 4:
        raise ValueError(f"decoders: 1 to 4, got {decoders!r}")
    if hint_branch and decoders > 1:
        raise ValueError("a hint branch feeds one decoder: build it with decoders=1")
    inputs = keras.Input((None, None, 1 + (HINT_CHANNELS if hint_inputs else 0)), name="lightness")
    features = encoder.build_encoder(inputs, encoder_variant)
    branch = _encoder_hint_branch(inputs, features) if hint_branch else {}

    def with_hints(x: Any, stride: int) -> Any:
        """The decoder's features at ``stride`` plus the branch's, through a 1x1 convolution
        that starts at zero, times the gate (0 for an image without hints)."""
        if stride not in branch:
            return x
        features, gate = branch[stride]
        added = layers.Conv2D(
            x.shape[-1], 1, use_bias=False, kernel_initializer="zeros", name=f"{HINT_PREFIX}zero{stride}"
        )(features)
        added = layers.Multiply(name=f"{HINT_PREFIX}gated{stride}")([added, gate])
        return layers.Add(name=f"{HINT_PREFIX}add{stride}")([x, added])

    def decoder(prefix: str, head_name: str) -> Any:
        """One decoder, its layers named ``prefix``...: the ab-bin logits."""

        def conv_bn_relu(x: Any, filters: int, kernel: int, label: str) -> Any:
            x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{prefix}{label}_conv")(x)
            x = layers.BatchNormalization(name=f"{prefix}{label}_bn")(x)
            return layers.Activation("relu", name=f"{prefix}{label}_relu")(x)

        x = layers.Concatenate(name=f"{prefix}deep_concat")([features["stride32"], features["head"]])
        x = with_hints(conv_bn_relu(x, context_filters, 1, "deep"), 32)
        context = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}context_pool")(features["head"])
        context = layers.Dense(context_filters, activation="relu", name=f"{prefix}context")(context)
        x = layers.Add(name=f"{prefix}context_add")([x, context])
        for filters, stride in zip(decoder_filters, (16, 8, 4, 2)):
            x = layers.UpSampling2D(2, interpolation="bilinear", name=f"{prefix}up{stride}")(x)
            x = layers.Concatenate(name=f"{prefix}skip{stride}")([x, features[f"stride{stride}"]])
            x = with_hints(conv_bn_relu(x, filters, 1, f"squeeze{stride}"), stride)
            if hint_inputs and stride == 2:
                hints_name = prefix + ENCODER_UNET_HINTS.removeprefix(DECODER_PREFIX)
                hints = layers.Conv2D(
                    filters,
                    3,
                    strides=2,
                    padding="same",
                    use_bias=False,
                    kernel_initializer="zeros",
                    name=hints_name,
                )(inputs)
                x = layers.Add(name=f"{hints_name}_add")([x, hints])
            x = conv_bn_relu(x, filters, 3, f"level{stride}")
            if dropout_rate and stride >= 8:
                x = layers.SpatialDropout2D(dropout_rate, name=f"{prefix}dropout{stride}")(x)
        return layers.Conv2D(num_bins, 1, name=head_name)(x)

    if decoders == 1:
        outputs = decoder(DECODER_PREFIX, head)
    else:
        # Each decoder's logits (``decoder_prefix``), averaged: trained apart from different
        # starts, they make different errors (experiments/join_decoders.py puts them together).
        outputs = layers.Average(name=head)([decoder(decoder_prefix(k), f"{head}_{k + 1}") for k in range(decoders)])
    network = keras.Model(inputs, outputs, name=name)
    if encoder_weights == "imagenet":
        encoder.set_weights(network, name=encoder_variant)
    elif encoder_weights is not None:
        raise ValueError(f"encoder_weights must be 'imagenet' or None, got {encoder_weights!r}")
    encoder.freeze(network, train_encoder_from)
    return network


def join_decoders(networks: list[keras.Model], joint: keras.Model, rtol: float = 0.0, atol: float = 0.0) -> None:
    """Fill ``joint`` (``build_encoder_unet(decoders=len(networks))``) from one-decoder encoder
    networks trained apart: decoder k from ``networks[k]``, the encoder from the first.

    The decoders were each trained on their own network's encoder features, so those
    encoders must hold the same weights (within ``rtol`` and ``atol``: frozen ones are the
    pretrained weights, perhaps stored in float16). A network without the hint inputs
    leaves its decoder's hint path at zero, as ``add_hint_inputs`` would. Raises ValueError
    naming the layer that does not fit."""
    from huenet import encoder

    average = joint.layers[-1]
    if type(average).__name__ != "Average" or len(networks) != len(average.input):
        raise ValueError(f"the joint network must average {len(networks)} decoders")
    head = average.name
    sources = [{layer.name: layer for layer in network.layers if layer.weights} for network in networks]
    for layer in joint.layers:
        if not layer.weights:
            continue
        index, name = 0, layer.name
        for k in range(1, len(networks)):
            if name.startswith(decoder_prefix(k)):
                index, name = k, DECODER_PREFIX + name.removeprefix(decoder_prefix(k))
        if name.startswith(f"{head}_"):
            index, name = int(name.rsplit("_", 1)[1]) - 1, head
        source = sources[index].get(name)
        if source is None and name in (ENCODER_UNET_HINTS, encoder.INPUT_SELECT):
            continue  # a network without hint inputs: the joint network's start (zero; the lightness select)
        if source is None:
            raise ValueError(f"decoder {index + 1}'s network has no layer {name!r}")
        weights = source.get_weights()
        if [w.shape for w in weights] != [tuple(w.shape) for w in layer.weights]:
            raise ValueError(f"layer {name!r} of decoder {index + 1}'s network does not fit the joint network")
        if index == 0 and not is_decoder_layer(name, head) and name != encoder.INPUT_SELECT:
            for k, other in enumerate(sources[1:], start=2):  # the shared encoder: every network's the same
                theirs = other.get(name)
                if theirs is None or any(
                    not np.allclose(a, b, rtol=rtol, atol=atol) for a, b in zip(weights, theirs.get_weights())
                ):
                    raise ValueError(f"network {k}'s encoder differs from the first's at layer {name!r}")
        layer.set_weights(weights)
