"""Would small images color better enlarged before the network? Measured on validation only.

    python experiments/enlarge_small.py runs/photo-scenes/photo-s13b.keras \
        --data ../shared/data/tiny-imagenet-jpeg/train.tar.gz --limit 1000 --scales 1 1.25 1.5 2

Today an image smaller than the working size runs at its own size (``inference.working_shape``).
Here each validation image (the run's own split, as ``calibrate_photo.py`` reads it) is also
enlarged ``scale`` times (bilinear on its gray levels), run through the network, and its
decoded ab shrunk back (box filter) to the grid the image would have had at its own size,
then composed with the image's own gray levels as colorize does. Scored at a few
vividness values so that sizes compare at equal colorfulness, not at one decoding.
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
from PIL import Image

from huenet import color
from huenet.images import read_image
from huenet.inference import Colorizer, Decoding, decode_ab
from huenet.modelfile import load_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate import validation_sample  # noqa: E402
from calibrate_photo import score_images  # noqa: E402


def _shrink_ab(ab: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if ab.shape[:2] == shape:
        return ab
    return np.stack([np.asarray(Image.fromarray(ab[..., c]).resize(shape[::-1], Image.Resampling.BOX)) for c in range(2)], -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--data", required=True)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 1.25, 1.5, 2.0])
    parser.add_argument("--temperature", type=float, default=0.4)
    parser.add_argument("--vividness", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--threads", type=int, default=1)
    arguments = parser.parse_args()

    model = load_model(arguments.model)
    truths = list(validation_sample(model, arguments.data, arguments.limit))
    inputs = [read_image(color.rgb_to_gray(truth)) for truth in truths]
    results = {}
    for scale in arguments.scales:
        enlarged = []
        for image in inputs:
            height, width = image.size
            size = (round(width * scale), round(height * scale))
            enlarged.append(read_image(np.asarray(Image.fromarray(image.gray).resize(size, Image.Resampling.BILINEAR))))
        working = max(max(image.size) for image in enlarged)
        colorizer = Colorizer(model, Decoding(), working, threads=arguments.threads)
        started = time.perf_counter()
        logits = colorizer.network_outputs(enlarged)
        seconds = time.perf_counter() - started
        own = Colorizer(model, Decoding(), max(max(image.size) for image in inputs), threads=arguments.threads)
        for vividness in arguments.vividness:
            decoding = Decoding(arguments.temperature, False, vividness)
            predictions = []
            for image, values in zip(inputs, logits):
                grid = (-(-image.size[0] // own.stride), -(-image.size[1] // own.stride))
                ab = _shrink_ab(decode_ab(model, values[None], decoding)[0], grid)
                predictions.append(np.asarray(own.compose(image, ab)))
            scores = score_images(predictions, truths)
            results[f"{scale},{vividness}"] = scores
            print(f"scale {scale} (network {seconds:.0f} s) T {arguments.temperature} vividness {vividness}: "
                  f"PSNR {scores['psnr_mean']:.3f} AuC {100 * scores['auc']:.2f}% colorfulness {scores['colorfulness_ratio']:.3f}",
                  flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
