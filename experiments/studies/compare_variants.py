"""Short, equal-budget comparisons of huenet-base variants (directional evidence only).

    python experiments/studies/compare_variants.py --data ../shared/data/cifar10-jpeg/train.tar.gz \
        --runs runs/variants --limit 10000 --epochs 5 --variants base stride1

Each variant trains on the same first --limit images with the same seed, schedule and
precision, then reports its best validation ab error and wall time to runs/.../summary.json.
A finished variant is reused. Variants are huenet-base with settings changed; add one to
VARIANTS to measure an idea before spending a full run on it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from huenet import models
from huenet.rundir import read_history
from huenet.train import TrainConfig, train

VARIANTS = {
    "base": {},
    "stride1": {"output_stride": 1},
    "wide64": {"base_filters": 64},
    "depth4": {"depth": 4},
    "squeeze": {"skip_squeeze": True},
    "squeeze-wide64": {"skip_squeeze": True, "base_filters": 64},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--runs", default="runs/variants")
    parser.add_argument("--limit", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--precision", default="bfloat16")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    arguments = parser.parse_args()

    summary = {}
    for name in arguments.variants:
        preset = f"huenet-base-{name}"
        models.derive_preset("huenet-base", preset, **VARIANTS[name])  # this process only
        run_dir = Path(arguments.runs) / name
        if not (run_dir / "model.keras").exists():
            train(
                TrainConfig(
                    preset=preset,
                    data=arguments.data,
                    limit=arguments.limit,
                    epochs=arguments.epochs,
                    precision=arguments.precision,
                    run_dir=str(run_dir),
                    verbose=2,
                    resume=run_dir.exists(),
                )
            )
        card = json.loads((run_dir / "config.json").read_text())
        wall = json.loads((run_dir / "wall_time.json").read_text())["seconds"]
        history = read_history(run_dir / "history.csv")
        errors = [float(row["val_ab_error"]) for row in history]
        # Short runs: compare the training error at equal steps (validation lags batch norm).
        train_errors = [round(float(row["ab_error"]), 4) for row in history]
        summary[name] = {
            "settings": VARIANTS[name],
            "train_ab_error_by_epoch": train_errors,
            "val_ab_error_by_epoch": errors,
            "best_val_ab_error": min(errors),
            "wall_time_seconds": round(wall, 1),
            "parameters": models.build_model(preset).count_params(),
            "limit": card["limit"],
            "epochs": card["epochs"],
        }
        print(name, json.dumps(summary[name]), flush=True)
    Path(arguments.runs, "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
