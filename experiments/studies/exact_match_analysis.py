"""Where the seed's exact-match metric comes from, for a model and for the gray copy.

    python experiments/studies/exact_match_analysis.py default --data ../shared/data/cifar10-jpeg/train.tar.gz

Scores the same validation images that experiments/calibrate.py uses (the run's seeded
split, 3,000 images) and prints: how often a truth channel differs from the gray input by
exactly k levels (the gray copy's exact match is the k = 0 share), the model's hit rate on
channels the gray copy gets right and on the rest, and the share of pixels that are
exactly gray in all three channels.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from huenet import color, datasets
from huenet.evaluate import predict_rgb
from huenet.modelfile import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--data", required=True, help="the model's training source (its validation split is rebuilt)")
    parser.add_argument("--limit", type=int, default=3000)
    parser.add_argument("--vivid", action="store_true")
    arguments = parser.parse_args()

    model = load_model(arguments.model, engine="keras")  # throughput over many images: Keras is faster there
    config = model.metadata.get("training", {}).get("config", {"validation_fraction": 0.1, "seed": 0})
    image_set = datasets.load_images(
        arguments.data, split="train", limit=config.get("limit"), seed=config.get("seed", 0)
    )
    _, validation = datasets.split_train_validation(image_set, config["validation_fraction"], config["seed"])
    chosen = np.sort(np.random.default_rng(0).permutation(len(validation))[: arguments.limit])
    truth = validation.images[chosen].astype(np.int16)
    gray = color.rgb_to_gray(validation.images[chosen])
    prediction = predict_rgb(model, gray, vivid=arguments.vivid).astype(np.int16)
    gray_levels = gray.astype(np.int16)[..., None]

    gray_hit = truth == gray_levels
    model_hit = prediction == truth
    distance = np.abs(truth - gray_levels)
    report = {
        "images": len(truth),
        "gray_copy_exact": float(gray_hit.mean()),
        "model_exact": float(model_hit.mean()),
        "model_hit_where_gray_copy_hits": float(model_hit[gray_hit].mean()),
        "model_hit_elsewhere": float(model_hit[~gray_hit].mean()),
        "model_predicts_gray_level": float((prediction == gray_levels).mean()),
        "pixels_exactly_gray_in_truth": float(gray_hit.all(-1).mean()),
        "truth_channel_minus_gray_share_by_level": {k: float((distance == k).mean()) for k in range(8)},
        "model_error_share_by_level": {k: float((np.abs(prediction - truth) == k).mean()) for k in range(8)},
        "gray_copy_error_share_within_5": float((distance <= 5).mean()),
        "model_error_share_within_5": float((np.abs(prediction - truth) <= 5).mean()),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
