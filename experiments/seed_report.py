"""Regenerate the seed experiments beside huenet's presets and the trivial baselines.

    python experiments/seed_report.py --train ../shared/data/cifar10-jpeg/train.tar.gz \
        --test ../shared/data/cifar10-jpeg/test.tar.gz --runs runs/seed --report docs/seed-report.md

Every run has its own directory under ``--runs``; a run that already has a model is not
trained again, and an interrupted one is resumed, so the report can be built across
several sessions. Each model is scored on the test split with ``huenet evaluate``'s code
(grayscale truths left out) and the scores are cached in the run directory.

Runs (the seed write-up's setups, then huenet's):
- seed-dense, seed-conv, seed-conv2: 10 epochs each, RGB levels, as in the seed.
- seed-conv2-long: up to ``--long-epochs`` epochs with early stopping (patience 3) on
  validation accuracy; the best epoch on validation data is kept (the seed's "choose the
  epoch count by cross-validation").
- unet-regression and unet-classification: huenet presets, ``--epochs`` epochs.
- seed-conv2 in each color space the write-up proposed (rgb, hsv, lab, yuv): the same
  network, data and epochs, only the space whose 3 x 256 levels it predicts changes, on
  ``--space-limit`` training images (the seed's other future-work item).
Extra finished models (e.g. the bundled one) can be added with ``--extra NAME=PATH``.

A run whose weights are gone (an earlier session's) is reported from the small files kept
under ``--keep``: its test scores and training record.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from huenet.evaluate import METRIC_COLUMNS, evaluate
from huenet.modelfile import read_metadata
from huenet.train import TrainConfig, train

BASELINES = ("gray copy", "Lab, ab = 0", "Lab, mean ab")
COLOR_SPACES = ("rgb", "hsv", "lab", "yuv")


def _runs(arguments: argparse.Namespace) -> list[tuple[str, TrainConfig]]:
    common = dict(data=arguments.train, limit=arguments.limit, batch_size=arguments.batch_size, verbose=2, seed=0)
    return [
        ("seed-dense", TrainConfig(preset="seed-dense", epochs=10, **common)),
        ("seed-conv", TrainConfig(preset="seed-conv", epochs=10, **common)),
        ("seed-conv2", TrainConfig(preset="seed-conv2", epochs=10, **common)),
        (
            "seed-conv2-long",
            TrainConfig(preset="seed-conv2", epochs=arguments.long_epochs, early_stopping_patience=3, **common),
        ),
        ("unet-regression", TrainConfig(preset="unet-regression", epochs=arguments.epochs, **common)),
        ("unet-classification", TrainConfig(preset="unet-classification", epochs=arguments.epochs, **common)),
    ]


def _space_runs(arguments: argparse.Namespace) -> list[tuple[str, TrainConfig]]:
    common = dict(
        data=arguments.train,
        limit=arguments.space_limit or arguments.limit,
        batch_size=arguments.batch_size,
        verbose=2,
        seed=0,
        preset="seed-conv2",
        epochs=10,
    )
    return [(f"seed-conv2-{space}", TrainConfig(color_space=space, **common)) for space in COLOR_SPACES]


def _train_or_reuse(name: str, config: TrainConfig, runs: Path) -> Path:
    run_dir = runs / name
    model = run_dir / "model.keras"
    if model.exists():
        return model
    resume = run_dir.exists() and any(run_dir.iterdir())
    print(f"== training {name} ({'resuming' if resume else 'new'})", flush=True)
    return train(dataclasses.replace(config, run_dir=str(run_dir), resume=resume))


def _evaluate_cached(name: str, model: Path, arguments: argparse.Namespace) -> dict:
    cache = model.parent / "test-evaluation.json"
    if cache.exists():
        return json.loads(cache.read_text())
    started = time.time()
    report, _, _ = evaluate([str(model)], arguments.test, split="test")
    report["evaluation_seconds"] = time.time() - started
    cache.write_text(json.dumps(report, indent=2))
    return report


def _keep_results(run_dir: Path, target: Path, training: dict) -> None:
    """Copy what a report needs (not the weights) somewhere that outlives the session,
    ``training`` (the model's training record) included."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "history.csv", "curves.png", "model-card.md", "test-evaluation.json", "wall_time.json"):
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, target / name)
    (target / "training.json").write_text(json.dumps(training, indent=1, default=str))


def _kept_training(kept: Path) -> dict:
    """The training record of a run kept without its weights: ``training.json``, or for runs
    kept before it existed, the epochs and wall time from the model card and config."""
    if (kept / "training.json").exists():
        return json.loads((kept / "training.json").read_text())
    card = (kept / "model-card.md").read_text()
    epochs = re.search(r"Epochs: (\d+) run, best epoch (\d+)", card)
    return {
        "config": json.loads((kept / "config.json").read_text()),
        "epochs_run": int(epochs.group(1)),
        "best_epoch": int(epochs.group(2)),
        "wall_time_seconds": json.loads((kept / "wall_time.json").read_text())["seconds"],
        "machine": re.search(r"Wall time: [\d.]+ s on (.*)", card).group(1),
        "limit_sampling": "first",  # --limit took the first N files until it sampled evenly
    }


def _collect(name: str, config: TrainConfig, arguments: argparse.Namespace) -> tuple[dict, dict] | None:
    """(training record, test report) of one run: trained or reused, else from kept files."""
    model = Path(arguments.runs) / name / "model.keras"
    kept = Path(arguments.keep) / name
    if arguments.only is None or name in arguments.only:
        model = _train_or_reuse(name, config, Path(arguments.runs))
    if model.exists():
        training = read_metadata(model)["training"]
        report = _evaluate_cached(name, model, arguments)
        _keep_results(model.parent, kept, training)
        return training, report
    if (kept / "test-evaluation.json").exists():
        return _kept_training(kept), json.loads((kept / "test-evaluation.json").read_text())
    print(f"-- {name}: not trained yet, left out of the report")
    return None


def _space_summary(space_rows: dict, gray: dict) -> str:
    """One sentence on what the color-space table shows, from its numbers."""

    def space(name: str) -> str:
        names = {"rgb": "RGB", "hsv": "HSV", "lab": "Lab", "yuv": "YUV"}
        return names.get(name.removeprefix("seed-conv2-"), name)

    by_psnr = sorted(space_rows, key=lambda name: -space_rows[name]["psnr_mean"])
    best_exact = max(space_rows, key=lambda name: space_rows[name]["exact_match"])
    psnrs = ", ".join(f"{space(name)} {space_rows[name]['psnr_mean']:.2f} dB" for name in by_psnr)
    above = [space(name) for name in by_psnr if space_rows[name]["psnr_mean"] > gray["psnr_mean"]]
    return (
        f"By PSNR: {psnrs} (gray copy {gray['psnr_mean']:.2f}); the best exact-match rate is "
        f"{space(best_exact)}'s ({space_rows[best_exact]['exact_match']:.2%}). "
        + (
            f"Above the gray copy: {', '.join(above)}."
            if above
            else "None of them reaches the gray copy: "
            "the network must predict the gray levels it was given as well as the color."
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--runs", default="runs/seed")
    parser.add_argument("--report", default="docs/seed-report.md")
    parser.add_argument(
        "--limit", type=int, help="train on N images only, sampled evenly across classes (the report says so)"
    )
    parser.add_argument("--space-limit", type=int, help="training images of the color-space runs (default: --limit)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of huenet's presets")
    parser.add_argument("--long-epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--only", nargs="*", help="train only these runs now (the report uses every finished run)")
    parser.add_argument("--extra", nargs="*", default=[], help="NAME=PATH of finished models to add")
    parser.add_argument("--keep", default="docs/seed-runs", help="copy each run's small result files here (committed)")
    arguments = parser.parse_args()

    rows, space_rows, baselines, info = {}, {}, None, {}
    for table, runs in ((rows, _runs(arguments)), (space_rows, _space_runs(arguments))):
        for name, config in runs:
            collected = _collect(name, config, arguments)
            if collected is None:
                continue
            info[name], report = collected
            baselines = baselines or {k: v for k, v in report["results"].items() if k in BASELINES}
            table[name] = next(
                v for k, v in report["results"].items() if k not in BASELINES
            )  # the row named after the run
            counts = (report["images"], report["left_out_grayscale"])
    for item in arguments.extra:
        name, path = item.split("=", 1)
        metadata = read_metadata(path)
        info[name] = metadata.get("training", {})
        report = (
            _evaluate_cached(name, Path(path), arguments)
            if not metadata.get("metrics", {}).get("results")
            else metadata["metrics"]
        )
        # A published model's card holds its own rows (e.g. "default" and "default (vivid)").
        own = [key for key in report["results"] if key not in BASELINES]
        for key in own:  # the card's own row name (its name when scored), then e.g. " (vivid)"
            row = name + key.removeprefix(min(own, key=len))
            rows[row], info[row] = report["results"][key], info[name]
        baselines = baselines or {k: v for k, v in report["results"].items() if k in BASELINES}
        counts = (report["images"], report["left_out_grayscale"])
    if not rows and not space_rows:
        raise SystemExit("no finished runs to report")

    def table_lines(table: dict) -> list[str]:
        lines = [header, "|" + "---|" * (len(METRIC_COLUMNS) + 3)]
        for name, values in table.items():
            training = info.get(name, {})
            epochs = f"{training.get('epochs_run', '')} ({training.get('best_epoch', '')})" if training else "-"
            wall = f"{training['wall_time_seconds'] / 60:.1f} min" if training.get("wall_time_seconds") else "-"
            # Files from before 2026-11-26 name the GPU only inside the machine line.
            gpu = training.get("accelerator") or training.get("machine", "").partition(", GPU ")[2].split(",")[0]
            if gpu and wall != "-":
                wall += f" on {gpu}"  # a GPU's minutes are not the 2-core machine's
            marker = " *" if training.get("limit_sampling") == "first" else ""
            cells = [fmt.format(values[key]) for key, _, fmt in METRIC_COLUMNS]
            lines.append(f"| {name}{marker} | {epochs} | {wall} | " + " | ".join(cells) + " |")
        return lines

    header = "| model | epochs (best) | train wall time | " + " | ".join(label for _, label, _ in METRIC_COLUMNS) + " |"
    space_limit = arguments.space_limit or arguments.limit
    lines = [
        "# Seed experiments, regenerated",
        "",
        f"Test split: {arguments.test}, {counts[0]} color images ({counts[1]} grayscale truths left out).",
        f"Training data: {arguments.train}"
        + (f", {arguments.limit} images sampled evenly across the classes (seed 0)" if arguments.limit else "")
        + ", 10% held out for validation.",
        "",
        "Command:",
        "",
        "```",
        "python experiments/seed_report.py --train ../shared/data/cifar10-jpeg/train.tar.gz \\",
        "    --test ../shared/data/cifar10-jpeg/test.tar.gz --runs runs/seed --report docs/seed-report.md"
        + (f" --limit {arguments.limit}" if arguments.limit else "")
        + (f" --space-limit {arguments.space_limit}" if arguments.space_limit else "")
        + (f" --long-epochs {arguments.long_epochs}" if arguments.long_epochs != 30 else "")
        + "".join(f" --extra {item}" for item in arguments.extra),
        "```",
        "",
        *table_lines({**baselines, **rows}),
    ]
    if space_rows:
        lines += [
            "",
            "## Color spaces (the write-up's future work: HSV and Lab)",
            "",
            "seed-conv2 as above (10 epochs, RGB levels' network and loss), predicting the 3 x 256",
            "levels of another color space; the same "
            + (
                f"{space_limit} training images (sampled evenly across the classes, seed 0)"
                if space_limit
                else "training images"
            )
            + " for all four.",
            "",
            *table_lines({**baselines, **space_rows}),
            "",
            _space_summary(space_rows, baselines["gray copy"]),
        ]
    trained = set(rows) - {item.split("=", 1)[0] for item in arguments.extra}
    missing = [name for name, _ in _runs(arguments) + _space_runs(arguments) if name not in trained | set(space_rows)]
    lines += [
        "",
        "Notes:",
        "",
        "- Seed presets predict 3 x 256 classes per pixel (RGB levels) with cross-entropy, as the",
        "  seed did; their interpretations of the write-up are in the presets' docstrings",
        '  (`src/huenet/seed.py`). Their "exact" column is the seed\'s Keras accuracy, measured',
        "  on the test split with grayscale truths left out.",
        "- huenet presets predict ab and keep the input's luma; `unet-classification` is trained",
        "  with Zhang et al.'s class rebalancing (lambda 0.5) and decoded at temperature 0.38.",
        "- epochs (best): epochs run, and the epoch whose weights are kept (best validation",
        "  accuracy for the seed presets, best validation ab error for the ab presets).",
        f"  `seed-conv2-long` may run {arguments.long_epochs} epochs and stops early after 3 epochs without a",
        "  better validation accuracy, so its epoch count is chosen on validation data, as the",
        "  write-up's future work asks.",
        "- Wall time is training only, on this project's 2-core machine unless the cell names a",
        "  GPU; other work shared the machine during some runs.",
    ]
    if any(training.get("limit_sampling") == "first" for training in info.values()):
        lines += [
            "- Rows marked * come from an earlier session's kept files (`docs/seed-runs/`): they",
            f"  trained on the first {arguments.limit} files of the archive, before `--limit` sampled evenly",
            "  across the classes; a rerun without their kept files trains them on the even sample.",
        ]
    if arguments.limit:
        lines += [
            f"- Trained on {arguments.limit} training images to keep the whole report within a",
            "  working session on 2 cores: the seed presets' per-pixel 768-way softmax costs about",
            "  2 s per batch of 128 for seed-conv2. Leave out --limit for the full 50,000 images",
            "  (about 5x the wall times above).",
        ]
    if arguments.extra:
        lines.append(
            f"- Rows from finished models ({', '.join(item.split('=', 1)[0] for item in arguments.extra)}) "
            "keep their own training data and epochs (see their model cards), not the settings above."
        )
    if missing:
        lines.append(
            f"- Not run yet: {', '.join(missing)}; rerun the command to train them (finished runs are reused)."
        )
    Path(arguments.report).parent.mkdir(parents=True, exist_ok=True)
    Path(arguments.report).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
