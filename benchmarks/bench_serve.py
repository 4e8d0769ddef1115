"""Load test of ``huenet serve`` on loopback: N requests, C at a time, all must succeed.

    python benchmarks/bench_serve.py                       # 200 requests, 8 at a time
    python benchmarks/bench_serve.py --requests 50 --json docs/serve-benchmark.json

Starts the server on 127.0.0.1 and a free port (a real process, stopped by its pid),
posts a 640x480 gray JPEG photo-like image with bounded concurrency, and reports the p50
and p95 latency, the throughput and the server's peak RSS (VmHWM from /proc). Requests
and time are bounded; a request that fails ends the run with a non-zero exit. Only
127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import io
import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _photo() -> bytes:
    y, x = np.mgrid[0:480, 0:640]
    gray = (127 + 60 * np.sin(x / 23.0) * np.cos(y / 31.0) + 40 * np.sin((x + y) / 7.0)).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def multipart(fields: dict[str, bytes | str]) -> tuple[bytes, str]:
    """A multipart form body and its content type: bytes fields as a JPEG file, str as text."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, value in fields.items():
        if isinstance(value, bytes):
            body += (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="p.jpg"\r\n'
                    "Content-Type: image/jpeg\r\n\r\n"
                ).encode()
                + value
                + b"\r\n"
            )
        else:
            body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post_colorize(port: int, fields: dict[str, bytes | str], timeout: float) -> tuple[int, dict[str, str]]:
    """POST /api/colorize on 127.0.0.1 -> (status, headers in lower case); the body is read."""
    body, content_type = multipart(fields)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/api/colorize", body, {"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        return response.status, {key.lower(): value for key, value in response.getheaders()}
    finally:
        connection.close()


def _post(port: int, payload: bytes, timeout: float) -> tuple[int, float]:
    started = time.perf_counter()
    status, _ = post_colorize(port, {"image": payload}, timeout)
    return status, time.perf_counter() - started


def wait_until_up(port: int, seconds: float = 60) -> None:
    """Poll /healthz on 127.0.0.1 until it answers 200, at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not start within {seconds:g} s")


def stop(server: subprocess.Popen) -> None:
    """Stop the server we started, by its pid: Ctrl+C, then a kill if it lingers."""
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="the server's --workers")
    parser.add_argument("--timeout", type=float, default=600, help="seconds the whole run may take")
    parser.add_argument("--json", help="also write the numbers here")
    arguments = parser.parse_args()

    port = _free_port()
    # The queue holds every request that can be in flight, so none is refused (503) here.
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "huenet",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(arguments.workers),
            "--queue",
            str(arguments.concurrency),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(port)
        payload = _photo()
        _post(port, payload, 120)  # warm-up: the model loads on the first request
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(arguments.concurrency) as pool:
            futures = [pool.submit(_post, port, payload, arguments.timeout) for _ in range(arguments.requests)]
            answers = [future.result(timeout=arguments.timeout) for future in futures]
        elapsed = time.perf_counter() - started
        peak = _peak_rss_mb(server.pid)
    finally:
        stop(server)
    statuses = [status for status, _ in answers]
    latencies = np.array([seconds for _, seconds in answers])
    result = {
        "requests": arguments.requests,
        "concurrency": arguments.concurrency,
        "server_workers": arguments.workers,
        "image": "640x480 gray JPEG",
        "ok": statuses.count(200),
        "p50_s": round(float(np.percentile(latencies, 50)), 3),
        "p95_s": round(float(np.percentile(latencies, 95)), 3),
        "requests_per_s": round(arguments.requests / elapsed, 2),
        "server_peak_rss_mb": round(peak, 1),
    }
    print(json.dumps(result, indent=1))
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(result, indent=1) + "\n")
    if result["ok"] != arguments.requests:
        raise SystemExit(f"{arguments.requests - result['ok']} request(s) failed: {sorted(set(statuses))}")


if __name__ == "__main__":
    main()
