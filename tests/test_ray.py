"""huenet colorize --ray against a real local Ray head.

The head is started as a user would start one, ``ray start --head --port P --num-cpus 2
--block``, in its own process group; it is stopped through that process's pid (SIGTERM,
then SIGKILL to its group if it has not stopped within a minute). Ray's servers listen on
every interface and cannot be told otherwise; the cluster lives for this module only and
Ray's token authentication (on by default) keeps other machines out.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port
from PIL import Image

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    log = open(temp / "head.log", "w")
    ray_command = Path(sys.executable).with_name("ray")
    process = subprocess.Popen(
        [
            str(ray_command),
            "start",
            "--head",
            "--port",
            str(port),
            "--num-cpus",
            "2",
            "--block",
            "--include-dashboard",
            "false",
            "--disable-usage-stats",
            "--temp-dir",
            str(temp),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while "Ray runtime started" not in (temp / "head.log").read_text():
            assert process.poll() is None, f"ray start exited: {(temp / 'head.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the Ray head did not start within 3 minutes"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", process.pid
    finally:
        process.send_signal(signal.SIGTERM)  # ray start --block drains, then stops what it started
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # anything of its group still there
        except ProcessLookupError:
            pass
        process.wait(timeout=30)
        log.close()


def _huenet(*arguments, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "huenet", "colorize", *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _images(folder: Path, count: int, size: tuple[int, int], seed: int = 0, prefix: str = "photo") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, size[1], dtype=np.float32)[None, :]
    for index in range(count):
        noise = rng.normal(0, 20, size).astype(np.float32)
        Image.fromarray(np.clip(ramp + noise, 0, 255).astype(np.uint8)).save(folder / f"{prefix}{index:02d}.png")


def _outputs(folder: Path) -> dict[str, np.ndarray]:
    return {
        p.relative_to(folder).as_posix(): np.asarray(Image.open(p).convert("RGB"))
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix == ".png"
    }


def _error_lines(stderr: str, *folders: Path) -> list[str]:
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("huenet: error:")]
    for folder in folders:
        lines = [line.replace(str(folder), "OUT") for line in lines]
    return sorted(lines)


def test_a_mixed_batch_gives_the_plain_clis_outputs_and_errors(ray_head, tmp_path):
    address, _ = ray_head
    inputs = tmp_path / "in"
    _images(inputs / "thumbs", 5, (24, 32))
    _images(inputs / "big", 2, (900, 1300), seed=1, prefix="big")  # a big photo and thumbnails in one batch
    (inputs / "thumbs" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (inputs / "other").mkdir()
    Image.fromarray(np.full((20, 20), 90, np.uint8)).save(
        inputs / "other" / "photo00.jpg"
    )  # same stem as thumbs/photo00.png
    arguments = [inputs / "thumbs", inputs / "big", inputs / "other" / "photo00.jpg"]

    plain = _huenet(*arguments, "-o", tmp_path / "plain")
    on_ray = _huenet(*arguments, "-o", tmp_path / "ray", "--ray", address, "--ray-batch-size", "2")
    assert plain.returncode == on_ray.returncode == 1, on_ray.stderr
    assert "Traceback" not in on_ray.stderr
    expected, got = _outputs(tmp_path / "plain"), _outputs(tmp_path / "ray")
    assert sorted(got) == sorted(expected) and len(got) == 7
    for name in expected:
        assert np.abs(got[name].astype(int) - expected[name].astype(int)).max() <= 1, name
    assert _error_lines(on_ray.stderr, tmp_path / "ray") == _error_lines(plain.stderr, tmp_path / "plain")
    assert len(_error_lines(on_ray.stderr)) == 2
    logged = [json.loads(line) for line in (tmp_path / "ray" / "errors.jsonl").read_text().splitlines()]
    assert sorted(entry["source"] for entry in logged) == sorted(
        [str(inputs / "thumbs" / "broken.jpg"), str(inputs / "other" / "photo00.jpg")]
    )
    assert "colorized 7 image(s)" in on_ray.stderr and "2 error(s)" in on_ray.stderr


def _descendants(root: int) -> dict[int, str]:
    """pid -> command line of every process below ``root``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, queue = {}, [root]
    while queue:
        for child in children.get(queue.pop(), []):
            try:
                found[child] = (
                    (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                )
            except OSError:
                continue
            queue.append(child)
    return found


def test_killing_a_worker_mid_batch_loses_nothing(ray_head, tmp_path):
    address, head_pid = ray_head
    count = 24
    _images(tmp_path / "in", count, (700, 900), seed=2)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "huenet",
            "colorize",
            str(tmp_path / "in"),
            "-o",
            str(tmp_path / "out"),
            "--ray",
            address,
            "--ray-batch-size",
            "3",
            "--ray-workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while len(list((tmp_path / "out").glob("*.png"))) < 2:  # the batch is under way
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "no output within 4 minutes"
            time.sleep(0.1)
        workers = [pid for pid, command in _descendants(head_pid).items() if command.startswith("ray::MapWorker")]
        assert workers, "no colorizing worker found under the Ray head"
        done_before = len(list((tmp_path / "out").glob("*.png")))
        os.kill(workers[0], signal.SIGKILL)
        _, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert done_before < count, "the batch finished before a worker could be killed"
    assert process.returncode == 0, stderr
    assert f"colorized {count} image(s)" in stderr
    outputs = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in outputs] == ["errors.jsonl"] + [
        f"photo{i:02d}.png" for i in range(count)
    ]  # no partial files
    for path in outputs[1:]:
        with Image.open(path) as image:
            image.load()  # complete files: a truncated PNG fails here
            assert image.size == (900, 700)
    assert (tmp_path / "out" / "errors.jsonl").read_text() == ""


def test_skip_existing_reruns_rewrite_nothing_and_file_uris_work(ray_head, tmp_path):
    address, _ = ray_head
    _images(tmp_path / "in", 6, (40, 50), seed=3)
    source, out = (tmp_path / "in").as_uri(), (tmp_path / "out").as_uri()
    first = _huenet(source, "-o", out, "--ray", address)
    assert first.returncode == 0, first.stderr
    plain = _huenet(tmp_path / "in", "-o", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    expected, got = _outputs(tmp_path / "plain"), _outputs(tmp_path / "out")
    assert sorted(got) == sorted(expected) and len(got) == 6
    assert all(np.abs(got[n].astype(int) - expected[n].astype(int)).max() <= 1 for n in got)

    def stats():
        return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (tmp_path / "out").glob("*.png")}

    before = stats()
    again = _huenet(source, "-o", out, "--ray", address, "--skip-existing")
    assert again.returncode == 0 and "nothing to do: all 6 output(s) already exist" in again.stderr
    assert stats() == before
    (tmp_path / "out" / "photo03.png").unlink()
    resumed = _huenet(source, "-o", out, "--ray", address, "--skip-existing")
    assert resumed.returncode == 0 and "colorized 1 image(s)" in resumed.stderr and "5 already there" in resumed.stderr
    after = stats()
    assert {n: s for n, s in after.items() if n != "photo03.png"} == {
        n: s for n, s in before.items() if n != "photo03.png"
    }
    assert "photo03.png" in after
