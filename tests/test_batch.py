"""Batches on pyarrow filesystem URIs, without Ray: file:// gives what a local path gives,
an object store is written by upload, and the batch rules (names, collisions, no overwrite)
are the same for paths and URIs."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from huenet import batch, cli, storage

pyarrow_fs = pytest.importorskip("pyarrow.fs")


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(3)
    for name, size in [("a.png", (40, 60)), ("sub/b.jpg", (33, 21)), ("c.png", (16, 16))]:
        Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(folder / name)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder


def _run(arguments, capsys):
    code = cli.main([str(a) for a in arguments])
    return code, capsys.readouterr().err


def _pixels(folder):
    return {p.relative_to(folder).as_posix(): np.asarray(Image.open(p)) for p in sorted(folder.rglob("*.png"))}


def test_file_uris_give_the_outputs_and_errors_of_local_paths(tmp_path, photos, capsys):
    code_local, err_local = _run(["colorize", photos, "-o", tmp_path / "local"], capsys)
    code_uri, err_uri = _run(["colorize", photos.as_uri(), "-o", (tmp_path / "uri").as_uri()], capsys)
    assert code_local == code_uri == 1
    local, uri = _pixels(tmp_path / "local"), _pixels(tmp_path / "uri")
    assert sorted(local) == sorted(uri) == ["a.png", "c.png", "sub/b.png"]
    for name in local:
        assert np.array_equal(local[name], uri[name])
    assert f"{photos.as_uri()}/broken.png: " in err_uri and f"{photos / 'broken.png'}: " in err_local
    assert "colorized 3 image(s) into file://" in err_uri


def test_a_missing_uri_is_one_line_naming_it(tmp_path, capsys):
    missing = (tmp_path / "nowhere").as_uri()
    code, err = _run(["colorize", missing, "-o", tmp_path / "out"], capsys)
    assert code == 1
    assert f"huenet: error: {missing}: no such file or folder" in err
    assert "Traceback" not in err


def test_a_uri_scheme_pyarrow_does_not_know_is_one_line(tmp_path, capsys):
    code, err = _run(["colorize", "nosuchscheme://bucket/photos", "-o", tmp_path / "out"], capsys)
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("huenet: error: nosuchscheme://bucket/photos: not a usable URI")


def test_uri_outputs_keep_the_no_overwrite_and_skip_existing_rules(tmp_path, photos, capsys):
    out = (tmp_path / "out").as_uri()
    assert _run(["colorize", photos / "a.png", photos / "c.png", "-o", out], capsys)[0] == 0
    before = (tmp_path / "out" / "a.png").stat()
    code, err = _run(["colorize", photos / "a.png", "-o", out], capsys)
    assert code == 1 and f"output {out}/a.png exists" in err
    code, err = _run(["colorize", photos / "a.png", photos / "c.png", "-o", out, "--skip-existing"], capsys)
    assert code == 0 and "nothing to do: all 2 output(s) already exist" in err
    after = (tmp_path / "out" / "a.png").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_an_output_uri_never_replaces_its_input(tmp_path, photos, capsys):
    source = photos / "c.png"
    original = source.read_bytes()
    code, err = _run(["colorize", source.as_uri(), "-o", source.as_uri(), "--overwrite"], capsys)
    assert code == 1 and "would overwrite an input" in err
    assert source.read_bytes() == original


def test_two_inputs_on_one_output_name_the_first(tmp_path):
    for folder, suffix in [("x", ".png"), ("y", ".jpg")]:
        (tmp_path / folder).mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / folder / f"same{suffix}")
    jobs, problems = batch.plan(
        [(tmp_path / "x" / "same.png").as_uri(), str(tmp_path / "y" / "same.jpg")], (tmp_path / "out").as_uri(), "png"
    )
    assert [job.target for job in jobs] == [(tmp_path / "out" / "same.png").as_uri()]
    assert len(problems) == 1 and problems[0].source == str(tmp_path / "y" / "same.jpg")
    assert "already the output of" in problems[0].reason


class _MockStore:
    """An in-memory pyarrow filesystem standing in for an object store (s3://, gs://)."""

    def __init__(self, monkeypatch):
        self.filesystem = pyarrow_fs._MockFileSystem()
        real_root = storage._root
        monkeypatch.setattr(
            storage,
            "_root",
            lambda prefix: (
                (self.filesystem, prefix.split("://")[1].rstrip("/"))
                if prefix.startswith("mock://")
                else real_root(prefix)
            ),
        )

    def put(self, path, content):
        self.filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with self.filesystem.open_output_stream(path) as stream:
            stream.write(content)

    def get(self, path):
        with self.filesystem.open_input_file(path) as stream:
            return stream.read()


def test_an_object_store_is_listed_read_and_written_by_upload(tmp_path, photos, monkeypatch, capsys):
    store = _MockStore(monkeypatch)
    for path in [photos / "a.png", photos / "sub" / "b.jpg", photos / "broken.png"]:
        store.put(f"bucket/in/{path.relative_to(photos).as_posix()}", path.read_bytes())
    code, err = _run(["colorize", "mock://bucket/in", "-o", "mock://bucket/out"], capsys)
    assert code == 1 and "mock://bucket/in/broken.png: not an image Pillow can read" in err
    local_code, _ = _run(["colorize", photos / "a.png", photos / "sub" / "b.jpg", "-o", tmp_path / "local"], capsys)
    assert local_code == 0
    for name, local in [("a.png", "a.png"), ("sub/b.png", "b.png")]:
        uploaded = np.asarray(Image.open(io.BytesIO(store.get(f"bucket/out/{name}"))))
        assert np.array_equal(uploaded, np.asarray(Image.open(tmp_path / "local" / local)))
    # No overwrite without --overwrite, on an object store too.
    code, err = _run(["colorize", "mock://bucket/in/a.png", "-o", "mock://bucket/out/a.png"], capsys)
    assert code == 1 and "mock://bucket/out/a.png exists" in err


def test_the_error_log_sits_beside_the_outputs(tmp_path):
    jobs = [
        batch.Job("in/a.png", str(tmp_path / "out" / "a.png")),
        batch.Job("in/b.png", str(tmp_path / "out" / "b.png")),
    ]
    from huenet.scaleout import write_error_log

    problems = [batch.Problem("in/b.png", "not an image Pillow can read"), batch.Problem("in/ü: x.png", "no such file")]
    location = write_error_log(problems, jobs, str(tmp_path / "out"))
    assert location == str(tmp_path / "out" / "errors.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text("utf-8").splitlines()]
    assert lines == [
        {"source": "in/b.png", "error": "not an image Pillow can read"},
        {"source": "in/ü: x.png", "error": "no such file"},
    ]
    single = [batch.Job("in/a.png", str(tmp_path / "one" / "x.png"))]
    assert write_error_log([], single, str(tmp_path / "one" / "x.png")) == str(tmp_path / "one" / "errors.jsonl")
    assert (tmp_path / "one" / "errors.jsonl").read_text() == ""


def test_ray_options_without_ray_name_the_extra(tmp_path, photos, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the ray extra were not installed
    code, err = _run(["colorize", photos / "a.png", "-o", tmp_path / "out", "--ray"], capsys)
    assert code == 1
    assert (
        err.strip()
        == "huenet: error: --ray needs Ray Data, which a plain install leaves out; install it with: pip install 'huenet[ray]'"
    )
    assert not (tmp_path / "out").exists()


def test_an_unreachable_ray_head_fails_fast_in_one_line(tmp_path, photos, capsys):
    pytest.importorskip("ray")
    from conftest import free_port

    port = free_port()
    code, err = _run(["colorize", photos / "a.png", "-o", tmp_path / "out", "--ray", f"127.0.0.1:{port}"], capsys)
    assert code == 1
    assert err.strip().startswith(f"huenet: error: --ray 127.0.0.1:{port}: cannot connect")
    assert err.count("\n") == 1
    code, err = _run(["colorize", photos / "a.png", "-o", tmp_path / "out", "--ray", "no-port-here"], capsys)
    assert code == 1 and "give HOST:PORT" in err
    assert not (tmp_path / "out").exists()


def test_existing_outputs_on_an_object_store_are_found_by_one_listing(monkeypatch):
    store = _MockStore(monkeypatch)
    store.put("bucket/out/a.png", b"x")
    store.put("bucket/out/sub/b.png", b"x")
    asked = []
    real_kind = storage.kind
    monkeypatch.setattr(storage, "kind", lambda location: asked.append(location) or real_kind(location))
    wanted = [
        "mock://bucket/out/a.png",
        "mock://bucket/out/sub/b.png",
        "mock://bucket/out/c.png",
        "mock://bucket/out/sub/d.png",
    ]
    assert storage.existing(wanted) == {"mock://bucket/out/a.png", "mock://bucket/out/sub/b.png"}
    assert asked == ["mock://bucket/out"]  # one look at the common folder, not one per output
    assert storage.existing(["mock://bucket/none/x.png", "mock://bucket/none/y.png"]) == set()


def test_leftover_temporary_files_of_a_killed_writer_are_removed_for_named_outputs_only(tmp_path):
    from huenet.files import remove_leftovers

    (tmp_path / "sub").mkdir()
    for name in [".a.png.k3j2h1x0.partial", "sub/.c.png.zz9.partial", ".b.png.q1.partial", "a.png", ".a.png.notes"]:
        (tmp_path / name).write_bytes(b"x")
    assert remove_leftovers([tmp_path / "a.png", tmp_path / "sub" / "c.png", tmp_path / "missing" / "d.png"]) == 2
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        ".a.png.notes",
        ".b.png.q1.partial",
        "a.png",
    ]
