"""Old photos are faded: does a low-contrast gray cost the colors, and does stretching the
network's input (never the output's gray) win them back?

    python experiments/studies/faded_photos.py src/huenet/weights/photo.keras \
        --photos imagenet=../scratch/imagenet-half other=../shared/data/bsds500-jpeg/val.tar \
        other=../scratch/voc-val other=../scratch/other-photos --every 3 --output runs/faded/scores.json

Each validation photo's truth is faded in Lab (L' = contrast * L + lift, its colors kept; with
``--grain``, Gaussian noise of that many L units too), so the faded truth is what a perfect
colorizer of the faded gray would give. Each fade is scored as ``calibrate_photo.py`` scores
(full size, through the colorize path, the model's working size, one decoding), with the
network reading the faded gray as it is and stretched (``Decoding.stretch``: the working
lightness's 1st-99th percentiles widened onto ``--stretch``'s span, the product's by default).
Validation photos only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from huenet import color
from huenet.inference import STRETCH_SPAN, Colorizer, Decoding
from huenet.modelfile import load_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the release tools in experiments/
from calibrate_photo import HeldOut  # noqa: E402  (the experiments folder is not a package)
from studies.photo_working_size import named_photos, score_line  # noqa: E402


def fade(truth: np.ndarray, contrast: float, lift: float, grain: float, rng: np.random.Generator) -> np.ndarray:
    """An RGB truth with its lightness faded (and grained), its ab kept, back to uint8 RGB."""
    lab = color.rgb_to_lab(truth).astype(np.float64)
    lab[..., 0] = contrast * lab[..., 0] + lift
    if grain > 0:
        lab[..., 0] += rng.normal(0.0, grain, lab.shape[:2])
    lab[..., 0] = np.clip(lab[..., 0], 0.0, 100.0)
    return np.clip(np.round(color.lab_to_rgb(lab) * 255.0), 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--photos", nargs="+", required=True, help="name=folder-or-tar of validation photos")
    parser.add_argument("--every", type=int, default=1, help="keep every Nth photo of each source")
    parser.add_argument(
        "--fades",
        nargs="+",
        default=["1,0,0", "0.6,20,0", "0.6,20,3"],
        help="contrast,lift,grain (L units) of each fade; 1,0,0 is the photo as it is",
    )
    parser.add_argument(
        "--stretch",
        nargs="*",
        type=float,
        default=list(STRETCH_SPAN),
        help="the span the network's input is stretched onto; empty: not scored",
    )
    parser.add_argument("--decoding", default="0.4,0.3", help="temperature,vividness (photo 0.2.5's faithful)")
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    started = time.perf_counter()
    model = load_model(arguments.model, engine="numpy")
    temperature, vividness = (float(v) for v in arguments.decoding.split(","))
    truths = named_photos(arguments.photos, arguments.every)
    colorizers = {"as it is": Colorizer(model, Decoding(), None, threads=2)}
    if arguments.stretch:
        stretching = Colorizer(model, Decoding(stretch=True), None, threads=2)
        stretching.stretch_span = tuple(arguments.stretch)
        colorizers["stretched"] = stretching
    results: dict = {"arguments": vars(arguments), "fades": {}}
    for spec in arguments.fades:
        contrast, lift, grain = (float(v) for v in spec.split(","))
        rng = np.random.default_rng(0)
        faded = {name: [fade(t, contrast, lift, grain, rng) for t in images] for name, images in truths.items()}
        row: dict = {"gray copy": {}, **{label: {} for label in colorizers}}
        for name, images in faded.items():
            references = None  # the faded truths' Lab, made once for every colorizer
            for label, colorizer in colorizers.items():
                held = HeldOut(name, images, colorizer, references=references)
                if references is None:
                    row["gray copy"][name] = held.gray_copy()
                    references = held.references()
                row[label][name] = held.score(temperature, vividness)
        for label in (*colorizers, "gray copy"):
            print(f"fade {spec}, {label}: {score_line(row[label])} ({time.perf_counter() - started:.0f} s)", flush=True)
        results["fades"][spec] = row
        Path(arguments.output).parent.mkdir(parents=True, exist_ok=True)
        Path(arguments.output).write_text(json.dumps(results, indent=1))
    print(f"wrote {arguments.output} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
