"""Study: does fading chroma where the predicted distribution is spread out help on ordinary photos?

A faithful colorizer should leave what it cannot place near neutral instead of tinting it.
The ab-bin head gives a distribution per pixel; its spread (the standard deviation of ab
under it, Lab units, at temperature 1) says how sure the network is. Each variant decodes as
usual and then multiplies the ab by a gain from the spread:

    gain = 1 / (1 + max(0, spread - knee) / width)            (per pixel, or the image's mean)

Scored on full-size photos through the colorize path (the calibration scorer), at the
model's working size. Validation sets only (imagenet-sample val, BSDS500 val).

    python experiments/studies/uncertainty_decoding.py src/huenet/weights/photo.keras \\
        --photos ../shared/data/imagenet-sample-jpeg/val.tar --output runs/uncertainty.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from calibrate_photo import HeldOut, score_images  # noqa: E402

from huenet import color, datasets  # noqa: E402
from huenet.inference import Colorizer, Decoding, decode_ab  # noqa: E402
from huenet.modelfile import load_model  # noqa: E402


def spread(logits: np.ndarray) -> np.ndarray:
    """(h, w, bins) logits -> (h, w) standard deviation of ab under the softmax, Lab units."""
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    bins = color.ab_bins()
    mean = p @ bins
    second = p @ (bins**2).sum(-1)
    return np.sqrt(np.maximum(second - (mean**2).sum(-1), 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--photos", nargs="+", required=True)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--decodings", default="0.4,-0.5 0.4,0.0 0.4,0.5 0.4,1.0")
    parser.add_argument("--knees", type=float, nargs="+", default=[15, 20, 25, 30])
    parser.add_argument("--widths", type=float, nargs="+", default=[5, 10, 20])
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    model = load_model(arguments.model, engine="keras")
    photos = [image for source in arguments.photos for image in datasets.load_images(source).images]
    if arguments.limit:
        photos = photos[: arguments.limit]
    held = HeldOut("photos", photos, Colorizer(model, Decoding(), None, threads=2))
    spreads = [spread(logits) for logits in held.logits]
    every = np.concatenate([s.ravel() for s in spreads])
    print("spread percentiles 5/25/50/75/95:", np.percentile(every, [5, 25, 50, 75, 95]).round(1).tolist(), flush=True)
    results = {
        "gray": held.gray_copy(),
        "spread_percentiles": np.percentile(every, [5, 25, 50, 75, 95]).tolist(),
        "variants": [],
    }
    print("gray", json.dumps(results["gray"]), flush=True)
    for pair in arguments.decodings.split():
        temperature, vividness = (float(x) for x in pair.split(","))
        decoded = [decode_ab(model, logits[None], Decoding(temperature, False, vividness))[0] for logits in held.logits]
        variants = [("none", None, None)] + [
            (mode, k, w) for mode in ("pixel", "image") for k, w in itertools.product(arguments.knees, arguments.widths)
        ]
        for mode, knee, width in variants:
            predictions = []
            for image, ab, s in zip(held.inputs, decoded, spreads):
                if mode == "none":
                    gain = 1.0
                else:
                    level = s if mode == "pixel" else np.full_like(s, s.mean())
                    gain = (1.0 / (1.0 + np.maximum(0.0, level - knee) / width))[..., None]
                predictions.append(np.asarray(held.colorizer.compose(image, ab * gain)))
            scores = score_images(predictions, held.truths)
            row = {
                "temperature": temperature,
                "vividness": vividness,
                "mode": mode,
                "knee": knee,
                "width": width,
                **scores,
            }
            results["variants"].append(row)
            print(json.dumps(row), flush=True)
            Path(arguments.output).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
