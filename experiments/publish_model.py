"""Bundle a trained model with the package: metrics from ``huenet evaluate``, a model card,
and its sha256 in ``src/huenet/weights/models.json``.

    python experiments/publish_model.py runs/default-v1/calibrated.keras \
        --evaluation docs/default-evaluation.json --name default \
        --command "the training command"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from huenet.modelfile import read_metadata, save_model, sha256_of
from huenet.train import model_card

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "huenet" / "weights"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--evaluation", required=True, help="evaluation.json written by huenet evaluate")
    parser.add_argument("--name", default="default")
    parser.add_argument("--command", required=True, help="the command that trained the model")
    arguments = parser.parse_args()

    import keras

    import huenet.models  # noqa: F401

    metadata = read_metadata(arguments.model)
    metadata.pop("format", None)
    evaluation = json.loads(Path(arguments.evaluation).read_text())
    stem = Path(arguments.model).stem
    rows = {name: values for name, values in evaluation["results"].items() if name.startswith(stem)}
    faithful = rows.get(stem, {})
    metadata["name"] = arguments.name
    metadata["command"] = arguments.command
    metadata["metrics"] = {
        "dataset": evaluation["dataset"],
        "images": evaluation["images"],
        "left_out_grayscale": evaluation["left_out_grayscale"],
        "results": evaluation["results"],
        "summary": {
            "PSNR": round(faithful.get("psnr_mean", float("nan")), 2),
            "exact": f"{faithful.get('exact_match', float('nan')):.2%}",
            "AuC": f"{faithful.get('auc', float('nan')):.1%}",
        },
    }
    network = keras.saving.load_model(arguments.model, compile=False, safe_mode=True)
    target = WEIGHTS / f"{arguments.name}.keras"
    save_model(network, target, metadata, weights_dtype="float16")  # keeps the package under 10 MB
    (WEIGHTS / f"{arguments.name}.md").write_text(model_card(metadata))
    registry_path = WEIGHTS / "models.json"
    registry = json.loads(registry_path.read_text()) if registry_path.exists() else {}
    registry[arguments.name] = {"file": target.name, "sha256": sha256_of(target), "card": f"{arguments.name}.md"}
    registry_path.write_text(json.dumps(registry, indent=2) + "\n")
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB), sha256 {registry[arguments.name]['sha256']}")


if __name__ == "__main__":
    main()
