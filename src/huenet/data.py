"""Datasets: image folders, tar archives, the official CIFAR-10 releases, and batching.

Everything is read in place (archives are never extracted) into uint8 RGB arrays. The
official python release of CIFAR-10 is a pickle; it is read with a restricted unpickler
that admits only the types that file holds, so a crafted file cannot run code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from huenet import color

CIFAR10_RELEASES = {
    # Published at https://www.cs.toronto.edu/~kriz/cifar.html with these md5 sums.
    "python": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
    "binary": ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"),
}
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# Dataset files larger than this are skipped as unreadable without being read: no training
# image comes near it, and reading a stray multi-gigabyte file whole would exhaust memory.
MAX_FILE_BYTES = 1 << 30

# An image is treated as grayscale when 95% of its pixels have Lab chroma below this.
GRAY_CHROMA_THRESHOLD = 3.0


class DatasetError(ValueError):
    """A dataset file that cannot be read; the message names the file and the reason."""


@dataclasses.dataclass
class ImageSet:
    """Images read from one source.

    ``images`` is a uint8 array (count, height, width, 3) when all images share a size,
    otherwise a list of (height, width, 3) arrays. ``names`` identify each image, and
    ``labels`` give its class: the CIFAR-10 class of the official releases, else the name
    of the folder the file sits in ("" at the top level). Only the auxiliary class loss of
    training uses them.
    """

    images: Any
    names: list[str]
    skipped_gray: int = 0
    skipped_unreadable: int = 0
    labels: list[str] | None = None

    def __post_init__(self) -> None:
        if self.labels is None:
            self.labels = [folder_label(name) for name in self.names]

    def __len__(self) -> int:
        return len(self.names)


# --- grayscale detection -----------------------------------------------------------------


def chroma_percentile(rgb: np.ndarray, percentile: float = 95.0) -> np.ndarray:
    """Per-image percentile of Lab chroma, rgb: (count, height, width, 3) uint8 -> (count,)."""
    values = []
    for start in range(0, len(rgb), 1024):
        lab = color.rgb_to_lab(rgb[start : start + 1024])
        chroma = np.hypot(lab[..., 1], lab[..., 2]).reshape(len(lab), -1)
        values.append(np.percentile(chroma, percentile, axis=1))
    return np.concatenate(values) if values else np.zeros(0)


def is_grayscale(rgb: np.ndarray) -> np.ndarray:
    """Boolean mask of images whose truth is (nearly) gray: 95th pct chroma below 3."""
    return chroma_percentile(rgb) < GRAY_CHROMA_THRESHOLD


# --- decoding -------------------------------------------------------------------------------


def _decode_rgb(payload: bytes | Path | None, name: str) -> np.ndarray:
    """Decode a file's bytes, or the file at a path (Pillow then reads only what it needs).

    ``None`` stands for a file over ``MAX_FILE_BYTES``.
    """
    if payload is None:
        raise DatasetError(f"{name}: larger than {MAX_FILE_BYTES} bytes")
    try:
        with Image.open(payload if isinstance(payload, Path) else io.BytesIO(payload)) as image:
            image.load()
            return np.asarray(image.convert("RGB"))
    except Exception as error:  # Pillow raises many types for bad files
        raise DatasetError(f"{name}: not a readable image ({error})") from None


def folder_label(name: str) -> str:
    """The class of an image named ``name`` inside a dataset: its folder's name ("" if none)."""
    parts = name.replace("\\", "/").split("/")
    return parts[-2] if len(parts) > 1 else ""


def _iter_folder(folder: Path) -> Iterator[tuple[str, Path | None]]:
    """(name, path) of each file, None for files over the size cap; nothing is read yet."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            too_big = path.stat().st_size > MAX_FILE_BYTES
        except OSError:
            too_big = False  # vanished or unreadable: decoding reports it
        yield str(path.relative_to(folder)), None if too_big else path


def _iter_tar(path: Path) -> Iterator[tuple[str, bytes | None]]:
    """(name, bytes) of each member file, None for members over the size cap (not read)."""
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                if member.isfile():
                    if member.size > MAX_FILE_BYTES:
                        yield member.name, None
                        continue
                    handle = archive.extractfile(member)
                    if handle is not None:
                        yield member.name, handle.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DatasetError(f"{path}: not a readable tar archive ({error})") from None


def _is_tar(path: Path) -> bool:
    return path.is_file() and any(str(path).endswith(ext) for ext in (".tar", ".tar.gz", ".tgz"))


# --- official CIFAR-10 releases --------------------------------------------------------------


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


def _cifar_release_kind(path: Path) -> str | None:
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
    kind = _cifar_release_kind(path)
    if kind is None:
        raise DatasetError(f"{path}: no cifar-10-batches-py/ or cifar-10-batches-bin/ inside")
    images, names, classes = [], [], []
    for member_name, payload in _iter_tar(path):
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


# --- generic loading ------------------------------------------------------------------------


def load_images(source: str | os.PathLike, split: str = "train", skip_gray: bool = True, limit: int | None = None) -> ImageSet:
    """Read every image of a folder (recursive), tar / tar.gz archive or CIFAR-10 release.

    Files that are not images are skipped and counted; so are grayscale images when
    ``skip_gray`` (a colorizer cannot learn color from them). ``split`` only applies to the
    official CIFAR-10 releases. ``limit`` keeps the first N images (for quick runs and tests).
    """
    path = Path(source)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 image, got {limit}")
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if _is_tar(path) and _cifar_release_kind(path) is not None:
        image_set = read_cifar10_release(path, split)
        if limit:
            image_set = ImageSet(image_set.images[:limit], image_set.names[:limit], labels=image_set.labels[:limit])
    else:
        if path.is_dir():
            entries = _iter_folder(path)
        elif _is_tar(path):
            entries = _iter_tar(path)
        else:
            raise DatasetError(f"{path}: expected a folder, a .tar/.tar.gz archive or a CIFAR-10 release")
        images, names, unreadable = [], [], 0
        for name, payload in entries:
            try:
                images.append(_decode_rgb(payload, name))
            except DatasetError:
                unreadable += 1
                continue
            names.append(name)
            if limit and len(images) >= limit:
                break
        if not images:
            raise DatasetError(f"{path}: no readable images")
        if len({image.shape for image in images}) == 1:
            images = np.stack(images)
        image_set = ImageSet(images, names, skipped_unreadable=unreadable)  # labels: the folders
    if skip_gray:
        image_set = drop_gray(image_set)
    return image_set


def drop_gray(image_set: ImageSet) -> ImageSet:
    """Remove images whose truth is grayscale, counting them in ``skipped_gray``."""
    if isinstance(image_set.images, np.ndarray):
        gray = is_grayscale(image_set.images)
        images = image_set.images[~gray]
    else:
        gray = np.array([bool(is_grayscale(image[None])[0]) for image in image_set.images])
        images = [image for image, g in zip(image_set.images, gray) if not g]
    names = [name for name, g in zip(image_set.names, gray) if not g]
    labels = [label for label, g in zip(image_set.labels, gray) if not g]
    return dataclasses.replace(
        image_set, images=images, names=names, labels=labels, skipped_gray=image_set.skipped_gray + int(gray.sum())
    )


def split_train_validation(image_set: ImageSet, validation_fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
    """Seeded random split; the validation set gets ``round(fraction * count)`` images."""
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {validation_fraction}")
    order = np.random.default_rng(seed).permutation(len(image_set))
    count = int(round(validation_fraction * len(image_set)))
    return _subset(image_set, order[count:]), _subset(image_set, order[:count])


def _subset(image_set: ImageSet, indices: np.ndarray) -> ImageSet:
    kept = np.sort(indices)
    if isinstance(image_set.images, np.ndarray):
        images = image_set.images[kept]
    else:
        images = [image_set.images[i] for i in kept]
    return ImageSet(images, [image_set.names[i] for i in kept], labels=[image_set.labels[i] for i in kept])


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
            with open(partial, "ab" if resumed else "wb") as handle, _progress_bar(total, offset if resumed else 0, destination.name, progress) as bar:
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
    raise DatasetError(f"{source}: not in the cache ({cached}); pass --download to fetch it (needs internet) or give a path")


def download_cifar10(kind: str = "python", cache_dir: str | os.PathLike | None = None, url: str | None = None, progress: bool = True) -> Path:
    """Download an official CIFAR-10 release into the cache and return its path.

    ``url`` overrides the official address (a mirror, or a local server in tests); the
    published md5 of ``kind`` is always checked.
    """
    if kind not in CIFAR10_RELEASES:
        raise ValueError(f"unknown CIFAR-10 release {kind!r}; choose one of {', '.join(CIFAR10_RELEASES)}")
    official_url, md5 = CIFAR10_RELEASES[kind]
    return download(url or official_url, md5, _release_cache_path(kind, cache_dir), progress=progress)


# --- batches ---------------------------------------------------------------------------------


def augment(images: Any, indices: np.ndarray, rng: np.random.Generator, crop_size: int | None, max_shift: int, flip: bool) -> np.ndarray:
    """Draw a batch with random horizontal flips, small shifts and (large images) crops.

    Same-size arrays are cropped with one vectorized gather: each image is edge-padded by
    ``max_shift`` and a window of its own size (or ``crop_size``) is taken at a random
    offset. Lists of differently sized photos are cropped to ``crop_size`` one by one.
    Returns uint8 (batch, height, width, 3).
    """
    if isinstance(images, np.ndarray):
        batch = images[indices]
        height, width = batch.shape[1:3]
        out_h, out_w = (min(crop_size, height), min(crop_size, width)) if crop_size else (height, width)
        if max_shift or (out_h, out_w) != (height, width):
            padded = np.pad(batch, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)), mode="edge")
            top = rng.integers(0, height - out_h + 2 * max_shift + 1, len(batch))
            left = rng.integers(0, width - out_w + 2 * max_shift + 1, len(batch))
            rows = (top[:, None] + np.arange(out_h))[:, :, None]  # (batch, out_h, 1)
            cols = (left[:, None] + np.arange(out_w))[:, None, :]  # (batch, 1, out_w)
            batch = padded[np.arange(len(batch))[:, None, None], rows, cols]
    else:
        if not crop_size:
            raise ValueError("images of different sizes need a crop size")
        crops = []
        for index in indices:
            image = images[index]
            height, width = image.shape[:2]
            size_h, size_w = min(crop_size, height), min(crop_size, width)
            top = rng.integers(0, height - size_h + 1)
            left = rng.integers(0, width - size_w + 1)
            crop = image[top : top + size_h, left : left + size_w]
            crops.append(np.pad(crop, ((0, crop_size - size_h), (0, crop_size - size_w), (0, 0)), mode="edge"))
        batch = np.stack(crops)
    if flip:
        mirrored = rng.random(len(batch)) < 0.5
        batch = np.where(mirrored[:, None, None, None], batch[:, :, ::-1], batch)
    return np.ascontiguousarray(batch)


def make_batch(rgb: np.ndarray, head: str, stride: int = 1, color_space: str = "rgb") -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB (batch, h, w, 3) -> (network input, training target) for ``head``.

    Input: normalized lightness (batch, h, w, 1). Target: channel levels (batch, h, w, 3) for
    ``levels``; normalized ab averaged over ``stride`` x ``stride`` blocks,
    (batch, h / stride, w / stride, 2), for the ab heads.
    """
    # The network sees exactly what inference computes from a grayscale file: Pillow's luma
    # of the color image, read as a gray level. (Lab L of the color image would differ for
    # saturated colors, and the network would learn cues that real inputs do not have.)
    inputs = color.network_input(color.rgb_to_gray(rgb).astype(np.float32) / 255.0)
    lab = color.rgb_to_lab(rgb)
    if head == "levels":
        return inputs, color.rgb_to_levels(rgb, color_space)
    ab = lab[..., 1:]
    if stride > 1:
        count, height, width, _ = ab.shape
        ab = ab[:, : height - height % stride, : width - width % stride]
        # The block mean as a sum of stride**2 strided views: numpy's mean over two axes of
        # a 6-d reshape was a third of the batch pipeline's time.
        ab = sum(ab[:, row::stride, col::stride] for row in range(stride) for col in range(stride)) / (stride * stride)
    return inputs, color.normalize_ab(ab)


def ab_bin_prior(images: Any, stride: int = 1, sample: int = 5000, seed: int = 0) -> np.ndarray:
    """Empirical distribution of the nearest ab bin over a seeded sample of training images."""
    centers = color.ab_bins()
    picks = np.random.default_rng(seed).permutation(len(images))[:sample]
    if isinstance(images, np.ndarray):
        blocks = [images[picks[i : i + 512]] for i in range(0, len(picks), 512)]
    else:
        blocks = [images[i][None] for i in picks]
    counts = np.zeros(len(centers))
    for block in blocks:
        _, ab = make_batch(block, "ab_regression", stride)
        ab = ab.reshape(-1, 2) * color.AB_SCALE
        nearest = ((ab[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
        counts += np.bincount(nearest, minlength=len(centers))
    return counts / counts.sum()
