"""The official CIFAR-10 releases: reading them in place, and fetching them into a cache.

The python release is a pickle; it is read with a restricted unpickler that admits only
the types that file holds, so a crafted file cannot run code. Nothing is downloaded unless
asked for (``--download``, ``download_cifar10``).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from huenet.archives import MAX_FILE_BYTES, DatasetError, ImageSet, iter_tar

CIFAR10_RELEASES = {
    # Published at https://www.cs.toronto.edu/~kriz/cifar.html with these md5 sums.
    "python": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
    "binary": ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"),
}
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits dicts, lists, bytes, str, ints and NumPy uint8 arrays; refuses everything else.

    The official batches hold a dict of bytes keys, a list of int labels and a NumPy array of
    pixels. Building that array needs exactly three NumPy globals (and ``_codecs.encode``,
    which protocol-2 pickles written by Python 3 use to spell bytes); any other global (the
    way a malicious pickle reaches ``os.system``) raises.
    """

    _ALLOWED = {
        ("_codecs", "encode"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            if name == "_reconstruct":
                return _numpy_reconstruct()
            if name == "encode":
                import codecs

                return codecs.encode
            return getattr(np, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: only plain data is allowed")


def _numpy_reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _load_cifar_pickle(payload: bytes, name: str) -> tuple[np.ndarray, list[int]]:
    try:
        batch = _RestrictedUnpickler(io.BytesIO(payload), encoding="bytes").load()
    except Exception as error:
        raise DatasetError(f"{name}: refused or unreadable CIFAR-10 pickle ({error})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DatasetError(f"{name}: not a CIFAR-10 batch (expected a dict with data and labels)")
    data = batch[b"data"]
    if isinstance(data, (bytes, bytearray)):
        data = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3072)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetError(f"{name}: CIFAR-10 data must be a uint8 array of shape (count, 3072)")
    labels = batch[b"labels"]
    if not isinstance(labels, list) or len(labels) != len(data) or not all(isinstance(v, int) for v in labels):
        raise DatasetError(f"{name}: CIFAR-10 labels must be a list of {len(data)} ints")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _load_cifar_binary(payload: bytes, name: str) -> tuple[np.ndarray, list[int]]:
    if len(payload) % 3073:
        raise DatasetError(f"{name}: size {len(payload)} is not a multiple of a 3073-byte CIFAR-10 record")
    records = np.frombuffer(payload, dtype=np.uint8).reshape(-1, 3073)
    return records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), records[:, 0].tolist()


def release_kind(path: Path) -> str | None:
    """'python' or 'binary' when ``path`` looks like an official CIFAR-10 archive."""
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                if "cifar-10-batches-py/" in member.name:
                    return "python"
                if "cifar-10-batches-bin/" in member.name:
                    return "binary"
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DatasetError(f"{path}: not a readable tar archive ({error})") from None
    return None


def read_cifar10_release(path: str | os.PathLike, split: str = "train") -> ImageSet:
    """Read ``cifar-10-python.tar.gz`` or ``cifar-10-binary.tar.gz`` in place.

    Args:
        path: the archive.
        split: "train" (data batches 1-5), "test" (test batch) or "all".
    Raises:
        DatasetError: unreadable archive, refused pickle, malformed batch.
    """
    path = Path(path)
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be train, test or all, got {split!r}")
    kind = release_kind(path)
    if kind is None:
        raise DatasetError(f"{path}: no cifar-10-batches-py/ or cifar-10-batches-bin/ inside")
    images, names, classes = [], [], []
    for member_name, payload in iter_tar(path):
        base = member_name.rsplit("/", 1)[-1]
        is_test = base.startswith("test_batch")
        is_train = base.startswith("data_batch")
        if not (is_train or is_test) or (split == "train" and is_test) or (split == "test" and is_train):
            continue
        if payload is None:
            raise DatasetError(f"{path}:{member_name}: larger than {MAX_FILE_BYTES} bytes, not a CIFAR-10 batch")
        reader = _load_cifar_pickle if kind == "python" else _load_cifar_binary
        batch_images, labels = reader(payload, f"{path}:{member_name}")
        images.append(batch_images)
        batch_classes = [CIFAR10_CLASSES[label] if 0 <= label < 10 else str(label) for label in labels]
        names += [f"{base}/{i:05d}-{label}" for i, label in enumerate(batch_classes)]
        classes += batch_classes
    if not images:
        raise DatasetError(f"{path}: no {split} batches found")
    return ImageSet(np.ascontiguousarray(np.concatenate(images)), names, labels=classes)


# --- download -------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$HUENET_CACHE``, else ``$XDG_CACHE_HOME/huenet``, else ``~/.cache/huenet``."""
    if os.environ.get("HUENET_CACHE"):
        return Path(os.environ["HUENET_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "huenet"


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, md5: str, destination: Path, timeout: float = 30.0, progress: bool = True) -> Path:
    """Fetch ``url`` to ``destination`` unless a file with the right md5 is there.

    Downloads into ``destination.part`` and resumes it with an HTTP Range request when the
    server supports ranges; the file is renamed into place only after its md5 matches.
    Raises DatasetError on network failure or checksum mismatch (the bad file is removed).
    """
    destination = Path(destination)
    if destination.exists() and _md5(destination) == md5:
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = offset and response.status == 206
            total = response.headers.get("Content-Length")
            total = int(total) + (offset if resumed else 0) if total else None
            with (
                open(partial, "ab" if resumed else "wb") as handle,
                _progress_bar(total, offset if resumed else 0, destination.name, progress) as bar,
            ):
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    handle.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise DatasetError(f"{url}: download failed ({getattr(error, 'reason', error)}); run again to resume") from None
    actual = _md5(partial)
    if actual != md5:
        partial.unlink()
        raise DatasetError(f"{url}: md5 {actual} does not match the published {md5}; the download was removed")
    os.replace(partial, destination)
    return destination


def _progress_bar(total: int | None, initial: int, description: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=description, disable=not enabled)


def _release_cache_path(kind: str, cache_dir: str | os.PathLike | None) -> Path:
    """Where an official CIFAR-10 release lives in the cache (its published file name)."""
    return Path(cache_dir or default_cache_dir()) / CIFAR10_RELEASES[kind][0].rsplit("/", 1)[-1]


DATASET_ALIASES = {"cifar10": "python", "cifar10-python": "python", "cifar10-binary": "binary"}


def resolve_source(source: str, download: bool = False, cache_dir: str | os.PathLike | None = None) -> str:
    """A dataset path, or for ``cifar10`` / ``cifar10-binary`` the cached official release.

    Nothing is fetched unless ``download`` is true (no network by default).
    """
    if source not in DATASET_ALIASES:
        return source
    kind = DATASET_ALIASES[source]
    cached = _release_cache_path(kind, cache_dir)
    if download:
        return str(download_cifar10(kind, cache_dir))
    if cached.exists():
        return str(cached)
    raise DatasetError(
        f"{source}: not in the cache ({cached}); pass --download to fetch it (needs internet) or give a path"
    )


def download_cifar10(
    kind: str = "python", cache_dir: str | os.PathLike | None = None, url: str | None = None, progress: bool = True
) -> Path:
    """Download an official CIFAR-10 release into the cache and return its path.

    ``url`` overrides the official address (a mirror, or a local server in tests); the
    published md5 of ``kind`` is always checked.
    """
    if kind not in CIFAR10_RELEASES:
        raise ValueError(f"unknown CIFAR-10 release {kind!r}; choose one of {', '.join(CIFAR10_RELEASES)}")
    official_url, md5 = CIFAR10_RELEASES[kind]
    return download(url or official_url, md5, _release_cache_path(kind, cache_dir), progress=progress)
