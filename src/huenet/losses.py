"""Training losses and metrics of the three heads (levels, ab bins, ab regression).

Registered as Keras serializables under the package name "huenet", so that checkpoints
that name them load.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from huenet import color
from huenet.kerasutil import import_keras_quietly

keras = import_keras_quietly()
from keras import ops  # noqa: E402  (after the quiet import above)


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
        weights = ops.take(
            ops.convert_to_tensor(np.asarray(self.bin_weights, np.float32)), ops.argmin(distance2, axis=-1)
        )
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
        hits = ops.cast(
            ops.equal(ops.argmax(scores, axis=-1), ops.reshape(ops.cast(y_true, "int32"), (-1, 3))), "float32"
        )
        super().update_state(hits, sample_weight=sample_weight)


def make_loss_and_metrics(settings: dict[str, Any], head: str, bin_prior: np.ndarray | None = None) -> tuple[Any, list]:
    """The training loss and metrics for a head with the given settings."""
    if head == "levels":
        return LevelsCrossEntropy(from_logits=settings.get("output_activation", "logits") == "logits"), [
            LevelsAccuracy()
        ]
    if head == "ab_bins":
        prior = bin_prior if bin_prior is not None else np.ones(len(color.ab_bins()))
        weights = color.rebalancing_weights(prior, mix=settings.get("rebalance_mix", 0.5))
        return AbBinCrossEntropy(weights.tolist()), [AbError(head)]
    loss_name = settings.get("loss", "huber")
    losses = {
        "l1": keras.losses.MeanAbsoluteError(),
        "l2": keras.losses.MeanSquaredError(),
        "huber": keras.losses.Huber(delta=0.1),
    }
    if loss_name not in losses:
        raise ValueError(f"unknown regression loss {loss_name!r}; choose one of {', '.join(losses)}")
    return losses[loss_name], [AbError(head)]
