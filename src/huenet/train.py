"""Training: one settings dataclass, a batch pipeline, and ``train(config)``.

What a run writes and how it is continued (``--resume``) is ``huenet.rundir``'s; this
module builds the network, feeds it and fits it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from huenet import batches, cifar10, datasets, models, rundir
from huenet.kerasutil import import_keras_quietly
from huenet.modelfile import save_model, sha256_of


@dataclasses.dataclass
class TrainConfig:
    """Settings of one training run; every CLI flag of ``huenet train`` maps to a field."""

    preset: str = dataclasses.field(default="unet-regression", metadata={"help": "model preset (see huenet models)"})
    data: str = dataclasses.field(
        default="",
        metadata={
            "help": "training images: folder, tar(.gz), CIFAR-10 release, or cifar10 / cifar10-binary (cached release)"
        },
    )
    download: bool = dataclasses.field(
        default=False, metadata={"help": "fetch cifar10 / cifar10-binary into the cache if missing (needs internet)"}
    )
    validation_data: str | None = dataclasses.field(
        default=None, metadata={"help": "a separate validation source; default: split off --data"}
    )
    validation_fraction: float = dataclasses.field(
        default=0.1, metadata={"help": "share of --data held out for validation"}
    )
    limit: int | None = dataclasses.field(
        default=None,
        metadata={
            "help": "use only N training images, sampled evenly across classes (folders) with --seed (quick runs)"
        },
    )
    epochs: int = dataclasses.field(default=10, metadata={"help": "number of epochs"})
    batch_size: int = dataclasses.field(default=128, metadata={"help": "images per batch"})
    learning_rate: float = dataclasses.field(default=1e-3, metadata={"help": "peak learning rate (AdamW)"})
    schedule: str = dataclasses.field(
        default="cosine", metadata={"help": "cosine (per epoch, resume-safe) or constant"}
    )
    schedule_epochs: int | None = dataclasses.field(
        default=None,
        metadata={
            "help": "the cosine schedule's length in epochs (default: --epochs); more than --epochs stops the "
            "schedule early, as a run that was stopped after --epochs epochs"
        },
    )
    weight_decay: float = dataclasses.field(default=1e-4, metadata={"help": "AdamW weight decay"})
    early_stopping_patience: int = dataclasses.field(
        default=0, metadata={"help": "stop after this many epochs without a better validation metric (0: never)"}
    )
    dropout_rate: float | None = dataclasses.field(
        default=None, metadata={"help": "dropout rate (default: the preset's)"}
    )
    class_loss_weight: float | None = dataclasses.field(
        default=None, metadata={"help": "weight of the auxiliary class loss, 0 turns it off (default: the preset's)"}
    )
    hint_inputs: bool | None = dataclasses.field(
        default=None,
        metadata={
            "help": "U-Net presets: take color hints as extra inputs, drawn from the truth while training (default: the preset's)"
        },
    )
    hint_branch: bool = dataclasses.field(
        default=False,
        metadata={
            "help": "U-Net presets, with --init-from: add a hint branch (a copy of the encoder, gated by the hints) and train it alone; the initial network stays frozen, so colorizing without hints is exactly the initial model's"
        },
    )
    train_encoder_from: int | None = dataclasses.field(
        default=None,
        metadata={
            "help": "pretrained-encoder presets: train the encoder's blocks from this one (0-15) on, batch norms frozen (default: the preset's; frozen)"
        },
    )
    init_from: str | None = dataclasses.field(
        default=None,
        metadata={
            "help": "fine-tune: start from this huenet model file's weights (same preset) and keep its ab-bin prior"
        },
    )
    color_space: str | None = dataclasses.field(default=None, metadata={"help": "seed presets: rgb, hsv, lab or yuv"})
    loss: str | None = dataclasses.field(default=None, metadata={"help": "regression presets: l1, l2 or huber"})
    max_shift: int = dataclasses.field(default=2, metadata={"help": "random shift augmentation, pixels"})
    crop_size: int | None = dataclasses.field(
        default=None, metadata={"help": "random crops of this size (needed for images of different sizes)"}
    )
    flip: bool = dataclasses.field(default=True, metadata={"help": "random horizontal flips"})
    workers: int = dataclasses.field(
        default=1,
        metadata={
            "help": "threads preparing batches; more help where the accelerator waits on them (results do not depend on it)"
        },
    )
    precision: str = dataclasses.field(
        default="float32",
        metadata={
            "help": "float32, or bfloat16 (mixed precision: faster on CPUs with AVX512-BF16 or AMX; the saved model is float32)"
        },
    )
    seed: int = dataclasses.field(
        default=0, metadata={"help": "random seed (split, shuffling, augmentation, initialization)"}
    )
    run_dir: str = dataclasses.field(default="", metadata={"help": "run directory (default runs/PRESET-TIMESTAMP)"})
    resume: bool = dataclasses.field(
        default=False,
        metadata={
            "help": "continue a killed run in --run-dir from its last finished epoch, or a finished run from its last checkpoint up to a higher --epochs"
        },
    )
    verbose: int = dataclasses.field(
        default=1, metadata={"help": "Keras output: 1 progress bar, 2 one line per epoch, 0 silent"}
    )

    def check(self) -> None:
        """Refuse settings no run can use, before any data is read (one clear ValueError)."""
        problems = [
            (self.epochs < 1, f"epochs must be at least 1, got {self.epochs}"),
            (
                self.schedule_epochs is not None and self.schedule_epochs < self.epochs,
                f"schedule epochs must be at least --epochs ({self.epochs}), got {self.schedule_epochs}",
            ),
            (self.batch_size < 1, f"batch size must be at least 1, got {self.batch_size}"),
            (not self.learning_rate > 0, f"learning rate must be positive, got {self.learning_rate}"),
            (not self.weight_decay >= 0, f"weight decay must be 0 or more, got {self.weight_decay}"),
            (self.limit is not None and self.limit < 1, f"limit must be at least 1 image, got {self.limit}"),
            (
                not 0 <= self.validation_fraction < 1,
                f"validation fraction must be in [0, 1), got {self.validation_fraction}",
            ),
            (
                self.early_stopping_patience < 0,
                f"early stopping patience must be 0 (off) or more, got {self.early_stopping_patience}",
            ),
            (
                self.dropout_rate is not None and not 0 <= self.dropout_rate < 1,
                f"dropout rate must be in [0, 1), got {self.dropout_rate}",
            ),
            (
                self.train_encoder_from is not None and not 0 <= self.train_encoder_from <= 15,
                f"train encoder from must be a block from 0 to 15, got {self.train_encoder_from}",
            ),
            (self.max_shift < 0, f"max shift must be 0 or more pixels, got {self.max_shift}"),
            (
                self.crop_size is not None and self.crop_size < 1,
                f"crop size must be at least 1 pixel, got {self.crop_size}",
            ),
            (self.workers < 1, f"workers must be at least 1, got {self.workers}"),
            (
                self.schedule not in ("cosine", "constant"),
                f"unknown schedule {self.schedule!r}; choose cosine or constant",
            ),
            (
                self.precision not in PRECISIONS,
                f"unknown precision {self.precision!r}; choose {' or '.join(PRECISIONS)}",
            ),
            (self.verbose not in (0, 1, 2), f"verbose must be 0, 1 or 2, got {self.verbose}"),
            (
                self.hint_branch and not self.init_from,
                "--hint-branch trains a branch beside a trained network: give --init-from",
            ),
            (
                self.hint_branch and self.hint_inputs is False,
                "--hint-branch reads the hint inputs: drop --no-hint-inputs",
            ),
        ]
        for failed, message in problems:
            if failed:
                raise ValueError(message)

    def preset_overrides(self) -> dict[str, Any]:
        settings = models.get_preset(self.preset).settings
        candidates = {
            "dropout_rate": self.dropout_rate,
            "color_space": self.color_space,
            "loss": self.loss,
            "class_loss_weight": self.class_loss_weight,
            "hint_inputs": self.hint_inputs,
            "hint_branch": True if self.hint_branch else None,
            "train_encoder_from": self.train_encoder_from,
        }
        if self.hint_branch:
            candidates["hint_inputs"] = True
        unsupported = [k for k, v in candidates.items() if v is not None and k not in settings]
        if unsupported:
            raise ValueError(f"preset {self.preset!r} has no setting {', '.join(unsupported)}")
        return {k: v for k, v in candidates.items() if v is not None}


def _monitor(head: str, with_auxiliary: bool = False) -> tuple[str, str]:
    if head == "levels":
        return "val_accuracy", "max"
    # With auxiliary heads Keras prefixes each output's metrics with the output's name.
    return (f"val_{head}_ab_error" if with_auxiliary else "val_ab_error"), "min"


def _has_palette(settings: dict[str, Any]) -> bool:
    return bool(settings.get("palette_loss_weight"))


def _class_ids(settings: dict[str, Any], train_set: Any, validation_set: Any) -> tuple[list[str], Any, Any]:
    """(class names, training ids, validation ids) for the auxiliary class loss, or ([], None, None)."""
    if not settings.get("class_loss_weight"):
        return [], None, None
    classes = sorted(set(train_set.labels))
    if len(classes) < 2:
        found = "images outside class folders only" if classes == [""] else f"only {classes[0]!r}"
        raise ValueError(
            f"class_loss_weight needs training images of at least two classes (a CIFAR-10 release, or CLASS/IMAGE "
            f"folders), found {found}"
        )
    unknown = sorted(set(validation_set.labels) - set(classes))
    if unknown:
        raise ValueError(f"validation images of classes the training images lack: {', '.join(unknown[:5])}")
    index = {name: i for i, name in enumerate(classes)}
    return (
        classes,
        np.array([index[label] for label in train_set.labels], np.int32),
        np.array([index[label] for label in validation_set.labels], np.int32),
    )


def _make_sequence(
    images: Any,
    config: TrainConfig,
    head: str,
    settings: dict[str, Any],
    training: bool,
    class_ids: np.ndarray | None = None,
) -> Any:
    keras = import_keras_quietly()

    from huenet import unet

    palette = _has_palette(settings)

    class BatchSequence(keras.utils.PyDataset):
        """Shuffled, augmented batches, rebuilt each epoch from a seeded generator."""

        def __init__(self) -> None:
            # Each batch draws from its own generator seeded by (seed, epoch, index), and Keras
            # runs the workers of one epoch between on_epoch_begin and on_epoch_end, so threads
            # change only the speed, never the batches. The epoch is set by _EpochSync from
            # the training loop's own count, so a resumed run draws what an unbroken one would.
            super().__init__(workers=config.workers, use_multiprocessing=False)
            self.set_epoch(0)

        def set_epoch(self, epoch: int) -> None:
            self.epoch = epoch
            self.order = self._order()

        def _order(self) -> np.ndarray:
            if not training:
                return np.arange(len(images))
            return np.random.default_rng([config.seed, self.epoch]).permutation(len(images))

        def __len__(self) -> int:
            return math.ceil(len(images) / config.batch_size)

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            indices = self.order[index * config.batch_size : (index + 1) * config.batch_size]
            rng = np.random.default_rng([config.seed, self.epoch, index])
            batch = batches.augment(
                images,
                indices,
                rng,
                crop_size=config.crop_size,
                max_shift=config.max_shift if training else 0,
                flip=config.flip and training,
            )
            hint_rng, no_hint_share = (rng if training else None), None
            if settings.get("hint_branch"):
                # The branch is gated off on images without hints: every image gets some, and
                # validation draws fixed ones (its no-hint score is the frozen network's).
                hint_rng = rng if training else np.random.default_rng([config.seed, _VALIDATION_HINTS, index])
                no_hint_share = 0.0
            inputs, targets = batches.make_batch(
                batch,
                head,
                models.output_stride(settings),
                settings.get("color_space", "rgb"),
                hint_inputs=bool(settings.get("hint_inputs")),
                hint_rng=hint_rng,
                no_hint_share=no_hint_share,
                hint_draw={key: settings[key] for key in _HINT_DRAW_SETTINGS if key in settings},
            )
            if class_ids is None and not palette:
                return inputs, targets
            outputs = {head: targets}
            if class_ids is not None:
                outputs[unet.CLASS_OUTPUT] = class_ids[indices]
            if palette:
                outputs[unet.PALETTE_OUTPUT] = targets  # the loss turns them into the image's histogram
            return inputs, outputs

    return BatchSequence()


# Preset settings that shape the training hints (``hints.sample_training_hints``' arguments).
_HINT_DRAW_SETTINGS = ("max_patch", "colorful_share")
_VALIDATION_HINTS = 7_919  # seeds the validation batches' hints apart from every training batch's


def _epoch_sync(sequence: Any, seed: int) -> Any:
    """A callback that makes each epoch depend on its number alone, not on how the run got there.

    At the start of epoch N it sets the batch sequence's epoch (shuffling and augmentation)
    and the state of every random layer (dropout) to values derived from (seed, N). A run
    resumed after epoch N-1 then trains epoch N exactly as an uninterrupted run does.
    """
    keras = import_keras_quietly()

    class _EpochSync(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            sequence.set_epoch(epoch)
            for index, generator in enumerate(_seed_generators(self.model)):
                state = np.random.default_rng([seed, epoch, index]).integers(0, 2**31, 2)
                generator.state.assign(keras.ops.convert_to_tensor(state, dtype=generator.state.dtype))

    return _EpochSync()


def _seed_generators(network: Any) -> list:
    """The random-number generators of a network's layers (dropout), in layer order."""
    keras = import_keras_quietly()

    found = []
    for layer in network._flatten_layers(include_self=False):
        for value in vars(layer).values():
            if isinstance(value, keras.random.SeedGenerator) and all(value is not g for g in found):
                found.append(value)
    return found


def train(config: TrainConfig, extra_callbacks: list | None = None) -> Path:
    """Run one training run; returns the path of the best model file.

    ``extra_callbacks`` are Keras callbacks added to the run's own (for tools and tests).

    Raises:
        ValueError: bad settings; datasets.DatasetError: unreadable data.
    """
    keras = import_keras_quietly()

    preset = models.get_preset(config.preset)
    settings = models.resolve_settings(config.preset, **config.preset_overrides())
    if not config.data:
        raise ValueError("no training data given")
    config.check()
    initial = _initial_model(config) if config.init_from else None  # checked before the run directory exists
    run_dir = rundir.open_run_dir(config.run_dir, config.preset, config.resume)
    finished_run = rundir.finished_run_checkpoint(
        run_dir, config.resume, config.epochs
    )  # one given no more epochs is refused before any data is read
    keras.utils.set_random_seed(config.seed)
    loaded, train_set, validation_set = _load_data(config)
    # Checked before anything is written, so a refused run leaves its directory empty.
    classes, train_class_ids, validation_class_ids = _class_ids(settings, train_set, validation_set)
    config = _fit_crop_to_network(
        config, train_set.images, max(models.pad_multiple(settings), models.output_stride(settings))
    )
    bin_prior = None
    if preset.head == "ab_bins":
        if initial is not None and initial.metadata.get("bin_prior") is not None:
            bin_prior = np.asarray(
                initial.metadata["bin_prior"], np.float64
            )  # the fine-tuned network keeps the loss and decoding it was trained with
        else:
            bin_prior = batches.ab_bin_prior(train_set.images, models.output_stride(settings), seed=config.seed)
        (run_dir / "bin_prior.json").write_text(json.dumps(bin_prior.tolist()))
    network = compile_network(config, bin_prior, num_classes=len(classes))
    if initial is not None:
        _copy_weights(initial, network)
    monitor, mode = _monitor(preset.head, with_auxiliary=bool(classes) or _has_palette(settings))
    (run_dir / rundir.CHECKPOINTS).mkdir(exist_ok=True)
    resolved = {**dataclasses.asdict(config), "run_dir": str(run_dir), "settings": settings, "head": preset.head}
    if classes:
        resolved["classes"] = classes
    (run_dir / "config.json").write_text(json.dumps(resolved, indent=2))

    sequences = (
        _make_sequence(train_set.images, config, preset.head, settings, training=True, class_ids=train_class_ids),
        _make_sequence(
            validation_set.images, config, preset.head, settings, training=False, class_ids=validation_class_ids
        ),
    )
    wall_time = _fit(network, sequences, config, run_dir, monitor, mode, extra_callbacks or [], finished_run)
    record = {
        "config": resolved,
        "train_images": len(train_set),
        "validation_images": len(validation_set),
        "skipped_gray": loaded.skipped_gray,
        "wall_time_seconds": round(wall_time, 1),
    }
    if initial is not None:
        record["init_from"] = {
            "file": config.init_from,
            "sha256": sha256_of(initial.source),
            "preset": initial.metadata.get("preset"),
            "training": initial.metadata.get("training"),  # the run it continues, wall time included
        }
    return _save_best(run_dir, config, settings, bin_prior, record, monitor, mode)


def _initial_model(config: TrainConfig) -> Any:
    """The model ``--init-from`` names, loaded with Keras; it must be of the run's preset."""
    from huenet.modelfile import load_model

    model = load_model(config.init_from, engine="keras")
    if model.metadata.get("preset") != config.preset:
        raise ValueError(
            f"{config.init_from}: a {model.metadata.get('preset')!r} model cannot start a {config.preset!r} run; "
            f"pass --preset {model.metadata.get('preset')}"
        )
    return model


def _copy_weights(initial: Any, network: Any) -> None:
    """Copy the initial model's weights into the run's network, layer by layer in order.

    Layer names are numbered by Keras per process, so layers are matched by position among
    those with weights, and each pair must agree in type and weight shapes. The training-only
    heads (class, palette) are left out on both sides: the run's start fresh.
    """
    from huenet import encoder, unet

    if any(layer.name.startswith(encoder.PREFIX) for layer in network.layers):
        _copy_weights_by_name(initial, network)
        return

    def weighted(model: Any) -> list:
        return [
            layer
            for layer in model.layers
            if layer.weights
            and layer.name not in unet.AUXILIARY_OUTPUTS
            and not layer.name.startswith(unet.HINT_PREFIX)
        ]

    source, target = weighted(initial.network), weighted(network)
    if any(layer.name.startswith(unet.HINT_PREFIX) for layer in weighted(initial.network)):
        raise ValueError(
            f"{initial.source}: a network with a hint branch cannot start a run (continue it with --resume)"
        )
    if len(source) != len(target):
        raise ValueError(f"{initial.source}: {len(source)} layers with weights, the run's network has {len(target)}")
    first = 0
    for position, (old, new) in enumerate(zip(source, target)):
        old_shapes, new_shapes = [tuple(w.shape) for w in old.weights], [tuple(w.shape) for w in new.weights]
        if type(old).__name__ == type(new).__name__ and old_shapes != new_shapes and position == first:
            # The run's network takes hint channels after the lightness (--hint-inputs): the
            # first convolution's kernel has more input channels; they start at zero.
            (old_kernel, *_), (new_kernel, *_) = old_shapes, new_shapes
            if (
                old_shapes[1:] == new_shapes[1:]
                and old_kernel[:2] + old_kernel[3:] == new_kernel[:2] + new_kernel[3:]
                and new_kernel[2] > old_kernel[2]
            ):
                continue
        if type(old).__name__ != type(new).__name__ or old_shapes != new_shapes:
            raise ValueError(f"{initial.source}: layer {old.name!r} does not match the run's network ({new.name!r})")
    for old, new in zip(source, target):
        weights = old.get_weights()
        if tuple(weights[0].shape) != tuple(new.weights[0].shape):
            kernel = np.zeros(tuple(new.weights[0].shape), weights[0].dtype)
            kernel[:, :, : weights[0].shape[2]] = weights[0]
            weights = [kernel, *weights[1:]]
        new.set_weights(weights)
    print(f"init: weights of {len(target)} layers from {initial.source}", flush=True)
    if any(layer.name.startswith(unet.HINT_PREFIX) for layer in network.layers):
        _init_hint_branch(network)


def _copy_weights_by_name(initial: Any, network: Any) -> None:
    """The encoder networks name every layer: copy by name. The run's network may have the
    hint path the initial one lacks (``--hint-inputs``), which keeps its own start (zero, and
    the fixed lightness selector)."""
    from huenet import encoder, unet

    source = {layer.name: layer for layer in initial.network.layers if layer.weights}
    hint_layers = (unet.ENCODER_UNET_HINTS, encoder.INPUT_SELECT)
    for layer in network.layers:
        if not layer.weights or layer.name in unet.AUXILIARY_OUTPUTS:
            continue
        old = source.pop(layer.name, None)
        if old is None:
            if layer.name in hint_layers or layer.name.startswith(unet.HINT_PREFIX):  # the hint branch starts anew
                continue
            raise ValueError(f"{initial.source}: no layer {layer.name!r}, which the run's network has")
        if [tuple(w.shape) for w in old.weights] != [tuple(w.shape) for w in layer.weights]:
            raise ValueError(f"{initial.source}: layer {layer.name!r} does not match the run's network")
        layer.set_weights(old.get_weights())
    left = sorted(name for name in source if name not in unet.AUXILIARY_OUTPUTS and name not in hint_layers)
    if left:
        raise ValueError(f"{initial.source}: layers the run's network lacks: {', '.join(left[:5])}")
    print(f"init: weights by layer name from {initial.source}", flush=True)


def _init_hint_branch(network: Any) -> None:
    """Start the hint branch as a copy of the network's own encoder (ControlNet's start):
    its convolutions and normalizations take the weights of the encoder's, in order (the
    first input convolution's hint channels included), so it begins with features the
    network knows; its 1x1 outputs start at zero, so the network begins unchanged."""
    from huenet import unet

    def main(kind: str) -> list:
        return [
            layer
            for layer in network.layers
            if type(layer).__name__ == kind and not layer.name.startswith(unet.HINT_PREFIX)
        ]

    for kind, stem in (("Conv2D", "conv"), ("BatchNormalization", "norm")):
        branch = sorted(
            (layer for layer in network.layers if layer.name.startswith(f"{unet.HINT_PREFIX}{stem}_")),
            key=lambda layer: tuple(int(part) for part in layer.name.split("_")[-2:]),
        )
        for copy, original in zip(branch, main(kind)):
            copy.set_weights(original.get_weights())
    print("init: the hint branch starts as a copy of the encoder", flush=True)


def _load_data(config: TrainConfig) -> tuple[datasets.ImageSet, datasets.ImageSet, datasets.ImageSet]:
    """(everything read from --data, training set, validation set), with a line saying how many."""
    images = datasets.load_images(
        cifar10.resolve_source(config.data, config.download), split="train", limit=config.limit, seed=config.seed
    )
    if config.validation_data:
        validation_source = cifar10.resolve_source(config.validation_data, config.download)
        train_set, validation_set = images, datasets.load_images(validation_source, split="test")
    else:
        train_set, validation_set = datasets.split_train_validation(images, config.validation_fraction, config.seed)
    if len(validation_set) == 0:
        raise ValueError("the validation split is empty; give --validation-fraction > 0 or --validation-data")
    print(
        f"data: {len(train_set)} training and {len(validation_set)} validation images "
        f"({images.skipped_gray} grayscale and {images.skipped_unreadable} unreadable files skipped)",
        flush=True,
    )
    return images, train_set, validation_set


def _fit(
    network: Any,
    sequences: tuple[Any, Any],
    config: TrainConfig,
    run_dir: Path,
    monitor: str,
    mode: str,
    extra_callbacks: list,
    finished_run: tuple[Path, int] | None = None,
) -> float:
    """Train with the run's callbacks; returns the run's wall time in seconds, all sessions together.

    ``finished_run``: the last checkpoint of a finished run that ``--resume`` continues, and its
    epoch (``rundir.finished_run_checkpoint``); its weights and optimizer state are loaded first.
    """
    keras = import_keras_quietly()

    def learning_rate(epoch: int, _current: float) -> float:
        if config.schedule == "constant":
            return config.learning_rate
        length = config.schedule_epochs or config.epochs
        return 0.5 * config.learning_rate * (1 + math.cos(math.pi * epoch / max(length, 1)))

    train_sequence, validation_sequence = sequences
    started = time.time()
    previous_wall_time = rundir.previous_wall_time(run_dir)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        _epoch_sync(train_sequence, config.seed),
        keras.callbacks.LearningRateScheduler(learning_rate),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.ModelCheckpoint(str(run_dir / rundir.CHECKPOINTS / rundir.checkpoint_name())),
        keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor=monitor, mode=mode, save_best_only=True),
        *extra_callbacks,
    ]
    if config.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=config.early_stopping_patience)
        )
    callbacks.append(rundir.wall_time_log(run_dir, previous_wall_time, started))
    initial_epoch = 0
    if finished_run is not None:
        checkpoint, initial_epoch = finished_run
        network.optimizer.build(network.trainable_variables)
        network.load_weights(checkpoint)
        print(
            f"resume: {run_dir} finished {initial_epoch} epochs; continuing from {checkpoint.name} to epoch {config.epochs}",
            flush=True,
        )
    network.fit(
        train_sequence,
        validation_data=validation_sequence,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        callbacks=callbacks,
        verbose=config.verbose,
    )
    wall_time = previous_wall_time + time.time() - started
    (run_dir / "wall_time.json").write_text(json.dumps({"seconds": wall_time}))
    return wall_time


def _save_best(
    run_dir: Path,
    config: TrainConfig,
    settings: dict[str, Any],
    bin_prior: np.ndarray | None,
    record: dict[str, Any],
    monitor: str,
    mode: str,
) -> Path:
    """Write the best epoch as the run's model.keras (settings embedded), its curves and card."""
    keras = import_keras_quietly()

    from huenet import unet

    head = models.get_preset(config.preset).head
    history = rundir.read_history(run_dir / "history.csv")
    best_row = (min if mode == "min" else max)(history, key=lambda row: float(row[monitor]))
    best = unet.inference_network(keras.saving.load_model(run_dir / "best.keras", compile=False))
    accelerator = rundir.accelerator()
    metadata = {
        "preset": config.preset,
        "head": head,
        "settings": settings,
        "bin_prior": bin_prior,
        "training": {
            "config": record["config"],
            "train_images": record["train_images"],
            "validation_images": record["validation_images"],
            "skipped_gray": record["skipped_gray"],
            **({"init_from": record["init_from"]} if "init_from" in record else {}),
            "epochs_run": len(history),
            "best_epoch": int(best_row["epoch"]) + 1,
            "monitor": monitor,
            "best_value": float(best_row[monitor]),
            "wall_time_seconds": record["wall_time_seconds"],
            "machine": f"{platform.machine()}, {rundir.cpu_count()} CPU cores{f', GPU {accelerator}' if accelerator else ''}, "
            f"Keras {keras.__version__} on {keras.backend.backend()}",
            "accelerator": accelerator,  # GPU name or None: a GPU's minutes are not a CPU's
        },
        "metrics": {},
    }
    model_path = save_model(best, run_dir / "model.keras", metadata)
    rundir.plot_curves(history, run_dir / "curves.png", monitor)
    (run_dir / "model-card.md").write_text(rundir.model_card(metadata))
    print(f"best epoch {metadata['training']['best_epoch']} ({monitor} {best_row[monitor]}); model: {model_path}")
    return model_path


def compile_network(config: TrainConfig, bin_prior: np.ndarray | None = None, num_classes: int = 0) -> Any:
    """The run's network, built under its precision and compiled with its loss, metrics and AdamW.

    ``train`` uses it, and so do tools that time a training step, so both measure one network.
    ``num_classes`` > 0 adds the class head and its cross-entropy, weighted by the preset's
    ``class_loss_weight``; a ``palette_loss_weight`` above 0 adds the palette head likewise.
    """
    keras = import_keras_quietly()

    from huenet import losses, unet

    config.check()
    overrides = config.preset_overrides()
    settings = models.resolve_settings(config.preset, **overrides)
    head = models.get_preset(config.preset).head
    palette = _has_palette(settings)
    with _dtype_policy(PRECISIONS[config.precision]):
        network = models.build_model(config.preset, num_classes=num_classes, palette=palette, **overrides)
    if settings.get("hint_branch"):
        for layer in network.layers:  # only the branch learns (frozen normalizations run in inference mode)
            if not layer.name.startswith(unet.HINT_PREFIX):
                layer.trainable = False
    loss, metrics = losses.make_loss_and_metrics(settings, head, bin_prior)
    optimizer = keras.optimizers.AdamW(learning_rate=config.learning_rate, weight_decay=config.weight_decay)
    if num_classes or palette:
        output_losses, weights, all_metrics = {head: loss}, {head: 1.0}, {head: metrics}
        if num_classes:
            output_losses[unet.CLASS_OUTPUT] = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            weights[unet.CLASS_OUTPUT] = float(settings["class_loss_weight"])
            all_metrics[unet.CLASS_OUTPUT] = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if palette:
            output_losses[unet.PALETTE_OUTPUT] = losses.PaletteCrossEntropy()
            weights[unet.PALETTE_OUTPUT] = float(settings["palette_loss_weight"])
        network.compile(optimizer=optimizer, loss=output_losses, loss_weights=weights, metrics=all_metrics)
    else:
        network.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return network


PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}  # --precision -> Keras dtype policy


@contextlib.contextmanager
def _dtype_policy(name: str) -> Any:
    """Build layers under a Keras dtype policy without leaking it to the rest of the process."""
    keras = import_keras_quietly()

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _fit_crop_to_network(config: TrainConfig, images: Any, multiple: int) -> TrainConfig:
    """The network pools ``depth`` times, so training crops must be a multiple of 2**depth."""
    if config.crop_size:
        if config.crop_size % multiple:
            raise ValueError(
                f"--crop-size {config.crop_size} must be a multiple of {multiple} for preset {config.preset}"
            )
        if isinstance(images, np.ndarray) and config.crop_size > min(images.shape[1:3]):
            height, width = images.shape[1:3]
            raise ValueError(f"--crop-size {config.crop_size} is larger than the {height}x{width} training images")
        return config
    if not isinstance(images, np.ndarray):
        raise ValueError(f"training images differ in size; give --crop-size (a multiple of {multiple})")
    height, width = images.shape[1:3]
    if height % multiple or width % multiple:
        crop = min(height, width) // multiple * multiple
        if crop == 0:
            raise ValueError(
                f"images of {height}x{width} are smaller than the {multiple} pixels preset {config.preset} needs"
            )
        print(f"note: {height}x{width} images are cropped to {crop}x{crop} (a multiple of {multiple})")
        return dataclasses.replace(config, crop_size=crop)
    return config
