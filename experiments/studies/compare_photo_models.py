"""Score several photo models on the same held-out sets, on one grid of decodings.

    python experiments/studies/compare_photo_models.py runs/photo-v1/model.keras runs/photo-scenes/model.keras \
        --data ../shared/data/tiny-imagenet-jpeg/train.tar.gz --photos ../shared/data/bsds500-jpeg/val.tar \
        --limit 1000 --working-size 80 --output runs/photo-wise/compare.json

The sets are ``calibrate_photo.py``'s (the first model's Tiny ImageNet validation split and
full-size photos that are not training data), scored the same way. For each model (and,
with ``--flip``, each model with its logits averaged over the image and its mirror image)
it prints the best PSNR among decodings that keep ``--min-colorfulness`` on both sets, and
writes every score. For choosing between candidate models; no test split is read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from huenet import color, datasets
from huenet.images import read_image
from huenet.inference import Colorizer, Decoding
from huenet.modelfile import load_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the release tools in experiments/
from calibrate import validation_sample  # noqa: E402  (the experiments folder is not a package)
from calibrate_photo import HeldOut  # noqa: E402


def _average_with_mirror(held: HeldOut) -> None:
    """Replace the set's logits by their mean with those of the mirrored images (flipped back)."""
    mirrored = held.colorizer.network_outputs([read_image(color.rgb_to_gray(t)[:, ::-1]) for t in held.truths])
    held.logits = [(a + b[:, ::-1]) / 2 for a, b in zip(held.logits, mirrored)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data", required=True)
    parser.add_argument("--photos", nargs="+", required=True)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--working-size", type=int, default=80)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.6, 0.4])
    parser.add_argument("--vividness", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--min-colorfulness", type=float, default=0.5)
    parser.add_argument("--gains", type=float, nargs="+", default=[1.0], help="chroma gains applied to the decoded ab")
    parser.add_argument("--flip", action="store_true", help="also score each model with mirror-averaged logits")
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    started = time.perf_counter()

    first = load_model(arguments.models[0], engine="keras")
    truths = {
        "tiny": list(validation_sample(first, arguments.data, arguments.limit)),
        "photos": [
            image for source in arguments.photos for image in datasets.load_images(source, skip_gray=True).images
        ],
    }
    grid = [(t, v, g) for t in arguments.temperatures for v in arguments.vividness for g in arguments.gains]
    results: dict = {"gray_copy": None, "models": {}}
    references: dict = {}  # each set's truth references, made once for every model
    for path in arguments.models:
        model = first if path == arguments.models[0] else load_model(path, engine="keras")
        colorizer = Colorizer(model, Decoding(), arguments.working_size, threads=2)
        sets = {
            name: HeldOut(name, images, colorizer, references=references.get(name)) for name, images in truths.items()
        }
        references = {name: held.references() for name, held in sets.items()}
        if results["gray_copy"] is None:
            results["gray_copy"] = {name: held.gray_copy() for name, held in sets.items()}
            print(f"gray copy: {json.dumps(results['gray_copy'])}", flush=True)
        for flip in [False, True] if arguments.flip else [False]:
            if flip:
                for held in sets.values():
                    _average_with_mirror(held)
            label = f"{path}{' +flip' if flip else ''}"
            by_decoding = {
                f"{t},{v},{g}": {name: held.score(t, v, g) for name, held in sets.items()} for t, v, g in grid
            }
            eligible = [
                k
                for k, s in by_decoding.items()
                if all(v["colorfulness_ratio"] >= arguments.min_colorfulness for v in s.values())
            ]
            best = max(
                eligible or by_decoding, key=lambda k: np.mean([v["psnr_mean"] for v in by_decoding[k].values()])
            )
            results["models"][label] = {"best": best, "by_decoding": by_decoding}
            print(
                f"{label}: best {best}: {json.dumps(by_decoding[best])} ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
            for key, value in by_decoding.items():
                print(
                    f"  {key}: "
                    + "; ".join(
                        f"{name} {v['psnr_mean']:.3f} dB {v['auc']:.4f} c {v['colorfulness_ratio']:.3f}"
                        for name, v in value.items()
                    ),
                    flush=True,
                )
            Path(arguments.output).with_suffix(".partial.json").write_text(json.dumps(results, indent=1))
    results["arguments"] = vars(arguments)
    Path(arguments.output).parent.mkdir(parents=True, exist_ok=True)
    Path(arguments.output).write_text(json.dumps(results, indent=1))
    print(f"wrote {arguments.output}")


if __name__ == "__main__":
    main()
