"""Do two photo networks colorize better together? Their ab-bin outputs averaged, on full-size
validation photos, beside each network alone.

    python experiments/studies/photo_ensemble.py src/huenet/weights/photo.keras \
        runs/lite1-mix-frozen/model.keras --photos imagenet=../scratch/imagenet-half \
        other=../shared/data/bsds500-jpeg/val.tar other=../scratch/voc-val other=../scratch/other-photos \
        --every 3 --output runs/ensemble/lite0-lite1.json

Both networks run once a photo at the working size (the second takes the first's
``min_working_size``, so small photos are enlarged alike); every decoding reuses their
outputs. "mean probabilities" averages the two softmax distributions, "mean logits" their
logits (a geometric mean of the distributions); the first network's bin prior decodes
both. Scored as ``calibrate_photo.py`` scores photos; only validation photos belong here.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from huenet.inference import Colorizer, Decoding
from huenet.modelfile import load_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the release tools in experiments/
sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate_photo import HeldOut  # noqa: E402  (the experiments folder is not a package)
from photo_working_size import named_photos, score_line  # noqa: E402

ROWS = ("first", "second", "mean probabilities", "mean logits")


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float32) - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _combine(a: np.ndarray, b: np.ndarray, how: str) -> np.ndarray:
    if how == "mean probabilities":
        return np.log(0.5 * _softmax(a) + 0.5 * _softmax(b) + 1e-12).astype(np.float16)
    return (0.5 * a.astype(np.float32) + 0.5 * b.astype(np.float32)).astype(np.float16)


def combined(first: HeldOut, second: HeldOut, how: str, in_place: bool = False) -> HeldOut:
    """``first`` with its logits replaced by the two networks' combined outputs. ``in_place``
    overwrites ``first``'s and frees ``second``'s as it goes: a thousand photos' logits at 288 px
    are about 10 GB a network in float16, and three such lists do not fit in 24 GB."""
    held = first if in_place else copy.copy(first)
    if not in_place:
        held.logits = list(first.logits)
    for index, b in enumerate(second.logits):
        held.logits[index] = _combine(first.logits[index], b, how)
        if in_place:
            second.logits[index] = None
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--photos", nargs="+", required=True, help="kind=folder-or-tar of validation photos")
    parser.add_argument("--every", type=int, default=1, help="keep every Nth photo of each source")
    parser.add_argument("--working-size", type=int, default=288)
    parser.add_argument("--temperature", type=float, default=0.4)
    parser.add_argument("--vividness", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument(
        "--rows",
        nargs="+",
        choices=ROWS,
        default=list(ROWS),
        help="what to score (each row costs minutes on a thousand photos)",
    )
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    started = time.perf_counter()

    photos, kinds = [], []
    for kind, images in named_photos(arguments.photos, arguments.every).items():
        photos += images
        kinds += [kind] * len(images)
    first = load_model(arguments.first, engine="numpy")
    second = load_model(arguments.second, engine="numpy")
    second.settings["min_working_size"] = first.settings.get("min_working_size", 0)
    # One set of truth references for every row (the copies in ``combined`` share it too):
    # a thousand full-size photos' take about a minute and gigabytes each time.
    held = {"first": HeldOut("first", photos, Colorizer(first, Decoding(), arguments.working_size, threads=2), kinds)}
    references = held["first"].references()
    colorizer = Colorizer(second, Decoding(), arguments.working_size, threads=2)
    held["second"] = HeldOut("second", photos, colorizer, kinds, references)
    combos = [row for row in arguments.rows if row.startswith("mean")]
    in_place = len(combos) == 1 and not {"first", "second"} & set(arguments.rows)
    for how in combos:
        held[how] = combined(held["first"], held["second"], how, in_place)
    results: dict = {"arguments": vars(arguments), "scores": {}}
    for vividness in arguments.vividness:
        for name in arguments.rows:
            one = held[name]
            scores = one.score(arguments.temperature, vividness)
            results["scores"][f"{name},{vividness}"] = scores
            line = score_line(scores.get("kinds") or {"photos": scores})
            print(f"{name}, vividness {vividness}: {line} ({time.perf_counter() - started:.0f} s)", flush=True)
        Path(arguments.output).parent.mkdir(parents=True, exist_ok=True)
        Path(arguments.output).write_text(json.dumps(results, indent=1))
    print(f"wrote {arguments.output} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
