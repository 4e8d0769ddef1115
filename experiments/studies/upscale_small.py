"""Does running the network on small images (Tiny ImageNet's 64x64) upsampled help?

Today a 64x64 image runs at its own size (the working size only ever shrinks). This scores
the photo model on ``--limit`` images of its Tiny ImageNet validation split (never a test
split) with the gray input upsampled (bicubic) to each ``--sizes`` side for the network; the
decoded ab is box-filtered back to the native ab grid and composed with the native gray as
usual.

    python experiments/studies/upscale_small.py src/huenet/weights/photo.keras \
        --data ../shared/data/tiny-imagenet-jpeg/train.tar.gz --limit 1000 --sizes 64 96 128
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the release tools in experiments/
from calibrate import validation_sample  # noqa: E402
from calibrate_photo import score_images  # noqa: E402

from huenet import color  # noqa: E402
from huenet.images import read_image  # noqa: E402
from huenet.inference import Colorizer, Decoding, compose, decode_ab  # noqa: E402
from huenet.modelfile import load_model  # noqa: E402


def _resize(plane: np.ndarray, size: tuple[int, int], resample) -> np.ndarray:
    return np.asarray(Image.fromarray(plane.astype(np.float32), mode="F").resize(size, resample))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--data", required=True)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128])
    parser.add_argument("--decodings", default="0.6,0.5 0.6,0.25 0.4,0.5 0.6,0.0")
    arguments = parser.parse_args()
    model = load_model(arguments.model, engine="keras")
    truths = list(validation_sample(model, arguments.data, arguments.limit))
    inputs = [read_image(color.rgb_to_gray(t)) for t in truths]
    decodings = [tuple(float(x) for x in pair.split(",")) for pair in arguments.decodings.split()]
    results = {"gray copy": score_images([np.repeat(color.rgb_to_gray(t)[..., None], 3, -1) for t in truths], truths)}
    print(f"gray copy: {json.dumps(results['gray copy'])}", flush=True)
    for size in arguments.sizes:
        colorizer = Colorizer(model, Decoding(), size, threads=2)
        upsampled = [
            read_image(np.clip(_resize(image.gray, (size, size), Image.BICUBIC), 0, 255).round().astype(np.uint8))
            for image in inputs
        ]
        logits = colorizer.network_outputs(upsampled)
        for temperature, vividness in decodings:
            predictions = []
            for image, out in zip(inputs, logits):
                ab = decode_ab(model, out[None], Decoding(temperature, False, vividness))[0]
                grid = (image.size[1] // colorizer.stride, image.size[0] // colorizer.stride)
                native = np.stack([_resize(ab[..., k], grid, Image.BOX) for k in range(2)], -1)
                predictions.append(np.asarray(compose(image, native, max(image.size), colorizer.stride)))
            key = f"size {size}, T {temperature}, vividness {vividness}"
            results[key] = score_images(predictions, truths)
            print(f"{key}: {json.dumps(results[key])}", flush=True)


if __name__ == "__main__":
    main()
