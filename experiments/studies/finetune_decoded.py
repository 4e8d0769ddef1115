"""One-off experiment: fine-tune a trained ab-bin model on the error of its own decoding.

The bin cross-entropy trains a distribution. AuC and PSNR score the annealed mean decoded
from it. This adds ``--weight`` x the mean Euclidean ab error of the annealed mean at
``--temperature`` to the loss and trains a few more epochs from the trained weights. Then
it writes a model that `experiments/calibrate.py` can score against the original.

    python experiments/studies/finetune_decoded.py runs/default-v3/model.keras \\
        --data ../shared/data/cifar10-jpeg/train.tar.gz --epochs 3 --output runs/finetune/model.keras
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from huenet import color, datasets, losses, train
from huenet.modelfile import load_model, read_metadata, save_model


@keras.saving.register_keras_serializable(package="huenet_experiments")
class BinsPlusDecodedError(keras.losses.Loss):
    """Rebalanced bin cross-entropy plus weight x Euclidean error of the annealed mean."""

    def __init__(self, bin_weights, temperature=0.3, weight=0.1, name="bins_plus_decoded", **kwargs):
        super().__init__(name=name, **kwargs)
        self.crossentropy = losses.AbBinCrossEntropy(bin_weights)
        self.bin_weights, self.temperature, self.weight = bin_weights, temperature, weight

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        decoded = ops.matmul(ops.softmax(logits / self.temperature, axis=-1), ops.convert_to_tensor(color.ab_bins()))
        truth = ops.cast(y_true, "float32") * color.AB_SCALE
        error = ops.sqrt(ops.sum(ops.square(decoded - truth), axis=-1) + 1e-6)
        return self.crossentropy.call(y_true, y_pred) + self.weight * error

    def get_config(self):
        return {
            **super().get_config(),
            "bin_weights": self.bin_weights,
            "temperature": self.temperature,
            "weight": self.weight,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--temperature", type=float, default=0.3)
    parser.add_argument("--weight", type=float, default=0.1)
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()

    model = load_model(arguments.model, engine="keras")  # throughput over many images: Keras is faster there
    metadata = read_metadata(arguments.model)
    config = metadata["training"]["config"]
    settings = metadata["settings"]
    images = datasets.load_images(arguments.data, split="train", limit=config.get("limit"), seed=config.get("seed", 0))
    train_set, validation_set = datasets.split_train_validation(images, config["validation_fraction"], config["seed"])
    weights = color.rebalancing_weights(np.asarray(metadata["bin_prior"]), mix=settings.get("rebalance_mix", 0.5))
    network = model.network
    loss = BinsPlusDecodedError(weights.tolist(), arguments.temperature, arguments.weight)
    optimizer = keras.optimizers.AdamW(learning_rate=arguments.learning_rate, weight_decay=config["weight_decay"])
    network.compile(optimizer=optimizer, loss=loss, metrics=[losses.AbError("ab_bins")])
    run_config = train.TrainConfig(**{k: v for k, v in config.items() if k in train.TrainConfig.__dataclass_fields__})
    run_config = dataclasses.replace(run_config, seed=run_config.seed + 1)  # fresh augmentation draws

    def learning_rate(epoch, _current):
        return 0.5 * arguments.learning_rate * (1 + math.cos(math.pi * epoch / arguments.epochs))

    started = time.time()
    history = network.fit(
        train._make_sequence(train_set.images, run_config, "ab_bins", settings, training=True),
        validation_data=train._make_sequence(validation_set.images, run_config, "ab_bins", settings, training=False),
        epochs=arguments.epochs,
        verbose=2,
        callbacks=[keras.callbacks.LearningRateScheduler(learning_rate)],
    )
    metadata.pop("format", None)
    metadata["finetune"] = {
        **vars(arguments),
        "history": history.history,
        "wall_time_seconds": round(time.time() - started, 1),
    }
    Path(arguments.output).parent.mkdir(parents=True, exist_ok=True)
    save_model(network, arguments.output, metadata)
    print(json.dumps(metadata["finetune"]["history"]))


if __name__ == "__main__":
    main()
