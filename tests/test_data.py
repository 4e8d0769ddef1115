import hashlib
import http.server
import io
import json
import os
import pickle
import tarfile
import threading

import numpy as np
import pytest
from PIL import Image

from huenet import archives, batches, cifar10, color, datasets


def _add(archive, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    archive.addfile(info, io.BytesIO(payload))


def _cifar_arrays(count, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 3072), dtype=np.uint8), rng.integers(0, 10, count).tolist()


def make_cifar_python(path, batch_pickles=None):
    with tarfile.open(path, "w:gz") as archive:
        for index, name in enumerate(["data_batch_1", "data_batch_2", "test_batch"]):
            pixels, labels = _cifar_arrays(4, index)
            payload = (batch_pickles or {}).get(name) or pickle.dumps(
                {b"batch_label": b"x", b"labels": labels, b"data": pixels, b"filenames": [b"a"] * 4}, protocol=2
            )
            _add(archive, f"cifar-10-batches-py/{name}", payload)
        _add(archive, "cifar-10-batches-py/batches.meta", pickle.dumps({b"label_names": [b"airplane"]}))
    return path


def make_cifar_binary(path):
    with tarfile.open(path, "w:gz") as archive:
        for index, name in enumerate(["data_batch_1.bin", "test_batch.bin"]):
            pixels, labels = _cifar_arrays(3, index)
            records = np.concatenate([np.array(labels, np.uint8)[:, None], pixels], axis=1)
            _add(archive, f"cifar-10-batches-bin/{name}", records.tobytes())
    return path


def test_cifar_python_release(tmp_path):
    path = make_cifar_python(tmp_path / "cifar-10-python.tar.gz")
    train = cifar10.read_cifar10_release(path, "train")
    test = cifar10.read_cifar10_release(path, "test")
    assert train.images.shape == (8, 32, 32, 3) and test.images.shape == (4, 32, 32, 3)
    pixels, _ = _cifar_arrays(4, 2)
    assert np.array_equal(test.images[1], pixels[1].reshape(3, 32, 32).transpose(1, 2, 0))


def test_cifar_binary_release(tmp_path):
    path = make_cifar_binary(tmp_path / "cifar-10-binary.tar.gz")
    train = datasets.load_images(path, split="train", skip_gray=False)
    assert train.images.shape == (3, 32, 32, 3)
    pixels, labels = _cifar_arrays(3, 0)
    assert np.array_equal(train.images[2], pixels[2].reshape(3, 32, 32).transpose(1, 2, 0))
    assert train.names[0].endswith(cifar10.CIFAR10_CLASSES[labels[0]])


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo owned > /dev/null",))


def test_pickle_that_runs_code_is_refused(tmp_path):
    evil = pickle.dumps({b"data": _RunsCode(), b"labels": []})
    path = make_cifar_python(tmp_path / "cifar-10-python.tar.gz", {"data_batch_1": evil})
    with pytest.raises(datasets.DatasetError, match="refused.*(posix|os)\\.system"):
        cifar10.read_cifar10_release(path, "train")


def test_pickle_with_object_array_is_refused(tmp_path):
    sneaky = pickle.dumps({b"data": np.array([_RunsCode()], dtype=object), b"labels": [0]})
    path = make_cifar_python(tmp_path / "cifar-10-python.tar.gz", {"data_batch_1": sneaky})
    with pytest.raises(datasets.DatasetError, match="refused"):
        cifar10.read_cifar10_release(path, "train")


def test_folder_and_tar_readers_skip_gray_and_junk(tmp_path, image_folder, color_images):
    from_folder = datasets.load_images(image_folder)
    assert len(from_folder) == 16 and from_folder.skipped_gray == 1 and from_folder.skipped_unreadable == 1
    archive = tmp_path / "images.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        handle.add(image_folder, arcname="images")
    from_tar = datasets.load_images(archive)
    assert sorted(from_tar.names) == sorted("images/" + name for name in from_folder.names)
    assert from_tar.images.shape == (16, 12, 12, 3)


def test_files_over_the_size_cap_are_skipped_unread(tmp_path, image_folder, monkeypatch):
    archive = tmp_path / "images.tar"
    with tarfile.open(archive, "w") as handle:
        handle.add(image_folder, arcname="images")
    largest = max(path.stat().st_size for path in image_folder.rglob("*.png"))
    monkeypatch.setattr(archives, "MAX_FILE_BYTES", largest - 1)  # at least one image is now "too big"
    over = sum(path.stat().st_size > largest - 1 for path in image_folder.rglob("*") if path.is_file())
    for source in (image_folder, archive):
        image_set = datasets.load_images(source, skip_gray=False)
        assert image_set.skipped_unreadable == 1 + over  # notes.txt and the oversized files
        assert len(image_set) == 17 - over


def test_a_huge_sparse_file_in_a_folder_is_not_read(tmp_path, image_folder):
    with open(image_folder / "huge.jpg", "wb") as handle:  # 4 GiB of nothing, no disk used
        handle.truncate(4 << 30)
    image_set = datasets.load_images(image_folder)
    assert len(image_set) == 16 and image_set.skipped_unreadable == 2


def test_differently_sized_images_come_back_as_a_list(tmp_path):
    for index, size in enumerate([(10, 12), (20, 8)]):
        Image.fromarray(np.random.default_rng(index).integers(0, 256, (*size, 3), dtype=np.uint8)).save(
            tmp_path / f"{index}.png"
        )
    image_set = datasets.load_images(tmp_path)
    assert isinstance(image_set.images, list) and [i.shape for i in image_set.images] == [(10, 12, 3), (20, 8, 3)]
    batch = batches.augment(
        image_set.images, np.array([0, 1]), np.random.default_rng(0), crop_size=9, max_shift=0, flip=True
    )
    assert batch.shape == (2, 9, 9, 3)


def test_missing_and_bad_sources(tmp_path):
    with pytest.raises(datasets.DatasetError, match="no such file"):
        datasets.load_images(tmp_path / "nothing")
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tar")
    with pytest.raises(datasets.DatasetError, match="bad.tar.gz"):
        datasets.load_images(bad)
    with pytest.raises(ValueError, match="limit must be at least 1"):  # not read as "no limit"
        datasets.load_images(tmp_path / "nothing", limit=0)


def test_split_is_seeded_and_disjoint(image_folder):
    image_set = datasets.load_images(image_folder)
    train_a, validation_a = datasets.split_train_validation(image_set, 0.25, seed=3)
    train_b, validation_b = datasets.split_train_validation(image_set, 0.25, seed=3)
    assert validation_a.names == validation_b.names and len(validation_a) == 4
    assert not set(train_a.names) & set(validation_a.names)


def test_augment_shifts_and_flips_vectorized(color_images):
    rng = np.random.default_rng(0)
    batch = batches.augment(color_images, np.arange(16), rng, crop_size=None, max_shift=0, flip=True)
    flipped = [np.array_equal(b, c[:, ::-1]) and not np.array_equal(b, c) for b, c in zip(batch, color_images)]
    kept = [np.array_equal(b, c) for b, c in zip(batch, color_images)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    shifted = batches.augment(color_images, np.arange(16), rng, crop_size=None, max_shift=2, flip=False)
    assert shifted.shape == color_images.shape


def test_make_batch_targets(color_images):
    inputs, ab = batches.make_batch(color_images, "ab_regression", stride=2)
    assert inputs.shape == (16, 12, 12, 1) and ab.shape == (16, 6, 6, 2)
    assert -1.0 <= inputs.min() and inputs.max() <= 1.0
    full_ab = color.rgb_to_lab(color_images)[..., 1:]
    block_mean = full_ab.reshape(16, 6, 2, 6, 2, 2).mean(axis=(2, 4))  # each output pixel: its 2x2 block
    np.testing.assert_allclose(ab, color.normalize_ab(block_mean), atol=1e-6)
    _, levels = batches.make_batch(color_images, "levels", color_space="rgb")
    assert np.array_equal(levels, color_images)


# --- download against a local server --------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    make_cifar_binary(root / "cifar-10-binary.tar.gz")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a, **k: _Handler(*a, directory=str(root), **k))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, root
    httpd.shutdown()
    httpd.server_close()


def test_download_good_archive(tmp_path, server):
    httpd, root = server
    payload = (root / "cifar-10-binary.tar.gz").read_bytes()
    url = f"http://127.0.0.1:{httpd.server_port}/cifar-10-binary.tar.gz"
    target = tmp_path / "cache" / "cifar-10-binary.tar.gz"
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "cifar-10-binary.tar.gz.part").write_bytes(payload[:100])  # an earlier, cut-off try
    path = cifar10.download(url, hashlib.md5(payload).hexdigest(), target, progress=False)
    assert path.read_bytes() == payload
    assert not (tmp_path / "cache" / "cifar-10-binary.tar.gz.part").exists()
    assert datasets.load_images(path, skip_gray=False).images.shape == (3, 32, 32, 3)


def test_download_wrong_md5_removes_the_file(tmp_path, server):
    httpd, _ = server
    url = f"http://127.0.0.1:{httpd.server_port}/cifar-10-binary.tar.gz"
    with pytest.raises(datasets.DatasetError, match="does not match the published"):
        cifar10.download_cifar10("binary", cache_dir=tmp_path / "cache", url=url, progress=False)
    assert list((tmp_path / "cache").iterdir()) == []


def test_download_server_gone(tmp_path, server):
    httpd, _ = server
    port = httpd.server_port
    httpd.shutdown()
    httpd.server_close()
    with pytest.raises(datasets.DatasetError, match="download failed.*resume"):
        cifar10.download(
            f"http://127.0.0.1:{port}/x.tar.gz", "0" * 32, tmp_path / "x.tar.gz", timeout=5, progress=False
        )


def test_dataset_alias_needs_cache_or_download(tmp_path, server, monkeypatch):
    monkeypatch.setenv("HUENET_CACHE", str(tmp_path / "cache"))
    with pytest.raises(datasets.DatasetError, match="pass --download"):
        cifar10.resolve_source("cifar10-binary")
    assert cifar10.resolve_source("some/folder") == "some/folder"
    httpd, root = server
    payload = (root / "cifar-10-binary.tar.gz").read_bytes()
    official_url, _ = cifar10.CIFAR10_RELEASES["binary"]
    monkeypatch.setitem(
        cifar10.CIFAR10_RELEASES,
        "binary",
        (f"http://127.0.0.1:{httpd.server_port}/cifar-10-binary.tar.gz", hashlib.md5(payload).hexdigest()),
    )
    path = cifar10.resolve_source("cifar10-binary", download=True)
    assert path.endswith("cifar-10-binary.tar.gz") and cifar10.resolve_source("cifar10-binary") == path


def test_labels_come_from_class_folders_and_the_cifar_release(tmp_path, image_folder):
    from_folder = datasets.load_images(image_folder)  # gray.png is dropped with its label
    assert len(from_folder.labels) == len(from_folder.names)
    assert all(
        label == ("sub" if name.startswith("sub/") else "")
        for name, label in zip(from_folder.names, from_folder.labels)
    )
    release = datasets.load_images(make_cifar_binary(tmp_path / "cifar-10-binary.tar.gz"), skip_gray=False, limit=2)
    _, labels = _cifar_arrays(3, 0)
    assert release.labels == [cifar10.CIFAR10_CLASSES[label] for label in labels[:2]]


def test_labels_follow_their_images_through_the_split(image_folder):
    images = datasets.load_images(image_folder)
    train, validation = datasets.split_train_validation(images, 0.25, seed=3)
    for subset in (train, validation):
        assert subset.labels == [datasets.folder_label(name) for name in subset.names]
    assert sorted(train.labels + validation.labels) == sorted(images.labels)


def _class_folders(root, classes=("a", "b", "c", "d"), per_class=6):
    for label in classes:
        (root / label).mkdir(parents=True)
        for index in range(per_class):
            pixels = np.random.default_rng([ord(label), index]).integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{index}.png")
    return root


def test_limit_samples_evenly_across_classes_and_is_seeded(tmp_path):
    folder = _class_folders(tmp_path / "classes")
    with tarfile.open(tmp_path / "classes.tar.gz", "w:gz") as archive:
        archive.add(folder, arcname="train")
    for source in (folder, tmp_path / "classes.tar.gz"):
        sample = datasets.load_images(source, limit=8, seed=3)
        assert len(sample) == 8 and sorted(set(sample.labels)) == ["a", "b", "c", "d"]
        assert all(sample.labels.count(label) == 2 for label in "abcd")
        assert datasets.load_images(source, limit=8, seed=3).names == sample.names  # same seed, same sample
    assert datasets.load_images(folder, limit=8, seed=4).names != datasets.load_images(folder, limit=8, seed=3).names
    picked = datasets.sample_evenly(["x"] * 10 + ["y"] * 2, 6, seed=0)
    assert len(picked) == 6 and sum(i >= 10 for i in picked) == 2  # a small class gives all it has


def test_train_limit_takes_every_class(tmp_path, capsys):
    from huenet import cli

    folder = _class_folders(tmp_path / "classes")
    run = tmp_path / "run"
    code = cli.main(
        [
            "train",
            "--preset",
            "huenet-class",
            "--data",
            str(folder),
            "--limit",
            "8",
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--validation-fraction",
            "0.25",
            "--run-dir",
            str(run),
            "--verbose",
            "0",
        ]
    )
    assert code == 0
    assert json.loads((run / "config.json").read_text())["classes"] == ["a", "b", "c", "d"]
