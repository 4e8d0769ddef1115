"""huenet's NumPy engine against ONNX Runtime running the same network (issue 15's choice).

    pip install onnxruntime tf2onnx        # not huenet dependencies: only for this comparison
    python benchmarks/bench_engines.py --json docs/engines-benchmark.json

The bundled CIFAR-10 model is exported with Keras (``model.export(format="onnx")``, which
needs a fixed spatial size: 64x64 here, the photo working size). Both engines then run the
network alone, without the full-resolution work that is the same for both:
- start: a fresh process that imports the engine and loads the model, until it can run;
- one image of 64x64 (what one photo costs at working size 64), best of 20;
- batches of 256 images (thumbnail throughput), best of 3;
each with 1 and 2 threads. Full-size times differ by these network times only; the README's
speed table has the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _best(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def _start_seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cifar10")
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import onnxruntime
    import tensorflow as tf

    from huenet.inference import _blas_threads
    from huenet.modelfile import load_model, resolve_model_path

    results: dict = {"onnxruntime": onnxruntime.__version__, "cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as temporary:
        onnx_path = Path(temporary) / "model.onnx"
        network = load_model(arguments.model, engine="keras").network
        network(np.zeros((1, 64, 64, 1), np.float32))
        network.export(
            str(onnx_path), format="onnx", verbose=False, input_signature=[tf.TensorSpec((None, 64, 64, 1), tf.float32)]
        )
        results["onnx_file_mb"] = round(onnx_path.stat().st_size / 1e6, 1)
        results["keras_file_mb"] = round(resolve_model_path(arguments.model).stat().st_size / 1e6, 1)
        results["start_s"] = {
            "numpy": round(
                min(
                    _start_seconds(
                        f"from huenet.modelfile import load_model; load_model({arguments.model!r}, engine='numpy')"
                    )
                    for _ in range(3)
                ),
                2,
            ),
            "onnxruntime": round(
                min(
                    _start_seconds(
                        f"import onnxruntime; onnxruntime.InferenceSession({str(onnx_path)!r}, "
                        "providers=['CPUExecutionProvider'])"
                    )
                    for _ in range(3)
                ),
                2,
            ),
        }
        one = np.random.default_rng(0).random((1, 64, 64, 1), dtype=np.float32) * 2 - 1
        many = np.random.default_rng(1).random((256, 64, 64, 1), dtype=np.float32) * 2 - 1
        numpy_model = load_model(arguments.model, engine="numpy")
        for threads in (1, 2):
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            with _blas_threads(threads):
                reference = numpy_model.runner(one)
                difference = float(np.abs(session.run(None, {name: one})[0] - reference).max())
                results[f"threads_{threads}"] = {
                    "one_image_ms": {
                        "numpy": round(1000 * _best(lambda: numpy_model.runner(one), 20), 1),
                        "onnxruntime": round(1000 * _best(lambda s=session, n=name: s.run(None, {n: one}), 20), 1),
                    },
                    "images_per_s_batch_256": {
                        "numpy": round(256 / _best(lambda: numpy_model.runner(many), 3), 1),
                        "onnxruntime": round(256 / _best(lambda s=session, n=name: s.run(None, {n: many}), 3), 1),
                    },
                    "max_output_difference": difference,
                }
            print(json.dumps({f"threads_{threads}": results[f"threads_{threads}"]}), flush=True)
    import importlib.metadata

    distribution = importlib.metadata.distribution("onnxruntime")
    results["onnxruntime_installed_mb"] = round(
        sum(
            (
                distribution.locate_file(f).stat().st_size
                for f in distribution.files
                if distribution.locate_file(f).exists()
            ),
            0,
        )
        / 1e6,
        1,
    )
    print(json.dumps(results, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
