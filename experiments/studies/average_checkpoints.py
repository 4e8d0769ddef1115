"""Average the weights of several per-epoch checkpoints of one run into one model file.

A one-off check of weight averaging (Izmailov et al. 2018, "stochastic weight averaging",
here over the last epochs of the cosine schedule): one network, so colorizing costs the
same, unlike an ensemble. Batch-norm statistics are averaged too, not recomputed.

    python experiments/studies/average_checkpoints.py runs/class-cpu 13 17 --output runs/swa-13-17/model.keras
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("first_epoch", type=int)
    parser.add_argument("last_epoch", type=int)
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()

    import keras
    import numpy as np

    import huenet.losses  # noqa: F401  registers huenet's losses and metrics
    from huenet import rundir

    epochs = range(arguments.first_epoch, arguments.last_epoch + 1)
    paths = [Path(arguments.run_dir) / rundir.CHECKPOINTS / rundir.checkpoint_name(epoch) for epoch in epochs]
    network = keras.saving.load_model(paths[0], compile=False)
    total = [np.asarray(weight, np.float64) for weight in network.get_weights()]
    for path in paths[1:]:
        for index, weight in enumerate(keras.saving.load_model(path, compile=False).get_weights()):
            total[index] += weight
    network.set_weights([(weight / len(paths)).astype(np.float32) for weight in total])
    Path(arguments.output).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        averaged = Path(folder) / "averaged.keras"
        network.save(averaged)
        rundir.export_checkpoint(
            arguments.run_dir, averaged, arguments.output, training={"averaged_epochs": [epochs[0], epochs[-1]]}
        )
    print(f"averaged epochs {epochs[0]}-{epochs[-1]} of {arguments.run_dir} -> {arguments.output}")


if __name__ == "__main__":
    main()
