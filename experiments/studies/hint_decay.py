"""Study: the hint propagation's pull toward no correction (``hint_decay`` in a model's
settings; ``hints.propagate``), on imagenet-sample val photos that ``bench_hints.py`` does
not report (its protocol: 256x256, 6x6 patches with the truth's mean color, fixed seeds).

    python experiments/studies/hint_decay.py --model runs/photo-hint-branch/photo.keras \\
        --decays 0 1e-4 1e-3 1e-2 none --output runs/hint-decay-branch.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_hints import run_set  # noqa: E402

from huenet import datasets  # noqa: E402
from huenet.inference import Colorizer, Decoding  # noqa: E402
from huenet.modelfile import load_model  # noqa: E402


def add_photo_arguments(parser: argparse.ArgumentParser) -> None:
    """--model and the validation photos (--photos, --start, --count) of the hint studies."""
    parser.add_argument("--model", default=None)
    parser.add_argument("--photos", default="../shared/data/imagenet-sample-jpeg/val.tar")
    parser.add_argument(
        "--start", type=int, default=400, help="first photo (bench_hints.py reports at most the first 400)"
    )
    parser.add_argument("--count", type=int, default=80)


def validation_photos(arguments: argparse.Namespace) -> list:
    """The photos ``add_photo_arguments`` names."""
    return list(datasets.load_images(arguments.photos).images[arguments.start : arguments.start + arguments.count])


def score(name: str, photos: list, colorizer: Colorizer, counts: list[int]) -> dict[str, float]:
    """huenet's PSNR per hint count on ``photos``, bench_hints.py's protocol and seeds, rounded."""
    scores = run_set(name, photos, colorizer, tuple(counts), levin_limit=len(photos), seed=0, levin_scores={})
    return {n: round(v, 3) for n, v in scores["huenet"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_photo_arguments(parser)
    parser.add_argument(
        "--decays", nargs="+", default=["0", "1e-4", "1e-3"], help="numbers, or none: the network alone"
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50, 100])
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    photos = validation_photos(arguments)
    rows = {}
    for decay in arguments.decays:
        model = load_model(arguments.model)
        model.metadata["settings"] = {**model.settings, "hint_decay": None if decay == "none" else float(decay)}
        rows[decay] = score(f"decay {decay}", photos, Colorizer(model, Decoding()), arguments.counts)
        print(decay, rows[decay], flush=True)
    Path(arguments.output).write_text(
        json.dumps(
            {"photos": [arguments.start, arguments.start + len(photos)], "model": arguments.model, "scores": rows},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
