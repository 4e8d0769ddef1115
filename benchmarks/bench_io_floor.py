"""huenet colorize against the IO floor, on an idle and on a busy machine.

    python benchmarks/bench_io_floor.py                 # 12 MP JPEG, 100 MP PNG, busy 1 MP
    python benchmarks/bench_io_floor.py --cases 12mp --json docs/io-floor.json

The IO floor is what no colorizer can beat: Pillow reading the same gray file and saving
it as an RGB PNG with huenet's own PNG settings (compress level 3). Each measurement is a
fresh process (``huenet colorize IN -o OUT.png``, start-up and model load included),
timed from start to exit, with its peak RSS; huenet's time is reported as a ratio to the
floor measured in the same run, so a slower or busier machine shifts both alike. The busy
case times a 1 MP image idle and then with one process spinning on one core.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import conditions, cpu_counters  # noqa: E402

FLOOR = (
    "import sys\nfrom PIL import Image\nImage.MAX_IMAGE_PIXELS = None\n"
    "Image.open(sys.argv[1]).convert('RGB').save(sys.argv[2], 'PNG', compress_level=3)\n"
)


def _photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth shapes plus fine texture and noise: compresses like a photo, not like a gradient."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    gray = 120 + 60 * np.sin(7 * x + 3 * y) * np.cos(5 * y - 2 * x) + 30 * np.sin(90 * x) * np.sin(70 * y)
    gray = gray + rng.normal(0, 6, (height, width)).astype(np.float32)
    return np.clip(gray, 0, 255).astype(np.uint8)


def _timed(command: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one child process, its own peak (os.wait4's rusage)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, command)
    return seconds, usage.ru_maxrss / 1024


def _huenet(source: Path, target: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "huenet",
        "colorize",
        str(source),
        "-o",
        str(target),
        "--overwrite",
        "-q",
        "--max-pixels",
        "200000000",
        *extra,
    ]


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="*", default=["12mp", "100mp", "busy"])
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement; the fastest counts")
    parser.add_argument("--json")
    parser.add_argument("--make-image", nargs=4, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.make_image:
        path, height, width, options = arguments.make_image
        Image.fromarray(_photo_like(int(height), int(width))).save(path, **json.loads(options))
        return
    results = {}
    counters = cpu_counters()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        images = {
            "12mp": (folder / "photo-12mp.jpg", (2598, 4618), {"quality": 90}),
            "100mp": (folder / "scan-100mp.png", (7500, 13333), {"compress_level": 1}),
            "busy": (folder / "photo-1mp.jpg", (750, 1333), {"quality": 90}),
        }
        for case in arguments.cases:
            path, (height, width), options = images[case]
            # In a child process: Linux counts the parent's peak RSS into every child it forks
            # (the peak carries over exec), so making a 100 MP image here inflated huenet's
            # measured peak to 1.56 GB on 2026-12-01 (its own was 0.98 GB).
            subprocess.run(
                [sys.executable, __file__, "--make-image", str(path), str(height), str(width), json.dumps(options)],
                check=True,
            )
            out = folder / f"{case}-out.png"
            if case == "busy":
                idle = min(_timed(_huenet(path, out))[0] for _ in range(arguments.repeat))
                spinner = multiprocessing.Process(target=_spin, args=(600,))
                spinner.start()
                try:
                    time.sleep(1.0)
                    busy = min(_timed(_huenet(path, out))[0] for _ in range(arguments.repeat))
                finally:
                    spinner.terminate()
                    spinner.join()
                results[case] = {
                    "image": f"{height}x{width} JPEG",
                    "idle_s": round(idle, 2),
                    "busy_s": round(busy, 2),
                    "ratio": round(busy / idle, 2),
                }
            else:
                floor = min(
                    (_timed([sys.executable, "-c", FLOOR, str(path), str(out)]) for _ in range(arguments.repeat))
                )
                colorize = min((_timed(_huenet(path, out)) for _ in range(arguments.repeat)))
                results[case] = {
                    "image": f"{height}x{width} {path.suffix[1:].upper()}",
                    "floor_s": round(floor[0], 2),
                    "huenet_s": round(colorize[0], 2),
                    "ratio": round(colorize[0] / floor[0], 2),
                    "huenet_peak_rss_mb": round(colorize[1], 1),
                }
            print(case, json.dumps(results[case]), flush=True)
    results["machine"] = conditions(counters)  # load at the end, CPU share stolen by the host
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
