"""Study: how far should one hint's color carry? (The user-like protocol of bench_hints.py.)

A person puts a hint where the colors are most wrong, usually on a thing whose color differs
from its surroundings; spreading tuned on random patches (which land mostly on large regions)
carried that color over the whole photo. This scores variants of ``hints.Spreading`` under
the user-like protocol (each next hint on the 8x8 cell whose colors are most wrong now), on
validation photos only, the whole photo and the pixels far from every hint.

The network's outputs are computed once per photo: valid for models whose hint inputs enter
at zero weight (the photo model 0.2.0), where hints change only what follows the network.
Each variant is named by a string of fields, e.g. "decay=1e-3 levin=0 global"; fields it
does not name take ``hints.LOCAL``'s values (since 2026-12-07 its levin share is 0.5), not the
model's:

    decay=D     Spreading.decay (the pull toward no correction)
    levin=S     Spreading.levin_share (0: the hint colors alone never weigh in)
    color=C     Spreading.color_scale
    gate=G      the change held back where the network finds the new color unlikely: times
                min(1, plausibility / G) (``plausibility`` below; not adopted)
    global      the decoding the hints choose applies to the whole photo (before 2026-12-06)
    fixed       no decoding chosen by hints at all (the automatic one)

    python experiments/studies/hint_locality.py --photos runs/p80 --variants "global decay=1e-4" \\
        "decay=5e-4 levin=0" --output runs/hint-locality.json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_hints import (  # noqa: E402
    CELL,
    COUNTS,
    PATCH,
    USER_COUNTS,
    _psnr,
    draw_patches,
    patch_hints,
    shrink_long_side,
    squash,
    user_session,
)

from huenet import color, datasets  # noqa: E402
from huenet import hints as hints_module  # noqa: E402
from huenet.images import read_image  # noqa: E402
from huenet.inference import Colorizer, Decoding, decode_ab, spread  # noqa: E402
from huenet.modelfile import load_model  # noqa: E402

PLAUSIBLE_RADIUS = 10.0  # Lab units: the network's probability within about this of a color


def plausibility(logits: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """How likely the network finds the colors ``ab`` (..., 2) at each cell, against its
    likeliest bin there: the probability under the softmax of ``logits`` (..., bins) smoothed
    by a Gaussian of ``PLAUSIBLE_RADIUS`` Lab units, at ``ab`` over at the best bin. In [0, 1]."""
    logits = np.asarray(logits, np.float32)
    probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    bins = color.ab_bins().astype(np.float32)

    def density(at: np.ndarray) -> np.ndarray:
        distance = ((bins - at[..., None, :]) ** 2).sum(axis=-1)
        return (probabilities * np.exp(-distance / (2 * PLAUSIBLE_RADIUS**2))).sum(axis=-1)

    best = density(bins[probabilities.argmax(axis=-1)])
    return np.clip(density(np.asarray(ab, np.float32)) / np.maximum(best, 1e-12), 0.0, 1.0)


def parse_variant(text: str) -> tuple[hints_module.Spreading, str]:
    """A variant string -> (Spreading, decoding mode: "local", "global" or "fixed")."""
    fields = {
        "decay": "decay",
        "levin": "levin_share",
        "color": "color_scale",
        "flat": "flat_share",
        "texture": "texture_scale",
        "power": "count_power",
    }
    values, mode = {}, "local"
    for token in text.split():
        if token in ("global", "fixed"):
            mode = token
            continue
        key, _, value = token.partition("=")
        if key == "gate":
            values["gate"] = float(value)
            continue
        if key not in fields:
            raise SystemExit(f"hint_locality: unknown field {key!r} in {text!r}")
        values[fields[key]] = float(value)
    gate = values.pop("gate", 0.0)
    return dataclasses.replace(hints_module.LOCAL, **values), mode, gate


def colors(colorizer: Colorizer, image, outputs, truth_ab, variant, corners, patch: int = CELL) -> np.ndarray:
    spreading, mode, gate = variant
    hints = patch_hints(truth_ab, np.array(corners).reshape(-1, 2), patch)
    _, network_input = colorizer.network_input(image, hints)
    if not hints:
        ab = colorizer.honor_hints(image, outputs, [])
    else:
        shrink = colorizer.shrink(image)
        channels = colorizer._hint_cells(network_input, outputs.shape[:2])
        chosen = colorizer.decoding if mode == "fixed" else colorizer.hinted_decoding(outputs, channels, shrink)
        ab = decode_ab(colorizer.model, outputs[None], chosen, shrink)[0]
        ab_auto = decode_ab(colorizer.model, outputs[None], colorizer.decoding, shrink)[0]
        automatic = ab_auto if mode == "local" else None
        lightness = channels[..., 3] * color.LIGHTNESS_SCALE + color.LIGHTNESS_CENTER
        ab = hints_module.propagate(
            ab, lightness, channels[..., :3], spreading, spread(outputs), automatic, hint_count=len(hints)
        )
        if gate:
            keep = np.clip(plausibility(outputs, ab) / gate, 0.0, 1.0)[..., None]
            keep = np.where(channels[..., 2:3] > 0, 1.0, keep)
            ab = ab_auto + keep * (ab - ab_auto)
    return np.asarray(colorizer.compose(image, ab))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--photos", action="append", required=True)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--variants", nargs="+", required=True)
    parser.add_argument("--counts", type=int, nargs="+", default=list(USER_COUNTS))
    parser.add_argument("--output", required=True)
    parser.add_argument(
        "--protocol", choices=("user", "random"), default="user", help="bench_hints.py's user-like or random protocol"
    )
    arguments = parser.parse_args()
    colorizer = Colorizer(load_model(arguments.model, engine="numpy"), Decoding())
    variants = {text: parse_variant(text) for text in arguments.variants}
    counts = tuple(sorted(set(arguments.counts if arguments.protocol == "user" else COUNTS)))
    parts = ("whole", "far", "far_before")
    scores = {text: {part: {n: [] for n in counts} for part in parts} for text in variants}
    truths = []
    for source in arguments.photos:
        loaded = list(datasets.load_images(source).images)
        truths += loaded[: arguments.limit] if arguments.limit else loaded
    started = time.perf_counter()
    for index, truth in enumerate(tqdm(truths, unit="photo")):
        if arguments.protocol == "random":
            truth = squash(truth)
            image = read_image(color.rgb_to_gray(truth))
            truth_ab = color.rgb_to_lab(truth)[..., 1:]
            (outputs,) = colorizer.network_outputs([image])
            for text, variant in variants.items():
                for n in counts:
                    corners = draw_patches(n, index * 101 + n)  # bench_hints.py's seeds at --seed 0
                    rgb = colors(colorizer, image, outputs, truth_ab, variant, list(map(tuple, corners)), PATCH)
                    scores[text]["whole"][n].append(_psnr(rgb, truth))
                    scores[text]["far"][n].append(float("nan"))
                    scores[text]["far_before"][n].append(float("nan"))
            continue
        truth = shrink_long_side(truth)
        image = read_image(color.rgb_to_gray(truth))
        truth_ab = color.rgb_to_lab(truth)[..., 1:]
        (outputs,) = colorizer.network_outputs([image])
        for text, variant in variants.items():
            session = user_session(
                truth, functools.partial(colors, colorizer, image, outputs, truth_ab, variant), counts
            )
            for part in parts:
                for n in counts:
                    scores[text][part][n].append(session[part][n])
    summary = {
        text: {part: {str(n): float(np.nanmean(v)) for n, v in values.items()} for part, values in result.items()}
        for text, result in scores.items()
    }
    for text, result in summary.items():
        far = zip(result["far"].values(), result["far_before"].values())
        print(
            f"{text:40s} whole " + " ".join(f"{v:6.2f}" for v in result["whole"].values()),
            " far - before " + " ".join(f"{v - b:+6.2f}" for v, b in far),
        )
    Path(arguments.output).write_text(
        json.dumps(
            {
                "photos": len(truths),
                "sources": arguments.photos,
                "seconds": round(time.perf_counter() - started),
                "scores": summary,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
