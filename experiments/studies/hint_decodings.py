"""Study: which decoding should an image with color hints take (``Colorizer.hinted_decoding``)?

The automatic decoding (temperature, vividness) is a compromise, chosen over many photos,
between faithful and colorful. A hint shows how colorful this photo is: of a set of
candidate decodings, take the one whose colors on the hints' cells come closest to the
hints'. This scores candidate sets on validation photos that ``bench_hints.py`` does not
report (imagenet-sample val from photo 400; BSDS500 val), with its protocol (256x256, 6x6
patches with the truth's mean color, fixed seeds):

- ``calibrated``: the model's own decoding, always (before 2026-12-03);
- ``vividness``: the model's temperature, vividness -1 to 2 in steps of 0.5;
  each vividness away from the calibrated one costs ``--costs`` (a prior);
- ``wide``: temperatures 0.25 / 0.4 / 0.6 / 1.0 by vividness -2 to 3 in steps of 0.5.

    python experiments/studies/hint_decodings.py --photos ../shared/data/imagenet-sample-jpeg/val.tar --start 400 \\
        --count 80 --output runs/hint-decodings-imagenet.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hint_decay import add_photo_arguments, score, validation_photos  # noqa: E402

from huenet import inference  # noqa: E402
from huenet.inference import Colorizer, Decoding  # noqa: E402
from huenet.modelfile import load_model  # noqa: E402

STEPS = [x / 2 for x in range(-4, 7)]  # -2 .. 3
CANDIDATES = {
    "calibrated": (Decoding(),),
    "vividness": tuple(Decoding(vividness=v) for v in STEPS if -1 <= v <= 2),
    "wide": tuple(Decoding(temperature=t, vividness=v) for t in (0.25, 0.4, 0.6, 1.0) for v in STEPS),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_photo_arguments(parser)
    parser.add_argument("--sets", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument(
        "--costs",
        type=float,
        nargs="+",
        default=[0.0],
        help="HINT_VIVIDNESS_COST values to score (squared Lab units per unit of vividness squared)",
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 5, 10, 20, 100])
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    photos = validation_photos(arguments)
    colorizer = Colorizer(load_model(arguments.model), Decoding())
    rows = {}
    for name in arguments.sets:
        for cost in arguments.costs if name != "calibrated" else [0.0]:
            inference.HINT_DECODINGS, inference.HINT_VIVIDNESS_COST = CANDIDATES[name], cost
            key = name if name == "calibrated" else f"{name} cost {cost:g}"
            rows[key] = score(key, photos, colorizer, arguments.counts)
            print(key, rows[key], flush=True)
    Path(arguments.output).write_text(
        json.dumps(
            {
                "photos": [arguments.photos, arguments.start, arguments.start + len(photos)],
                "model": arguments.model,
                "scores": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
