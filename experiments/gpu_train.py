"""Train within a wall-clock budget on a lent GPU machine, and bring the run back whole.

A GPU machine is lent for minutes, in one call, so the number of epochs cannot be tried
out first. This script measures the two costs of a step on the machine at hand (the batch
pipeline on the CPU, the training step on the accelerator), picks the largest epoch count
that fits ``--budget`` seconds, and then runs the ordinary ``huenet train`` code path with
it, so the run is the same as ``huenet train ... --epochs N`` on any machine. A watchdog
stops training after the epoch that crosses ``--deadline`` (the run then keeps its best
epoch so far). The run's small files and the model, split into parts under 16 MB, are
copied to ``--out``; join the parts with ``cat model.keras.part-* > model.keras``.

    KERAS_BACKEND=jax python experiments/gpu_train.py --data train.tar.gz --budget 420 \\
        --deadline 480 --max-epochs 60 --run-dir /tmp/run --out "$OUT"

Variants: ``--set KEY=VALUE`` changes preset settings (the network, e.g. dropout_rate,
skip_squeeze) and names the run's preset after them; ``--train KEY=VALUE`` changes training
settings (TrainConfig fields, e.g. max_shift, weight_decay, seed).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import math
import shutil
import time
from pathlib import Path

import numpy as np

STARTED = time.time()


def measure_step_seconds(config, steps: int = 30) -> tuple[float, float]:
    """(training step, batch pipeline with the run's worker threads) seconds per batch."""
    from huenet import batches, models, train

    settings = models.resolve_settings(config.preset, **config.preset_overrides())
    preset = models.get_preset(config.preset)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4 * config.batch_size, 32, 32, 3), dtype=np.uint8)
    stride = models.output_stride(settings)

    def one_batch(index: int):
        batch_rng = np.random.default_rng(index)
        batch = batches.augment(
            images,
            batch_rng.permutation(len(images))[: config.batch_size],
            batch_rng,
            crop_size=None,
            max_shift=config.max_shift,
            flip=config.flip,
        )
        return batches.make_batch(batch, preset.head, stride, settings.get("color_space", "rgb"))

    inputs, targets = one_batch(0)
    batch_count = max(steps, 4 * config.workers)
    pipeline_started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(config.workers) as pool:  # as Keras' PyDataset workers run
        list(pool.map(one_batch, range(batch_count)))
    pipeline = (time.perf_counter() - pipeline_started) / batch_count  # seconds per batch, all threads together

    network = train.compile_network(config)  # the network train() will fit, untrained prior
    for _ in range(5):  # compile and warm up
        network.train_on_batch(inputs, targets)
    step_started = time.perf_counter()
    for _ in range(steps):
        network.train_on_batch(inputs, targets)
    step = (time.perf_counter() - step_started) / steps
    return step, pipeline


def derive_preset(name: str, assignments: list[str]) -> str:
    """Register PRESET-KEY-VALUE... in this process (the saved model needs no registry to load)."""
    import json

    from huenet import models

    try:
        overrides = {key: json.loads(value) for key, _, value in (item.partition("=") for item in assignments)}
    except json.JSONDecodeError as error:
        raise SystemExit(f"--set {' '.join(assignments)}: values must be numbers or true/false ({error})") from None
    derived = name + "".join(f"-{key}-{str(value).lower()}" for key, value in overrides.items())
    try:
        models.derive_preset(name, derived, **overrides)
    except ValueError as error:
        raise SystemExit(f"--set: {error}") from None
    return derived


# Fields gpu_train sets itself; --train may change any other TrainConfig field.
OWN_FIELDS = {"preset", "data", "limit", "precision", "run_dir", "verbose", "epochs", "workers", "resume"}


def train_overrides(assignments: list[str]) -> dict:
    """KEY=VALUE strings -> TrainConfig fields, typed from each field's default (regularization variants)."""
    from huenet import train

    fields = {field.name: field for field in dataclasses.fields(train.TrainConfig)}
    overrides = {}
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        key = key.replace("-", "_")
        if key not in fields or key in OWN_FIELDS or not value:
            raise SystemExit(
                f"--train {assignment}: expected KEY=VALUE with KEY one of "
                f"{', '.join(sorted(set(fields) - OWN_FIELDS))}"
            )
        default = fields[key].default
        try:
            if isinstance(default, bool):
                if value.lower() not in ("true", "false"):
                    raise ValueError(value)
                overrides[key] = value.lower() == "true"
            elif isinstance(default, (int, float)):
                overrides[key] = type(default)(value)
            else:  # None or text defaults: an int or float if it reads as one, else the text
                overrides[key] = _number_or_text(value)
        except ValueError:
            raise SystemExit(f"--train {assignment}: {value!r} is not a valid {key}") from None
    return overrides


def _number_or_text(value: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--preset", default="huenet-base")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="variant: override preset settings (integers, floats, true/false), as compare_variants.py does",
    )
    parser.add_argument(
        "--train",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="training settings (TrainConfig fields such as max_shift, weight_decay, learning_rate, seed)",
    )
    parser.add_argument("--precision", default="bfloat16")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument(
        "--workers", type=int, default=8, help="batch-pipeline threads (the pipeline, not the GPU, set the pace)"
    )
    parser.add_argument("--budget", type=float, required=True, help="seconds the training run may take")
    parser.add_argument(
        "--deadline", type=float, required=True, help="seconds after start when training stops regardless"
    )
    parser.add_argument("--started", type=float, default=None, help="unix time the budget counts from (default: now)")
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="train exactly this many epochs, no timing (the deadline still holds). On a shared CPU the "
        "timing is skewed by whatever else runs: on 2026-11-26 a busy machine made it pick 6 epochs, not 17",
    )
    parser.add_argument("--startup-seconds", type=float, default=45.0, help="data loading and compilation, guessed")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    global STARTED
    STARTED = args.started or STARTED

    import keras

    from huenet import train

    if args.set:
        args.preset = derive_preset(args.preset, args.set)
    config = train.TrainConfig(
        preset=args.preset,
        data=args.data,
        limit=args.limit,
        precision=args.precision,
        run_dir=args.run_dir,
        verbose=2,
        epochs=1,
        workers=args.workers,
        **train_overrides(args.train),
    )
    if args.epochs is not None:
        epochs = args.epochs
        print(f"{epochs} epochs, as given", flush=True)
    else:
        epochs = pick_epochs(args, config)

    class Deadline(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if time.time() - STARTED > args.deadline:
                print(f"deadline reached after epoch {epoch + 1}; stopping", flush=True)
                self.model.stop_training = True

    config = dataclasses.replace(config, epochs=epochs)
    model_path = train.train(config, extra_callbacks=[Deadline()])

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("history.csv", "config.json", "wall_time.json", "model-card.md"):
        if (Path(args.run_dir) / name).exists():
            shutil.copy(Path(args.run_dir) / name, out / name)
    blob = model_path.read_bytes()
    part_size = 16_000_000  # one file for a huenet-class model (15.3 MB): a call returns at most 8 files of 16 MiB
    for index in range(0, len(blob), part_size):
        (out / f"model.keras.part-{index // part_size}").write_bytes(blob[index : index + part_size])
    print(
        f"done in {time.time() - STARTED:.0f} s; model {len(blob)} bytes in {math.ceil(len(blob) / part_size)} parts",
        flush=True,
    )


def pick_epochs(args: argparse.Namespace, config) -> int:
    """The largest epoch count whose measured cost fits what is left of --budget."""
    step, pipeline = measure_step_seconds(config)
    # CIFAR-10's 50,000 unless --limit says otherwise; for other data the deadline still holds.
    train_images = (args.limit or 50_000) * (1 - config.validation_fraction)
    batches = math.ceil(train_images / config.batch_size)
    validation_batches = math.ceil(train_images / 9 / config.batch_size)
    # Counted as if the pipeline's threads did not overlap the step at all (the safe side).
    # In 2026-11-26 one thread took 18-22 ms per batch against a 7 ms step on an H200.
    epoch_seconds = batches * (step + pipeline) + validation_batches * (step / 3 + pipeline) + 1.0
    left = args.budget - (time.time() - STARTED) - args.startup_seconds
    epochs = max(1, min(args.max_epochs, int(left / epoch_seconds)))
    print(
        f"step {step * 1000:.1f} ms, pipeline {pipeline * 1000:.1f} ms per batch; "
        f"about {epoch_seconds:.1f} s per epoch; {left:.0f} s left: {epochs} epochs",
        flush=True,
    )
    return epochs


if __name__ == "__main__":
    main()
