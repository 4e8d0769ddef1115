"""Film memory: peak RSS of ``huenet colorize film.mp4`` against the film's length.

The film path streams (bounded queues between decoding, the network and encoding), so its
peak memory should not grow with the film's length. This makes 1920x1080 gray clips of a
few lengths from one validation photo (a slow pan back and forth, film grain sigma 4,
exposure flicker 0.95-1.05, H.264), written frame by frame so the benchmark's own memory
stays small, and colorizes each in a fresh process, reporting its peak RSS and speed.

    python benchmarks/bench_video_memory.py --seconds 10 60 --json docs/video-memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_video import FPS, run_huenet  # noqa: E402

from huenet import color, datasets  # noqa: E402

PAN = 240  # pixels the window travels before turning back


def make_long_clip(photo: np.ndarray, width: int, height: int, frames: int, path: Path, seed: int) -> None:
    """A gray clip of ``frames`` frames panning 2 pixels a frame back and forth across ``photo``."""
    import av

    rng = np.random.default_rng(seed)
    scale = max((width + PAN) / photo.shape[1], height / photo.shape[0])
    size = (int(np.ceil(photo.shape[1] * scale)), int(np.ceil(photo.shape[0] * scale)))
    gray = color.rgb_to_gray(np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS))).astype(
        np.float32
    )
    top = (gray.shape[0] - height) // 2
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for index in range(frames):
            step = index % PAN
            left = 2 * step if step < PAN // 2 else 2 * (PAN - step)
            frame = gray[top : top + height, left : left + width] * rng.uniform(0.95, 1.05)
            frame = np.clip(np.round(frame + rng.normal(0, 4, frame.shape)), 0, 255).astype(np.uint8)
            output.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="gray")))
        output.mux(stream.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", default="../shared/data/imagenet-sample-jpeg/val.tar")
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--seconds", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--model", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    arguments = parser.parse_args()
    width, height = (int(v) for v in arguments.size.split("x"))
    photos = datasets.load_images(arguments.photos, limit=20, seed=arguments.seed).images
    photo = max(photos, key=lambda p: p.shape[1] / p.shape[0])
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "size": arguments.size,
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as scratch:
        for seconds in arguments.seconds:
            frames = int(round(seconds * FPS))
            clip, out = Path(scratch) / f"clip-{frames}.mp4", Path(scratch) / f"out-{frames}.mp4"
            make_long_clip(photo, width, height, frames, clip, arguments.seed)
            wall, rss = run_huenet(clip, out, arguments.model)
            row = {
                "frames": frames,
                "duration_s": frames / FPS,
                "seconds": wall,
                "realtime": frames / FPS / wall,
                "peak_rss_mb": rss,
            }
            results["runs"].append(row)
            print(json.dumps(row), flush=True)
            clip.unlink()
            out.unlink()
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
