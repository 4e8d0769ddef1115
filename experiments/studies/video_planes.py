"""Study: the film path's moving average of the chroma planes (``video.PLANE_SMOOTHING``: the
past's weight; 0 turns it off) and its motion threshold (``video._PLANE_LEVEL``), on clips
from validation photos (benchmarks/bench_video.py makes them, with another seed than the
benchmark's; never test photos).

    python experiments/studies/video_planes.py --values 0 0.3 0.5 0.7 --levels 12 --output runs/video-planes.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_video import make_clip, score, wide_photos  # noqa: E402

from huenet import video  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", default="../shared/data/imagenet-sample-jpeg/val.tar")
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--frames-per-shot", type=int, default=24)
    parser.add_argument("--sizes", nargs="+", default=["640x360", "1280x720"])
    parser.add_argument("--values", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.7])
    parser.add_argument("--levels", type=float, nargs="+", default=[12.0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", required=True)
    arguments = parser.parse_args()
    wide = wide_photos(arguments.photos, arguments.shots, arguments.seed)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in arguments.sizes:
            width, height = (int(v) for v in size.split("x"))
            clip = Path(scratch) / f"clip-{size}.mp4"
            truth = make_clip(wide, width, height, arguments.frames_per_shot, clip, arguments.seed)
            for level in arguments.levels:
                for value in arguments.values:
                    video.PLANE_SMOOTHING, video._PLANE_LEVEL = value, level
                    out = Path(scratch) / f"out-{size}-{value}-{level}.mp4"
                    report = video.colorize_video(clip, out, overwrite=True)
                    rows.append(
                        {
                            "size": size,
                            "plane_smoothing": value,
                            "plane_level": level,
                            **score(out, truth, arguments.frames_per_shot),
                            "fps": report.fps,
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
    Path(arguments.output).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
