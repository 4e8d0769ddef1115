"""Choose a photo model's working size and decodings on held-out data, never on a test split.

    python experiments/calibrate_photo.py runs/photo-scenes/model.keras \
        --data ../shared/data/tiny-imagenet-jpeg/train.tar.gz \
        --photos ../shared/data/bsds500-jpeg/val.tar \
        --output runs/photo-scenes/calibrated.keras

Two held-out sets, scored the way ``huenet evaluate`` scores (grayscale truths left out,
full-size photos at their full size through the colorize path):
- "tiny": the run's own validation split, rebuilt from the training source with the run's
  fraction and seed (``--limit`` images of it, sampled with seed 0);
- "photos": full-size photos that are not in the model's training data (BSDS500 val; its
  train photos too for a model that did not fine-tune on them).
Vividness below 0 pulls toward the common, muted colors: a network that paints unfamiliar
scenes too colorfully can be brought back toward the gray copy's safety that way.

1. Working size: each candidate long side is scored on the photos with a few decodings;
   the best mean photo PSNR over those decodings wins. (The 64x64 set runs at its own
   size for every candidate of 64 or more, so it cannot choose.)
2. Decodings (temperature x vividness) at that working size, on both sets. The network
   runs once per image; every decoding reuses its logits.
   - Faithful: the best PSNR, averaged over the two sets, among decodings that keep at least
     ``--min-colorfulness`` of the truth's colorfulness on both.
   - Vivid: among decodings whose PSNR and AuC stay above the gray copy's on both sets (plus
     margins), the one whose colorfulness ratios are closest to ``--vivid-target`` (the
     larger of the two distances counts).
3. Writes the model with those settings and a ``calibration`` record (every number scored).
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

from huenet import color, datasets, metrics
from huenet.images import read_image
from huenet.inference import Colorizer, Decoding, decode_ab
from huenet.modelfile import load_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate import save_calibrated, validation_sample  # noqa: E402  (the experiments folder is not a package)


def score_images(predictions: list, truths: list) -> dict[str, float]:
    """Mean per-image PSNR, AuC (pixel-weighted) and colorfulness ratio, images of any sizes."""
    groups: dict[tuple, list[int]] = {}
    for index, truth in enumerate(truths):
        groups.setdefault(truth.shape, []).append(index)
    psnr = auc = colorful = truth_colorful = pixels = 0.0
    for shape, indices in groups.items():
        prediction = np.stack([predictions[i] for i in indices])
        truth = np.stack([truths[i] for i in indices])
        count, group_pixels = len(indices), len(indices) * shape[0] * shape[1]
        psnr += metrics.psnr_per_image(prediction, truth) * count
        auc += metrics.auc(prediction, truth) * group_pixels
        colorful += metrics.colorfulness(prediction) * count
        truth_colorful += metrics.colorfulness(truth) * count
        pixels += group_pixels
    images = len(truths)
    return {"psnr_mean": psnr / images, "auc": auc / pixels, "colorfulness_ratio": colorful / truth_colorful}


class HeldOut:
    """One set's truths, its gray inputs and the network's logits at one working size
    (``compare_photo_models.py`` scores candidate models with it too)."""

    def __init__(self, name: str, truths: list, colorizer: Colorizer):
        self.name = name
        self.truths = truths
        self.inputs = [read_image(color.rgb_to_gray(truth)) for truth in truths]
        self.colorizer = colorizer
        started = time.perf_counter()
        self.logits = colorizer.network_outputs(self.inputs)
        print(f"{name}: {len(truths)} images, network at working size {colorizer.working_size} "
              f"in {time.perf_counter() - started:.0f} s", flush=True)

    def score(self, temperature: float, vividness: float, gain: float = 1.0) -> dict[str, float]:
        """Scores of one decoding; ``gain`` scales the decoded ab (a chroma gain to compare)."""
        decoding = Decoding(temperature, False, vividness)
        model = self.colorizer.model
        predictions = [np.asarray(self.colorizer.compose(image, gain * decode_ab(model, logits[None], decoding)[0]))
                       for image, logits in zip(self.inputs, self.logits)]
        return score_images(predictions, self.truths)

    def gray_copy(self) -> dict[str, float]:
        return score_images([np.repeat(color.rgb_to_gray(t)[..., None], 3, axis=-1) for t in self.truths], self.truths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--data", required=True, help="the training source (its validation split is rebuilt)")
    parser.add_argument("--photos", nargs="+", required=True, help="full-size photos (folders or tars) that are not training data")
    parser.add_argument("--limit", type=int, default=2000, help="validation images of the training source to score")
    parser.add_argument("--working-sizes", type=int, nargs="+", default=[64, 96, 128, 160, 192, 256])
    parser.add_argument("--size-decodings", default="0.4,-0.5 0.4,0.0 0.4,0.5",
                        help="temperature,vividness pairs the working size is chosen with")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.6, 0.4, 0.3])
    parser.add_argument("--vividness", type=float, nargs="+", default=[-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5])
    parser.add_argument("--min-colorfulness", type=float, default=0.55, help="faithful keeps this share of the truth's colorfulness on both sets")
    parser.add_argument("--vivid-target", type=float, default=0.95, help="colorfulness ratio the vivid setting aims at")
    parser.add_argument("--margin-db", type=float, default=0.1, help="vivid stays this far above the gray copy's PSNR on both sets")
    parser.add_argument("--margin-auc", type=float, default=0.002, help="... and this far above its AuC")
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    started = time.perf_counter()

    model = load_model(arguments.model, engine="keras")  # throughput over many images: Keras is faster there
    tiny_truths = list(validation_sample(model, arguments.data, arguments.limit))
    photos = [image for source in arguments.photos for image in datasets.load_images(source, skip_gray=True).images]
    print(f"{len(tiny_truths)} validation images of {arguments.data}; {len(photos)} color photos", flush=True)

    # 1. Working size, on the photos.
    size_decodings = [tuple(float(x) for x in pair.split(",")) for pair in arguments.size_decodings.split()]
    by_size: dict[int, dict[str, dict[str, float]]] = {}
    for size in arguments.working_sizes:
        held = HeldOut(f"photos@{size}", photos, Colorizer(model, Decoding(), size, threads=2))
        by_size[size] = {f"{t},{v}": held.score(t, v) for t, v in size_decodings}
        mean_psnr = float(np.mean([s["psnr_mean"] for s in by_size[size].values()]))
        print(f"working size {size}: photo PSNR {mean_psnr:.3f} ({json.dumps(by_size[size])})", flush=True)
    working_size = max(by_size, key=lambda size: np.mean([s["psnr_mean"] for s in by_size[size].values()]))
    print(f"working size: {working_size}", flush=True)

    # 2. Decodings, on both sets at that size.
    sets = {"tiny": HeldOut("tiny", tiny_truths, Colorizer(model, Decoding(), working_size, threads=2)),
            "photos": HeldOut("photos", photos, Colorizer(model, Decoding(), working_size, threads=2))}
    gray = {name: held.gray_copy() for name, held in sets.items()}
    print(f"gray copy: {json.dumps(gray)}", flush=True)
    scores: dict[tuple[float, float], dict[str, dict[str, float]]] = {}
    for temperature in arguments.temperatures:
        for vividness in arguments.vividness:
            scores[(temperature, vividness)] = {name: held.score(temperature, vividness) for name, held in sets.items()}
            print(f"T={temperature} vividness={vividness}: {json.dumps(scores[(temperature, vividness)])}", flush=True)

    def mean_psnr(key: tuple[float, float]) -> float:
        return float(np.mean([s["psnr_mean"] for s in scores[key].values()]))

    colorful_enough = [key for key, s in scores.items() if all(v["colorfulness_ratio"] >= arguments.min_colorfulness for v in s.values())]
    faithful = max(colorful_enough or scores, key=mean_psnr)
    allowed = [key for key, s in scores.items()
               if all(s[name]["psnr_mean"] >= gray[name]["psnr_mean"] + arguments.margin_db
                      and s[name]["auc"] >= gray[name]["auc"] + arguments.margin_auc for name in s)]
    vivid = min(allowed or [faithful],
                key=lambda key: max(abs(v["colorfulness_ratio"] - arguments.vivid_target) for v in scores[key].values()))
    print(f"faithful: temperature {faithful[0]}, vividness {faithful[1]}: {json.dumps(scores[faithful])}", flush=True)
    print(f"vivid: temperature {vivid[0]}, vividness {vivid[1]}: {json.dumps(scores[vivid])}", flush=True)

    save_calibrated(model, arguments.model, arguments.output, faithful, vivid, working_size, {
        "validation_images": len(tiny_truths),
        "photos": len(photos),
        "gray_copy": gray,
        "photo_scores_by_working_size": {str(k): v for k, v in by_size.items()},
        "by_temperature_and_vividness": {f"{t},{v}": s for (t, v), s in scores.items()},
        "seconds": round(time.perf_counter() - started, 1),
    })
    print(f"wrote {arguments.output} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
