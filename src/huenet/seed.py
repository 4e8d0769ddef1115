"""The seed write-up's architectures: 3 x 256-class channel levels per pixel ("levels" head).

Registered as presets ``seed-dense``, ``seed-conv`` and ``seed-conv2`` in ``huenet.models``.
"""

from __future__ import annotations

from huenet.kerasutil import import_keras_quietly

keras = import_keras_quietly()
from keras import layers  # noqa: E402  (after the quiet import above)


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
