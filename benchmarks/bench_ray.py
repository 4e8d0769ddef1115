"""huenet colorize --ray against the plain CLI on this machine, in one run.

    python benchmarks/bench_ray.py                          # all three cases
    python benchmarks/bench_ray.py --cases cifar --limit 2000 --json /tmp/ray.json

Cases:
- ``cifar``: the 10,000 CIFAR-10 test images (JPEGs from ../shared/data/cifar10-jpeg or
  --cifar), plain CLI against ``--ray`` (an embedded local Ray on all CPUs): the ratio of
  Ray's throughput to the plain CLI's.
- ``photos``: 20 photo-like 12 MP grayscale JPEGs, the same two ways.
- ``scaling``: ``--ray`` with 1 and with 2 worker processes on the 12 MP photos, for the
  projection in docs/scale-out.md.

Each measurement is one fresh ``huenet colorize`` process timed from start to exit: Ray's
start-up (about 10 s for a local Ray) and the model load are included, as a user pays
them. Outputs go to a temporary folder that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import conditions, cpu_counters  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CIFAR_TEST = ROOT.parent / "shared" / "data" / "cifar10-jpeg" / "test.tar.gz"


def _photo_like(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    gray = 120 + 60 * np.sin(7 * x + 3 * y + seed) * np.cos(5 * y - 2 * x) + 30 * np.sin(90 * x) * np.sin(70 * y)
    gray = gray + rng.normal(0, 6, (height, width)).astype(np.float32)
    return np.clip(gray, 0, 255).astype(np.uint8)


def _timed(arguments: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "huenet", "colorize", *arguments, "-q"], capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"huenet colorize {' '.join(arguments)} failed:\n{result.stderr[-2000:]}")
    return seconds


def _compare(source: Path, work: Path, count: int, label: str) -> dict:
    plain = _timed([str(source), "-o", str(work / f"{label}-plain")])
    on_ray = _timed([str(source), "-o", str(work / f"{label}-ray"), "--ray"])
    row = {
        "images": count,
        "plain_s": round(plain, 1),
        "ray_s": round(on_ray, 1),
        "plain_images_per_s": round(count / plain, 2),
        "ray_images_per_s": round(count / on_ray, 2),
        "ray_to_plain_throughput": round(plain / on_ray, 3),
    }
    print(f"{label}: {count} images, plain {plain:.1f} s, --ray {on_ray:.1f} s, ratio {plain / on_ray:.2f}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", nargs="+", default=["cifar", "photos", "scaling"], choices=["cifar", "photos", "scaling"]
    )
    parser.add_argument("--cifar", type=Path, default=CIFAR_TEST, help="CIFAR-10 test.tar.gz of JPEGs")
    parser.add_argument("--limit", type=int, default=10_000, help="CIFAR images to use")
    parser.add_argument("--photos", type=int, default=20, help="12 MP photos to use")
    parser.add_argument("--json", type=Path, help="also write the results here")
    arguments = parser.parse_args()

    counters = cpu_counters()
    results: dict = {"machine": {"python": platform.python_version(), "load_average_at_start": os.getloadavg()[0]}}
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        if "cifar" in arguments.cases:
            folder = work / "cifar"
            with tarfile.open(arguments.cifar) as archive:
                members = [m for m in archive.getmembers() if m.isfile() and m.name.lower().endswith(".jpg")][
                    : arguments.limit
                ]
                for member in members:
                    target = folder / member.name.replace("/", "_")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.extractfile(member).read())
            results["cifar"] = _compare(folder, work, len(members), "cifar")
            shutil.rmtree(folder)
        if {"photos", "scaling"} & set(arguments.cases):
            folder = work / "photos"
            folder.mkdir()
            for index in range(arguments.photos):
                Image.fromarray(_photo_like(3000, 4000, index)).save(folder / f"photo{index:02d}.jpg", quality=90)
            if "photos" in arguments.cases:
                results["photos_12mp"] = _compare(folder, work, arguments.photos, "photos")
            if "scaling" in arguments.cases:
                rows = {}
                for workers in (1, 2):
                    seconds = _timed(
                        [str(folder), "-o", str(work / f"scaling-{workers}"), "--ray", "--ray-workers", str(workers)]
                    )
                    rows[str(workers)] = {
                        "seconds": round(seconds, 1),
                        "images_per_s": round(arguments.photos / seconds, 3),
                    }
                    print(
                        f"scaling: {workers} worker(s), {arguments.photos} photos of 12 MP in {seconds:.1f} s",
                        flush=True,
                    )
                rows["speedup_2_over_1"] = round(rows["1"]["seconds"] / rows["2"]["seconds"], 3)
                results["scaling_12mp"] = rows
    results["machine"].update(conditions(counters))  # load at the end, CPU share stolen by the host
    print(json.dumps(results, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
