"""Speed and memory of the default model on this machine.

    python benchmarks/bench_colorize.py            # all sizes, prints a markdown table
    python benchmarks/bench_colorize.py --sizes 0.01 1

Each image size runs in a fresh process so that its peak RSS (resident memory, which
includes TensorFlow and the model, reported beside it) is its own. Throughput colorizes
10,000 32x32 images through ``huenet.colorize_many`` (shared network batches), once per
engine (NumPy, the default for the API and for up to 500 images in the CLI, and Keras). CLI
start-up is the wall time of ``huenet colorize one.png`` from process start to the file on
disk, per engine. Sizes run on the default engine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import conditions, cpu_counters  # noqa: E402


def _gray(megapixels: float):
    import numpy as np

    side = max(1, int(round((megapixels * 1e6) ** 0.5)))
    height, width = side * 3 // 4 or 1, side * 4 // 3 or 1
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 6.28, width, dtype=np.float32)[None, :]
    return (127 + 120 * np.sin(x * 5) * y).astype(np.uint8)


def _child_single(megapixels: float) -> dict:
    import huenet

    gray = _gray(megapixels)
    model = huenet.load_model()
    huenet.colorize(_gray(0.01), model=model)  # warm-up: first call builds the graph
    loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    result = huenet.colorize(gray, model=model)
    seconds = time.perf_counter() - started
    assert result.size == (gray.shape[1], gray.shape[0])
    return {
        "megapixels": gray.size / 1e6,
        "shape": list(gray.shape),
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_model_load_mb": loaded_rss,
    }


def _child_throughput(count: int, engine: str) -> dict:
    import numpy as np

    import huenet

    rng = np.random.default_rng(0)
    images = list(rng.integers(0, 256, (count, 32, 32), dtype=np.uint8))
    model = huenet.load_model(engine=engine)
    huenet.colorize_many(images[:256], model=model)
    started = time.perf_counter()
    huenet.colorize_many(images, model=model)
    seconds = time.perf_counter() - started
    return {"engine": engine, "images": count, "seconds": seconds, "images_per_second": count / seconds}


def _run_child(mode: str, value: float) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(value)], capture_output=True, text=True, check=True
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def _cli_first_output(engine: str) -> float:
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "one.png"
        Image.fromarray(_gray(0.01)).save(source)
        target = Path(folder) / "out.png"
        huenet_command = [
            sys.executable,
            "-m",
            "huenet.cli",
            "colorize",
            str(source),
            "-o",
            str(target),
            "-q",
            "--engine",
            engine,
        ]
        started = time.perf_counter()
        subprocess.run(huenet_command, check=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.01, 1, 12, 100], help="megapixels")
    parser.add_argument("--throughput-images", type=int, default=10_000)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        mode, value = arguments.child
        result = _child_single(float(value)) if mode == "single" else _child_throughput(int(value), mode.split("-")[1])
        print(json.dumps(result))
        return

    import platform

    from huenet.modelfile import read_metadata, resolve_model_path

    counters = cpu_counters()
    # Only the default model's name and working size: loading it here would put its memory
    # into this process, and Linux counts a parent's peak RSS into each child it starts.
    model_path = resolve_model_path("default")
    model = {"file": model_path.name, "working_size": read_metadata(model_path)["settings"].get("working_size")}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"model: {model['file']}, working size {model['working_size']}"
    )
    rows = [_run_child("single", size) for size in arguments.sizes]
    print("\n| image | size (h x w) | time (s) | peak RSS (MB) | RSS after model load (MB) |\n|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['megapixels']:.2f} MP | {row['shape'][0]} x {row['shape'][1]} | {row['seconds']:.2f} | {row['peak_rss_mb']:.0f} | {row['rss_after_model_load_mb']:.0f} |"
        )
    throughput, startup = {}, {}
    for engine in ("numpy", "keras"):
        throughput[engine] = _run_child(f"throughput-{engine}", arguments.throughput_images)
        print(
            f"\nthroughput, {engine}: {arguments.throughput_images} images of 32x32 in "
            f"{throughput[engine]['seconds']:.1f} s = {throughput[engine]['images_per_second']:.0f} images/s"
        )
        startup[engine] = _cli_first_output(engine)
        print(f"CLI start to first output (one 0.01 MP image), {engine}: {startup[engine]:.1f} s")
    machine = conditions(counters)  # load at the end, CPU share stolen by the host
    print(f"machine during the run: {json.dumps(machine)}")
    if arguments.json:
        Path(arguments.json).write_text(
            json.dumps(
                {
                    "model": model,
                    "sizes": rows,
                    "throughput": throughput,
                    "cli_first_output_seconds": startup,
                    "machine": machine,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
