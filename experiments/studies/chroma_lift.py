"""Study: more color for less PSNR by adding chroma along each pixel's hue, not multiplying it?

If the decoded ab is the network's estimate of the mean color m, a prediction m + d (any d)
costs |d|^2 of expected squared error, whatever m is. Scaling the chroma (a gain c, or the
vividness tilt, which moves about the same way) puts d = (c - 1) m: the most where the
chroma is already large, so for one unit of added mean chroma it costs E|m|^2 / E[|m|]^2
times as much as adding the same chroma to every pixel. The lift here adds ``lift`` Lab
units of chroma along each pixel's own hue, faded in below ``knee`` Lab units of chroma
(where the hue is noise):

    ab' = ab * (1 + lift / sqrt(|ab|^2 + knee^2))

Scored on full-size validation photos through the colorize path (the calibration scorer),
one working size, every decoding from one network pass per photo.

    python experiments/studies/chroma_lift.py src/huenet/weights/photo.keras \\
        --photos imagenet=../scratch/imagenet-half other=../shared/data/bsds500-jpeg/val.tar \\
        other=../scratch/other-photos other=../scratch/voc-val --every 3 --output runs/chroma-lift/scores.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from calibrate_photo import HeldOut, score_images  # noqa: E402
from studies.photo_working_size import named_photos  # noqa: E402

from huenet.inference import Colorizer, Decoding, decode_ab  # noqa: E402
from huenet.modelfile import load_model  # noqa: E402


def lifted(ab: np.ndarray, lift: float, knee: float) -> np.ndarray:
    """ab with ``lift`` Lab units of chroma added along its hue (faded in below ``knee``)."""
    if not lift:
        return ab
    chroma = np.sqrt((ab.astype(np.float32) ** 2).sum(axis=-1, keepdims=True) + knee**2)
    return ab * (1.0 + lift / chroma)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--photos", nargs="+", required=True, help="name=folder-or-tar of validation photos")
    parser.add_argument("--every", type=int, default=1, help="keep every Nth photo of each source")
    parser.add_argument("--working-size", type=int, default=None)
    parser.add_argument("--decodings", default="0.4,0 0.4,0.5 1.0,0 1.0,0.5", help="temperature,vividness pairs")
    parser.add_argument("--lifts", type=float, nargs="+", default=[0, 4, 8, 12])
    parser.add_argument("--knees", type=float, nargs="+", default=[4, 10])
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    started = time.perf_counter()
    model = load_model(arguments.model, engine="numpy")
    colorizer = Colorizer(model, Decoding(), arguments.working_size, threads=2)
    sets = {
        name: HeldOut(name, photos, colorizer)
        for name, photos in named_photos(arguments.photos, arguments.every).items()
    }
    results: dict = {"arguments": vars(arguments), "gray_copy": {n: h.gray_copy() for n, h in sets.items()}, "rows": []}
    print("gray copy", json.dumps(results["gray_copy"]), flush=True)
    output = Path(arguments.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    for pair in arguments.decodings.split():
        temperature, vividness = (float(x) for x in pair.split(","))
        decoded = {
            name: [decode_ab(model, logits[None], Decoding(temperature, False, vividness))[0] for logits in held.logits]
            for name, held in sets.items()
        }
        for lift, knee in [(0.0, 0.0)] + [
            (lift, knee) for lift, knee in itertools.product(arguments.lifts, arguments.knees) if lift
        ]:
            row = {"temperature": temperature, "vividness": vividness, "lift": lift, "knee": knee}
            for name, held in sets.items():
                predictions = [
                    np.asarray(held.colorizer.compose(image, lifted(ab, lift, knee)))
                    for image, ab in zip(held.inputs, decoded[name])
                ]
                row[name] = score_images(predictions, held.truths)
            results["rows"].append(row)
            print(
                f"T {temperature} v {vividness} lift {lift:g} knee {knee:g}: "
                + "; ".join(
                    f"{n} {row[n]['psnr_mean']:.3f} dB {100 * row[n]['auc']:.2f}% c {row[n]['colorfulness_ratio']:.3f}"
                    for n in sets
                ),
                flush=True,
            )
            output.write_text(json.dumps(results, indent=1))
    print(f"done in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
