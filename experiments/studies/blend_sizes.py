"""Check the decoding blend between sizes: photos shrunk to an intermediate long side,
scored with the model's blended decoding and with each of its two calibrated pairs.

    python experiments/studies/blend_sizes.py --photos ../shared/data/bsds500-jpeg/val.tar --long-sides 120 240

Validation photos only (BSDS500 val, which the calibration also used); each photo is
shrunk (BOX, as colorize shrinks) to the long side given, then scored like
``calibrate_photo.py`` scores (gray input from the truth, full colorize path).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from PIL import Image

from huenet import datasets
from huenet.inference import Colorizer, Decoding, resolve_decoding, shrink_factor, working_shape
from huenet.modelfile import load_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the release tools in experiments/
from calibrate_photo import HeldOut  # noqa: E402  (the experiments folder is not a package)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="photo")
    parser.add_argument("--photos", required=True)
    parser.add_argument("--long-sides", type=int, nargs="+", default=[120, 240])
    arguments = parser.parse_args()
    model = load_model(arguments.model, engine="keras")
    if "shrunk" not in model.settings:
        raise SystemExit(f"{arguments.model}: no decoding for shrunk photos to blend")
    small = resolve_decoding(model, Decoding(), 1.0)  # the two calibrated pairs, as colorize resolves them
    large = resolve_decoding(model, Decoding(), float("inf"))
    photos = datasets.load_images(arguments.photos, skip_gray=True).images
    results = {}
    for side in arguments.long_sides:
        shrunk = []
        for photo in photos:
            height, width = working_shape(photo.shape[:2], side)  # long side at ``side``, as colorize shrinks
            shrunk.append(np.asarray(Image.fromarray(photo).resize((width, height), Image.Resampling.BOX)))
        colorizer = Colorizer(model, Decoding(), threads=2)
        factor = float(np.median([shrink_factor(p.shape[:2], colorizer.working_size) for p in shrunk]))
        blended = resolve_decoding(model, Decoding(), factor)
        held = HeldOut(f"photos@{side}", shrunk, colorizer)
        results[side] = {
            "shrink": factor,
            "blended": {"decoding": blended, **held.score(*blended)},
            "small pair": {"decoding": small, **held.score(*small)},
            "shrunk pair": {"decoding": large, **held.score(*large)},
            "gray copy": held.gray_copy(),
        }
        print(f"long side {side}: {json.dumps(results[side])}", flush=True)


if __name__ == "__main__":
    main()
