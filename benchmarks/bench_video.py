"""Old-film benchmark: clips made from photos, colorized as a film and frame by frame.

Each clip is made from validation photos (imagenet-sample val by default; never a test
set): one shot per photo, the window panning 2 pixels a frame, hard cuts between shots,
24 fps. Its gray version has film grain (Gaussian, sigma 4 levels) and exposure flicker
(a gain drawn from 0.95-1.05 each frame), and is stored as H.264 (CRF 12). Then:

- **huenet**: ``huenet colorize clip.mp4 -o out.mp4`` in a fresh process (start-up included);
- **frame by frame**: every decoded frame colorized alone through today's image path
  (``Colorizer.colorize_many`` on the gray frame), encoded with the same x264 settings.

Measured on each: speed as a share of real time (the clip's duration over the wall time),
PSNR against the color truth (mean over frames of the per-frame RGB PSNR), flicker (the
mean Euclidean |delta ab| between consecutive frames of a shot at corresponding pixels,
using the known 2-pixel shift), the PSNR of the 3 frames after each cut, and peak RSS.

    python benchmarks/bench_video.py --json docs/video-benchmark.json --strip docs/images/video-strip.jpg
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from PIL import Image

from huenet import color, datasets

SHIFT = 2  # pixels a frame
FPS = 24


def wide_photos(source: str, shots: int, seed: int) -> list[np.ndarray]:
    """``shots`` landscape photos from ``source``, in an order drawn with ``seed``: one per shot."""
    photos = datasets.load_images(source, limit=None).images
    picks = np.random.default_rng(seed).permutation(len(photos))
    return [photos[i] for i in picks if photos[i].shape[1] >= photos[i].shape[0]][:shots]


def shot_frames(photo: np.ndarray, width: int, height: int, frames: int) -> list[np.ndarray]:
    """``frames`` windows of width x height panning SHIFT pixels a frame across the photo,
    scaled so that the pan fits (wide enough) and the height is covered."""
    need_w = width + SHIFT * (frames - 1)
    scale = max(need_w / photo.shape[1], height / photo.shape[0])
    size = (int(np.ceil(photo.shape[1] * scale)), int(np.ceil(photo.shape[0] * scale)))
    scaled = np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS))
    top = (scaled.shape[0] - height) // 2
    return [scaled[top : top + height, SHIFT * k : SHIFT * k + width] for k in range(frames)]


def make_clip(
    photos: list[np.ndarray], width: int, height: int, frames_per_shot: int, path: Path, seed: int
) -> list[np.ndarray]:
    """Write the gray clip; returns the color truth frames."""
    import av

    rng = np.random.default_rng(seed)
    truth = [frame for photo in photos for frame in shot_frames(photo, width, height, frames_per_shot)]
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12", "preset": "veryfast"}
        for frame in truth:
            gray = color.rgb_to_gray(frame).astype(np.float32) * rng.uniform(0.95, 1.05)
            gray = np.clip(np.round(gray + rng.normal(0, 4, gray.shape)), 0, 255).astype(np.uint8)
            output.mux(
                stream.encode(av.VideoFrame.from_ndarray(np.repeat(gray[..., None], 3, axis=-1), format="rgb24"))
            )
        output.mux(stream.encode())
    return truth


def frame_by_frame(clip: Path, out: Path, model: str | None) -> float:
    """Today's image path on every frame alone; returns the wall time (model load included)."""
    import av

    from huenet.images import InputImage
    from huenet.inference import Colorizer, Decoding

    started = time.perf_counter()
    colorizer = Colorizer(model, Decoding())
    with av.open(str(clip)) as source, av.open(str(out), "w") as output:
        video = source.streams.video[0]
        stream = output.add_stream("libx264", rate=video.average_rate)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for frame in source.decode(video=0):
            (rgb,) = colorizer.colorize_many([InputImage(frame.to_ndarray(format="gray"), None, [])])
            output.mux(stream.encode(av.VideoFrame.from_ndarray(np.asarray(rgb), format="rgb24")))
        output.mux(stream.encode())
    return time.perf_counter() - started


def score(path: Path, truth: list[np.ndarray], frames_per_shot: int) -> dict[str, float]:
    from huenet.video import iter_frames

    psnr, flicker, after_cut = [], [], []
    previous_ab = None
    for index, frame in enumerate(iter_frames(path)):
        error = np.mean((frame.astype(np.float64) - truth[index]) ** 2)
        value = 10 * np.log10(255.0**2 / max(error, 1e-10))
        psnr.append(value)
        ab = color.rgb_to_lab(frame)[..., 1:]
        position = index % frames_per_shot
        if position < 3 and index >= frames_per_shot:
            after_cut.append(value)
        if position > 0 and previous_ab is not None:
            # content moves SHIFT pixels left: this frame's column x shows the previous frame's x + SHIFT
            delta = ab[:, :-SHIFT] - previous_ab[:, SHIFT:]
            flicker.append(float(np.sqrt((delta**2).sum(-1)).mean()))
        previous_ab = ab
    if len(psnr) != len(truth):
        raise SystemExit(f"bench_video: {path} has {len(psnr)} frames, the clip {len(truth)}")
    return {
        "psnr": float(np.mean(psnr)),
        "flicker": float(np.mean(flicker)),
        "psnr_3_after_cuts": float(np.mean(after_cut)) if after_cut else float("nan"),
    }


def truth_flicker(truth: list[np.ndarray], frames_per_shot: int) -> float:
    """The truth's own |delta ab| under the same measure (resampling and JPEG make it non-zero)."""
    values = []
    for index in range(1, len(truth)):
        if index % frames_per_shot:
            a = color.rgb_to_lab(truth[index])[..., 1:]
            b = color.rgb_to_lab(truth[index - 1])[..., 1:]
            values.append(float(np.sqrt(((a[:, :-SHIFT] - b[:, SHIFT:]) ** 2).sum(-1)).mean()))
    return float(np.mean(values))


def run_huenet(clip: Path, out: Path, model: str | None) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of ``huenet colorize`` in a fresh process."""
    command = [sys.executable, "-m", "huenet", "colorize", str(clip), "-o", str(out), "--overwrite", "-q"]
    if model:
        command += ["--model", model]
    script = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "code = subprocess.call(sys.argv[1:]); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); sys.exit(code)"
    )
    answer = subprocess.run([sys.executable, "-c", script, *command], capture_output=True, text=True, check=True)
    seconds, rss = answer.stdout.split()
    return float(seconds), float(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", default="../shared/data/imagenet-sample-jpeg/val.tar")
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--frames-per-shot", type=int, default=48)
    parser.add_argument("--sizes", nargs="+", default=["640x360", "1280x720"])
    parser.add_argument("--model", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    parser.add_argument("--strip", help="write a strip of frames (gray | frame by frame | huenet | truth) here")
    arguments = parser.parse_args()
    wide = wide_photos(arguments.photos, arguments.shots, arguments.seed)
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "photos": arguments.photos,
        "shots": arguments.shots,
        "frames_per_shot": arguments.frames_per_shot,
        "sizes": {},
    }
    with tempfile.TemporaryDirectory() as scratch:
        for size in arguments.sizes:
            width, height = (int(v) for v in size.split("x"))
            clip = Path(scratch) / f"clip-{size}.mp4"
            truth = make_clip(wide, width, height, arguments.frames_per_shot, clip, arguments.seed)
            duration = len(truth) / FPS
            out = Path(scratch) / f"huenet-{size}.mp4"
            seconds, rss = run_huenet(clip, out, arguments.model)
            single = Path(scratch) / f"single-{size}.mp4"
            single_seconds = frame_by_frame(clip, single, arguments.model)
            row = {
                "frames": len(truth),
                "duration_s": duration,
                "huenet": {
                    **score(out, truth, arguments.frames_per_shot),
                    "seconds": seconds,
                    "realtime": duration / seconds,
                    "peak_rss_mb": rss,
                },
                "frame_by_frame": {
                    **score(single, truth, arguments.frames_per_shot),
                    "seconds": single_seconds,
                    "realtime": duration / single_seconds,
                },
                "gray": score(clip, truth, arguments.frames_per_shot),
                "truth_flicker": truth_flicker(truth, arguments.frames_per_shot),
            }
            results["sizes"][size] = row
            print(size, json.dumps(row), flush=True)
            if arguments.strip and size == arguments.sizes[0]:
                _strip(clip, single, out, truth, arguments.frames_per_shot, arguments.strip)
    results["max_rss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(results, indent=1) + "\n")


def _strip(clip: Path, single: Path, out: Path, truth: list[np.ndarray], per_shot: int, path: str) -> None:
    from huenet.video import iter_frames

    picks = [per_shot // 2 + k * per_shot for k in range(len(truth) // per_shot)]
    rows = []
    for source in (clip, single, out):
        frames = list(iter_frames(source))
        rows.append(np.concatenate([frames[i] for i in picks], axis=1))
    rows.append(np.concatenate([truth[i] for i in picks], axis=1))
    grid = np.concatenate(rows, axis=0)
    image = Image.fromarray(grid)
    image.thumbnail((1600, 1600))
    image.save(path, quality=88)


if __name__ == "__main__":
    main()
