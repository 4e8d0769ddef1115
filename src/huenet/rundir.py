"""Run directories: what a training run writes, and how a stopped or finished run is continued.

A run directory holds everything a run produced: the resolved ``config.json``,
``history.csv``, ``curves.png``, per-epoch checkpoints (``checkpoints/epoch-NNN.keras``,
named by ``checkpoint_name`` alone), ``backup/`` (what ``--resume`` continues a killed run
from; at most the epoch in progress is lost), ``wall_time.json``, ``model.keras`` (the best
epoch on the validation metric, with huenet's settings embedded) and ``model-card.md``.
``huenet.train`` runs the fit; this module knows the files.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import time
from pathlib import Path
from typing import Any

from huenet.kerasutil import import_keras_quietly
from huenet.modelfile import save_model

CHECKPOINTS = "checkpoints"
_CHECKPOINT = re.compile(r"epoch-(\d+)\.keras")


def checkpoint_name(epoch: Any = "{epoch:03d}") -> str:
    """The file name of the checkpoint after ``epoch`` (1-based); with no argument, the
    template Keras' ModelCheckpoint fills in. Past 999 the number just grows wider."""
    return f"epoch-{epoch if isinstance(epoch, str) else format(epoch, '03d')}.keras"


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(epoch, path) of every per-epoch checkpoint of a run, in epoch order."""
    found = []
    for path in (Path(run_dir) / CHECKPOINTS).glob("epoch-*.keras"):
        match = _CHECKPOINT.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def open_run_dir(name: str, preset: str, resume: bool) -> Path:
    """The run directory ``name`` (default runs/PRESET-TIMESTAMP), created; a non-empty one only
    with ``resume``."""
    run_dir = Path(name or f"runs/{preset}-{time.strftime('%Y%m%d-%H%M%S')}")
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        raise ValueError(f"{run_dir}: run directory is not empty; pass --resume to continue it or pick another")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def finished_run_checkpoint(run_dir: Path, resume: bool, epochs: int) -> tuple[Path, int] | None:
    """(last per-epoch checkpoint, its epoch) of a finished run that ``--resume`` continues, else None.

    A killed run resumes from ``backup/`` (Keras' BackupAndRestore), which Keras deletes once a
    run ends. A finished run resumed with more ``--epochs`` continues from its last per-epoch
    checkpoint instead (the fit loads its weights and optimizer state), so the new epochs
    train as they would have in one longer run (the learning rate follows the new epoch count).
    ``epochs``: the epoch count the run is given now.
    """
    if not resume or (run_dir / "backup").exists():
        return None
    found = checkpoints(run_dir)
    if not found:
        return None
    finished, last = found[-1]
    if finished >= epochs:
        raise ValueError(
            f"{run_dir}: the run already has {finished} epochs; give --epochs above {finished} to continue it"
        )
    return last, finished


def cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def accelerator() -> str | None:
    """The GPU's name when the Keras backend trains on one, else None (recorded in the model card)."""
    keras = import_keras_quietly()

    backend = keras.backend.backend()
    with contextlib.suppress(Exception):  # a card line is not worth failing a finished run for
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            return device.device_kind if device.platform == "gpu" else None
        if backend == "torch":
            import torch

            return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return None


def wall_time_log(run_dir: Path, previous: float, started: float) -> Any:
    """A callback that records the run's wall time (all sessions) after every epoch.

    A run killed between epochs and resumed then reports the time of every epoch it kept;
    only the unfinished epoch's time, trained again on resume, is not counted.
    """
    keras = import_keras_quietly()

    class _WallTimeLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            seconds = previous + time.time() - started
            (run_dir / "wall_time.json").write_text(json.dumps({"seconds": round(seconds, 1), "epochs": epoch + 1}))

    return _WallTimeLog()


def previous_wall_time(run_dir: Path) -> float:
    path = run_dir / "wall_time.json"
    return json.loads(path.read_text())["seconds"] if path.exists() else 0.0


def read_history(path: Path) -> list[dict[str, str]]:
    """A run's history.csv as one row per epoch (what report scripts read too)."""
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("epoch", "") != "epoch"]
    # A resumed run appends; keep the last row written for each epoch.
    by_epoch = {int(row["epoch"]): row for row in rows}
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def plot_curves(history: list[dict[str, str]], path: Path, monitor: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [int(row["epoch"]) + 1 for row in history]
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for key, label in (("loss", "train"), ("val_loss", "validation")):
        axes[0].plot(epochs, [float(row[key]) for row in history], marker="o", label=label)
    axes[0].set(title="loss", xlabel="epoch")
    metric = monitor.removeprefix("val_")
    for key, label in ((metric, "train"), (monitor, "validation")):
        axes[1].plot(epochs, [float(row[key]) for row in history], marker="o", label=label)
    axes[1].set(title=metric, xlabel="epoch")
    for axis in axes:
        axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def model_card(metadata: dict[str, Any]) -> str:
    """A short markdown model card from a model's metadata."""
    training = metadata.get("training", {})
    config = training.get("config", {})
    lines = [
        f"# Model card: {metadata.get('name', metadata['preset'])}",
        "",
        f"- Preset: `{metadata['preset']}` (head `{metadata['head']}`), settings: `{json.dumps(metadata['settings'])}`",
        f"- Data: `{config.get('data')}`, {training.get('train_images')} training / {training.get('validation_images')} "
        f"validation images ({training.get('skipped_gray')} grayscale images skipped)",
        f"- Epochs: {training.get('epochs_run')} run, best epoch {training.get('best_epoch')} by {training.get('monitor')} "
        f"= {training.get('best_value')}",
        f"- Wall time: {training.get('wall_time_seconds')} s on {training.get('machine')}",
    ]
    chain, total = training.get("init_from"), training.get("wall_time_seconds") or 0.0
    while chain:  # a fine-tune: the runs it continues, newest first
        base = chain.get("training") or {}
        base_config = base.get("config", {})
        lines.append(
            f"- Fine-tuned from `{chain.get('file')}` (sha256 {str(chain.get('sha256'))[:12]}): preset `{chain.get('preset')}`, "
            f"data `{base_config.get('data')}`, {base.get('train_images')} training images, {base.get('epochs_run')} epochs, "
            f"wall time {base.get('wall_time_seconds')} s"
        )
        total += base.get("wall_time_seconds") or 0.0
        chain = base.get("init_from")
    if training.get("init_from"):
        lines.append(f"- Wall time of all runs together: {total:.1f} s ({total / 3600:.2f} h)")
    mixed = metadata.get("interpolation")
    if mixed:  # experiments/interpolate_weights.py: the weights averaged with an earlier network's
        base, tuned = mixed.get("base") or {}, mixed.get("fine_tuned") or {}
        lines.append(
            f"- Weights: {1 - float(mixed.get('alpha', 0)):g} x `{base.get('file')}` (sha256 {str(base.get('sha256'))[:12]}) + "
            f"{float(mixed.get('alpha', 0)):g} x `{tuned.get('file')}` (sha256 {str(tuned.get('sha256'))[:12]}), every weight "
            f"(WiSE-FT); no training of its own"
        )
    branch = metadata.get("hint_branch_training")
    if branch:  # experiments/add_hint_branch.py: a second run that trained only the hint branch
        branch_config = branch.get("config", {})
        lines.append(
            f"- Hint branch: trained alone on the frozen network, data `{branch_config.get('data')}`, {branch.get('train_images')} "
            f"training images, {branch.get('epochs_run')} epochs, best epoch {branch.get('best_epoch')} by {branch.get('monitor')} "
            f"= {branch.get('best_value')} (hints drawn from the truth), wall time {branch.get('wall_time_seconds')} s"
        )
    if metadata.get("command"):
        lines.append(f"- Command: `{metadata['command']}`")
    if metadata.get("notes"):
        lines += ["", "## Notes", "", metadata["notes"].strip()]
    if metadata.get("metrics"):
        lines += ["", "## Test metrics", "", "```", json.dumps(metadata["metrics"], indent=1), "```"]
    return "\n".join(lines) + "\n"


def export_checkpoint(run_dir: str | Path, checkpoint: str | Path, output: str | Path, **metadata_updates: Any) -> Path:
    """Turn one per-epoch checkpoint of a run into a huenet model file.

    Used to score epochs other than the best one (choosing the epoch count on validation
    data) and to publish a model with extra settings (``metadata_updates``).
    """
    keras = import_keras_quietly()

    from huenet import losses, unet  # noqa: F401  losses registers the checkpoint's loss and metric classes

    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    prior_path = run_dir / "bin_prior.json"
    metadata = {
        "preset": config["preset"],
        "head": config["head"],
        "settings": config["settings"],
        "bin_prior": json.loads(prior_path.read_text()) if prior_path.exists() else None,
        "training": {
            "config": config,
            "checkpoint": Path(checkpoint).name,
            **_exported_training(run_dir, config, checkpoint),
        },
        "metrics": {},
    }
    for key, value in metadata_updates.items():
        metadata[key] = (
            {**metadata.get(key, {}), **value}
            if isinstance(value, dict) and isinstance(metadata.get(key), dict)
            else value
        )
    network = unet.inference_network(keras.saving.load_model(checkpoint, compile=False))
    return save_model(network, output, metadata)


def _exported_training(run_dir: Path, config: dict[str, Any], checkpoint: str | Path) -> dict[str, Any]:
    """What a model card needs of an exported checkpoint: the epochs it has, the run's wall time
    up to it (as recorded), and for a fine-tune the run it started from (its own record)."""
    from huenet.modelfile import read_metadata, sha256_of

    record: dict[str, Any] = {}
    match = _CHECKPOINT.fullmatch(Path(checkpoint).name)
    if match:
        record["epochs_run"] = int(match.group(1))
    wall = run_dir / "wall_time.json"
    if wall.exists():
        recorded = json.loads(wall.read_text())
        if "epochs" not in recorded or recorded.get("epochs") == record.get("epochs_run"):
            record["wall_time_seconds"] = recorded["seconds"]
    source = config.get("init_from")
    if source and Path(source).exists():
        initial = read_metadata(source)
        record["init_from"] = {
            "file": source,
            "sha256": sha256_of(source),
            "preset": initial.get("preset"),
            "training": initial.get("training"),
        }
    return record
