"""Which working size should a photo model run at? Full-size validation photos, several sizes.

    python experiments/studies/photo_working_size.py src/huenet/weights/photo.keras \
        --photos imagenet=../scratch/imagenet-half other=../shared/data/bsds500-jpeg/val.tar \
        --every 3 --working-sizes 224 288 352 --output runs/working-size/scores.json

Each named set (``name=folder-or-tar``; several sources may share a name) is scored the way
``calibrate_photo.py`` scores photos (full size, through the colorize path, grayscale truths
left out) at each working size, on one grid of decodings: the network runs once a photo and
size, every decoding reuses its logits. Only validation photos belong here.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from huenet import datasets
from huenet.inference import Colorizer, Decoding
from huenet.modelfile import load_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the release tools in experiments/
from calibrate_photo import HeldOut  # noqa: E402  (the experiments folder is not a package)


def named_photos(specs: list[str], every: int = 1) -> dict[str, list]:
    """``name=folder-or-tar`` specs (several may share a name; no name: "photos") -> each
    name's color photos, every ``every``-th of each source (grayscale ones left out)."""
    named: dict[str, list] = {}
    for spec in specs:
        name, _, source = spec.rpartition("=")
        named.setdefault(name or "photos", []).extend(datasets.load_images(source, skip_gray=True).images[::every])
    return named


def score_line(scores: dict) -> str:
    """Each named set's PSNR, AuC and colorfulness ratio on one line."""
    return "; ".join(
        f"{name} {s['psnr_mean']:.3f} dB {100 * s['auc']:.2f}% c {s['colorfulness_ratio']:.3f}"
        for name, s in scores.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--photos", nargs="+", required=True, help="name=folder-or-tar of validation photos")
    parser.add_argument("--every", type=int, default=1, help="keep every Nth photo of each source")
    parser.add_argument("--working-sizes", type=int, nargs="+", default=[224, 288, 352])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.4])
    parser.add_argument("--vividness", type=float, nargs="+", default=[0.25, 0.5, 1.0, 1.5])
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    started = time.perf_counter()

    model = load_model(arguments.model, engine="numpy")
    truths = named_photos(arguments.photos, arguments.every)
    results: dict = {"arguments": vars(arguments), "gray_copy": {}, "by_working_size": {}}
    for size in arguments.working_sizes:
        colorizer = Colorizer(model, Decoding(), size, threads=2)
        scores: dict = {}
        for name, images in truths.items():
            held = HeldOut(name, images, colorizer)
            if name not in results["gray_copy"]:
                results["gray_copy"][name] = held.gray_copy()
                print(f"{name}: gray copy {json.dumps(results['gray_copy'][name])}", flush=True)
            for t in arguments.temperatures:
                for v in arguments.vividness:
                    scores.setdefault(f"{t},{v}", {})[name] = held.score(t, v)
            del held
            gc.collect()
        results["by_working_size"][str(size)] = scores
        for key, value in scores.items():
            line = score_line(value)
            print(f"size {size} decoding {key}: {line} ({time.perf_counter() - started:.0f} s)", flush=True)
        Path(arguments.output).parent.mkdir(parents=True, exist_ok=True)
        Path(arguments.output).write_text(json.dumps(results, indent=1))
    print(f"wrote {arguments.output} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
