"""Choose a trained model's decoding settings on validation data, never on the test split.

    python experiments/calibrate.py runs/default-v1/model.keras \
        --data ../shared/data/cifar10-jpeg/train.tar.gz --photos ../shared/data/bsds500-jpeg/val.tar \
        --output runs/default-v1/calibrated.keras

1. Rebuilds the run's seeded validation split (same data, fraction and seed as training).
2. Scores decodings there. Faithful: the annealed-mean temperature with the best mean
   PSNR. Vivid: the (temperature, vividness) pair whose colorfulness is closest to the
   truth's while PSNR and AuC stay above the gray-copy baseline measured on the same images
   (plus a margin).
3. Scores working sizes (long side at which the network runs) on full-size photos and keeps
   the best PSNR.
4. Writes the model with those settings and a ``calibration`` record (every number scored).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from huenet import color, data, metrics
from huenet.evaluate import baseline_predictions, predict_rgb
from huenet.modelfile import load_model, read_metadata, save_model


def _score(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {
        "psnr_mean": metrics.psnr_per_image(prediction, truth),
        "auc": metrics.auc(prediction, truth),
        "exact_match": metrics.exact_match(prediction, truth),
        "colorfulness_ratio": metrics.colorfulness(prediction) / metrics.colorfulness(truth),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--data", required=True, help="the training source (its validation split is rebuilt)")
    parser.add_argument("--photos", help="full-size photos (folder or tar) for choosing the working size")
    parser.add_argument("--limit", type=int, default=3000, help="validation images to score")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.8, 0.6, 0.5, 0.4, 0.3])
    parser.add_argument("--vividness", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0])
    parser.add_argument("--working-sizes", type=int, nargs="+", default=[32, 48, 64, 96, 128])
    parser.add_argument("--margin-db", type=float, default=0.3, help="vivid must stay this far above the gray copy's PSNR")
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()

    model = load_model(arguments.model)
    config = model.metadata["training"]["config"]
    image_set = data.load_images(arguments.data, split="train", limit=config.get("limit"))
    _, validation = data.split_train_validation(image_set, config["validation_fraction"], config["seed"])
    chosen = np.sort(np.random.default_rng(0).permutation(len(validation))[: arguments.limit])
    truth = validation.images[chosen]
    gray = color.rgb_to_gray(truth)
    gray_copy = _score(baseline_predictions(truth)["gray copy"], truth)
    print(f"{len(truth)} validation images; gray copy: {json.dumps(gray_copy)}", flush=True)

    by_temperature = {}
    for temperature in arguments.temperatures:
        by_temperature[temperature] = _score(predict_rgb(model, gray, temperature=temperature), truth)
        print(f"T={temperature}: {json.dumps(by_temperature[temperature])}", flush=True)
    faithful = max(by_temperature, key=lambda t: by_temperature[t]["psnr_mean"])
    by_vivid = {}
    for temperature in sorted({faithful, 1.0}):
        for vividness in arguments.vividness:
            prediction = predict_rgb(model, gray, temperature=temperature, vividness=vividness)
            by_vivid[(temperature, vividness)] = _score(prediction, truth)
            print(f"T={temperature} vividness={vividness}: {json.dumps(by_vivid[(temperature, vividness)])}", flush=True)
    allowed = [
        key for key, s in by_vivid.items()
        if s["psnr_mean"] >= gray_copy["psnr_mean"] + arguments.margin_db and s["auc"] >= gray_copy["auc"] + 0.005
    ]
    vivid = min(allowed or [(faithful, 0.0)], key=lambda key: abs(by_vivid.get(key, by_temperature[faithful])["colorfulness_ratio"] - 1.0))
    print(f"faithful temperature {faithful}; vivid temperature {vivid[0]}, vividness {vivid[1]}", flush=True)

    by_working_size = {}
    if arguments.photos:
        photos = data.load_images(arguments.photos, skip_gray=True)
        for size in arguments.working_sizes:
            scores = []
            for image in photos.images:
                prediction = predict_rgb(model, color.rgb_to_gray(image)[None], temperature=faithful, working_size=size)
                scores.append(metrics.psnr_per_image(prediction, image[None]))
            by_working_size[size] = float(np.mean(scores))
            print(f"working size {size}: photo PSNR {by_working_size[size]:.3f}", flush=True)
    working_size = max(by_working_size, key=by_working_size.get) if by_working_size else model.working_size

    metadata = read_metadata(arguments.model)
    metadata.pop("format", None)
    metadata["settings"] = {
        **metadata["settings"],
        "temperature": faithful,
        "vivid": {"temperature": vivid[0], "vividness": vivid[1]},
        "working_size": working_size,
    }
    metadata["calibration"] = {
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "validation_images": len(truth),
        "gray_copy": gray_copy,
        "by_temperature": {str(k): v for k, v in by_temperature.items()},
        "by_temperature_and_vividness": {f"{t},{v}": s for (t, v), s in by_vivid.items()},
        "photo_psnr_by_working_size": {str(k): v for k, v in by_working_size.items()},
    }
    save_model(model.network, arguments.output, metadata)
    print(f"wrote {arguments.output}")


if __name__ == "__main__":
    main()
