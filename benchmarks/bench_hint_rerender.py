"""The page's re-render after a hint change, over HTTP: a photo uploaded once, then colorized
again by its id with 1, 10 and 100 hints (what the page sends after each change).

    python benchmarks/bench_hint_rerender.py           # examples/bsds-103070.png at 1200x800 (about 1 MP)
    python benchmarks/bench_hint_rerender.py --photo some.jpg --json docs/hint-rerender.json
    python benchmarks/bench_hint_rerender.py --photos ../shared/data/imagenet-sample-jpeg/val.tar --count 10
        # the first 10 photos of a folder or tar, each enlarged to about 1 MP (aspect kept)

Starts ``huenet serve`` on 127.0.0.1 and a free port (a real process, stopped by its pid),
reports the median and best seconds per re-render over ``--repeats`` requests per hint
count (with ``--photos``, over every photo's requests). Only 127.0.0.1 is contacted; requests and time are bounded.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_serve import _free_port, post_colorize, stop, wait_until_up  # run as a script: benchmarks/ is on the path
from PIL import Image

DEFAULT_PHOTO = Path(__file__).resolve().parent.parent / "examples" / "bsds-103070.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--photo",
        help="a photo file, sent as it is (default: the example BSDS500 photo enlarged "
        "to 1200x800 and saved as a JPEG)",
    )
    parser.add_argument("--photos", help="a folder or tar of photos: the first --count, each enlarged to about 1 MP")
    parser.add_argument("--count", type=int, default=10, help="photos taken from --photos")
    parser.add_argument("--repeats", type=int, default=5, help="re-renders per hint count (per photo)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the numbers here")
    arguments = parser.parse_args()

    if arguments.photo and arguments.photos:
        parser.error("give --photo or --photos, not both")
    if arguments.photos:
        from huenet import datasets

        payloads = [
            _megapixel_jpeg(Image.fromarray(rgb))
            for rgb in datasets.load_images(arguments.photos).images[: arguments.count]
        ]
    elif arguments.photo:
        payloads = [Path(arguments.photo).read_bytes()]
    else:
        buffer = io.BytesIO()
        Image.open(DEFAULT_PHOTO).resize((1200, 800), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
        payloads = [buffer.getvalue()]
    sizes = [Image.open(io.BytesIO(payload)).size for payload in payloads]
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "huenet", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    result = {
        "images": [f"{width}x{height}" for width, height in sizes],
        "repeats": arguments.repeats,
        "seconds": {},
    }
    times: dict[int, list[float]] = {1: [], 10: [], 100: []}
    try:
        wait_until_up(port)
        rng = np.random.default_rng(arguments.seed)
        for payload, (width, height) in zip(payloads, sizes):
            status, headers = post_colorize(port, {"image": payload}, 120)  # the upload; the model loads here too
            if status != 200:
                raise SystemExit(f"the upload answered {status}")
            image_id = headers["x-huenet-image-id"]
            for count in times:
                hints = [
                    {
                        "x": int(rng.integers(0, width)),
                        "y": int(rng.integers(0, height)),
                        "color": "#%02x%02x%02x" % tuple(int(v) for v in rng.integers(0, 256, 3)),
                    }
                    for _ in range(count)
                ]
                for _ in range(arguments.repeats):
                    started = time.perf_counter()
                    status, _ = post_colorize(port, {"image_id": image_id, "hints": json.dumps(hints)}, 120)
                    times[count].append(time.perf_counter() - started)
                    if status != 200:
                        raise SystemExit(f"a re-render with {count} hints answered {status}")
        for count, values in times.items():
            result["seconds"][str(count)] = {
                "median": round(float(np.median(values)), 3),
                "best": round(min(values), 3),
            }
    finally:
        stop(server)  # by its pid
    print(json.dumps(result, indent=1))
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(result, indent=1) + "\n")


def _megapixel_jpeg(image: Image.Image) -> bytes:
    """The photo resized to about 1,000,000 pixels (aspect kept), as a quality-90 JPEG."""
    scale = (1_000_000 / (image.width * image.height)) ** 0.5
    buffer = io.BytesIO()
    size = (round(image.width * scale), round(image.height * scale))
    image.convert("L").resize(size, Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


if __name__ == "__main__":
    main()
