"""Where a 12 MP photo's time goes, stage by stage, in one process with two threads.

    python benchmarks/bench_stages.py

Makes the IO-floor benchmark's 12 MP photo-like JPEG, then times: the model load, the
read, the network at the working size, the full-resolution compose, huenet's PNG writer,
and Pillow's PNG encoder at the same level on the same image (for comparison).
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_io_floor import _photo_like  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "photo-12mp.jpg", Path(folder) / "out.png"
        Image.fromarray(_photo_like(2598, 4618)).save(source, quality=90)
        from huenet.images import read_image, write_image
        from huenet.inference import Colorizer

        times = {}
        started = time.perf_counter()
        colorizer = Colorizer(threads=2)
        times["model load"] = time.perf_counter() - started
        started = time.perf_counter()
        image = read_image(source)
        times["read"] = time.perf_counter() - started
        started = time.perf_counter()
        (ab,) = colorizer.predict_ab([image])
        times["network"] = time.perf_counter() - started
        started = time.perf_counter()
        result = colorizer.compose(image, ab)
        times["compose"] = time.perf_counter() - started
        started = time.perf_counter()
        write_image(result, target, overwrite=True, threads=2)
        times["write, huenet PNG"] = time.perf_counter() - started
        started = time.perf_counter()
        buffer = io.BytesIO()
        result.save(buffer, "PNG", compress_level=3)
        times["write, Pillow PNG (comparison)"] = time.perf_counter() - started
        for stage, seconds in times.items():
            print(f"{stage}: {seconds:.2f} s")
        print(f"PNG size: huenet {target.stat().st_size / 1e6:.1f} MB, Pillow {len(buffer.getvalue()) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
