"""Study: how much of the past the film path's logit average keeps (``smoothing``), on clips
from validation photos (benchmarks/bench_video.py makes them; never test photos).

    python experiments/studies/video_smoothing.py --values 0 0.5 0.7 0.8 0.9 --output runs/video-smoothing.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_video import make_clip, score, wide_photos  # noqa: E402

from huenet.video import colorize_video  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", default="../shared/data/imagenet-sample-jpeg/val.tar")
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--frames-per-shot", type=int, default=24)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--values", type=float, nargs="+", default=[0.0, 0.5, 0.7, 0.8, 0.9])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    wide = wide_photos(arguments.photos, arguments.shots, arguments.seed)
    width, height = (int(v) for v in arguments.size.split("x"))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        clip = Path(scratch) / "clip.mp4"
        truth = make_clip(wide, width, height, arguments.frames_per_shot, clip, arguments.seed)
        for value in arguments.values:
            out = Path(scratch) / f"out-{value}.mp4"
            report = colorize_video(clip, out, smoothing=value, overwrite=True)
            rows.append(
                {
                    "smoothing": value,
                    **score(out, truth, arguments.frames_per_shot),
                    "cuts_found": report.cuts,
                    "fps": report.fps,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    Path(arguments.output).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
