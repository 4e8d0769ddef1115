"""Bundle a trained model with the package: metrics from ``huenet evaluate``, a model card,
and its sha256 in ``src/huenet/weights/models.json``.

    python experiments/publish_model.py runs/photo-v1/calibrated.keras \
        --evaluation docs/photo-evaluation/tiny/evaluation.json docs/photo-evaluation/bsds500/evaluation.json \
        --name photo --default \
        --command "the training command"

``--default`` points the alias "default" (the model used when none is named) at it.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

from huenet.evaluate import test_set_name
from huenet.modelfile import read_metadata, save_model, sha256_of
from huenet.rundir import model_card

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "huenet" / "weights"


def _metrics(evaluations: list[dict], name: str) -> dict:
    """The evaluations of the bundled model (its row is named after the bundle).

    One evaluation keeps the flat layout the CIFAR-10 card has; several (the photo model's
    photo sets) are listed under ``evaluations``, each set's summary under its data's name.
    """
    if len(evaluations) == 1:
        return _one_metrics(evaluations[0], name)
    each = [_one_metrics(evaluation, name) for evaluation in evaluations]
    return {
        "summary": {test_set_name(m["dataset"]): ", ".join(f"{k} {v}" for k, v in m["summary"].items()) for m in each},
        "evaluations": each,
    }


def _one_metrics(evaluation: dict, name: str) -> dict:
    if name not in evaluation["results"]:
        raise SystemExit(f"no row named {name!r} in the evaluation; run huenet evaluate {name} first")
    faithful = evaluation["results"][name]
    return {
        "dataset": evaluation["dataset"],
        "images": evaluation["images"],
        "left_out_grayscale": evaluation["left_out_grayscale"],
        "results": evaluation["results"],
        "summary": {
            "PSNR": round(faithful["psnr_mean"], 2),
            "exact": f"{faithful['exact_match']:.2%}",
            "AuC": f"{faithful['auc']:.1%}",
            "colorfulness ratio": round(faithful["colorfulness_ratio"], 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument(
        "--evaluation",
        nargs="+",
        help="evaluation.json files written by huenet evaluate, one per test set (omit on the first pass)",
    )
    parser.add_argument("--name", required=True, help="the bundled name (cifar10, photo, ...)")
    parser.add_argument("--default", action="store_true", help="make it the model used when none is named")
    parser.add_argument(
        "--default-note", default="the model used when none is named", help="what huenet models says about the alias"
    )
    parser.add_argument("--command", required=True, help="the command that trained the model")
    parser.add_argument(
        "--version",
        required=True,
        help="the huenet version this model ships with (CHANGELOG.md; huenet models shows it)",
    )
    parser.add_argument("--date", default=None, help="the model's date, YYYY-MM-DD (default: today)")
    parser.add_argument(
        "--notes", help="a markdown file for the card's Notes section (how else to reproduce it, caveats)"
    )
    arguments = parser.parse_args()

    import keras

    import huenet.losses  # noqa: F401  registers huenet's losses and metrics

    metadata = read_metadata(arguments.model)
    metadata.pop("format", None)
    metadata["name"] = arguments.name
    metadata["command"] = arguments.command
    metadata["metrics"] = {}
    metadata.pop("notes", None)
    if arguments.notes:
        metadata["notes"] = Path(arguments.notes).read_text()
    if arguments.evaluation:
        metadata["metrics"] = _metrics(
            [json.loads(Path(path).read_text()) for path in arguments.evaluation], arguments.name
        )
    network = keras.saving.load_model(arguments.model, compile=False, safe_mode=True)
    target = WEIGHTS / f"{arguments.name}.keras"
    save_model(network, target, metadata, weights_dtype="float16")  # keeps the package under 10 MB
    (WEIGHTS / f"{arguments.name}.md").write_text(model_card(metadata))
    registry_path = WEIGHTS / "models.json"
    registry = json.loads(registry_path.read_text()) if registry_path.exists() else {}
    registry[arguments.name] = {
        "file": target.name,
        "sha256": sha256_of(target),
        "card": f"{arguments.name}.md",
        "version": arguments.version,
        "date": arguments.date or datetime.date.today().isoformat(),
    }
    if arguments.default:
        registry["default"] = {"alias": arguments.name, "note": arguments.default_note}
    registry_path.write_text(json.dumps(registry, indent=2) + "\n")
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB), sha256 {registry[arguments.name]['sha256']}")


if __name__ == "__main__":
    main()
