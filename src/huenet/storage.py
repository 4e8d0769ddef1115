"""Where a batch's files live: local paths, or pyarrow filesystem URIs (file://, s3://, gs://).

A location is a string. One without "://" is a local path and goes through the same code
as always (``images.read_image``, ``images.write_image``: atomic, never overwriting unless
asked). A URI is resolved with ``pyarrow.fs.FileSystem.from_uri``, which needs pyarrow
(installed with the ``ray`` extra); credentials come from the environment as pyarrow
reads them (AWS_*, GOOGLE_APPLICATION_CREDENTIALS...), never from huenet.

Writes to a local filesystem, by path or file://, are atomic by rename. Writes to an object
store are atomic by nature (an object appears when its upload completes); the no-overwrite
check there is a look before the write, so two writers racing on one key can both succeed.
"""

from __future__ import annotations

import functools
import io
import os
import posixpath
from pathlib import Path
from typing import Any

from huenet.images import ImageError, InputImage, read_image

PYARROW_HINT = "URIs need pyarrow: pip install 'huenet[ray]'"


class StorageError(ValueError):
    """A location that cannot be resolved or listed: "LOCATION: REASON", one line."""

    def __init__(self, location: str, reason: str):
        super().__init__(f"{location}: {reason}")
        self.reason = reason


def is_uri(location: str) -> bool:
    return "://" in str(location)


def join(base: str, relative: str) -> str:
    """``relative`` (with / separators) under ``base``, a folder path or URI."""
    if is_uri(base):
        return base.rstrip("/") + "/" + relative
    return str(Path(base) / relative)


def suffix(location: str) -> str:
    return posixpath.splitext(_name(location))[1] if is_uri(location) else Path(location).suffix


def _name(location: str) -> str:
    return posixpath.basename(location.rstrip("/")) if is_uri(location) else Path(location).name


def resolve(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path within it) of a URI.

    The filesystem of each scheme and authority (an S3 bucket, say) is made once per
    process: making one can cost a network round trip (the bucket's region).
    """
    scheme, _, rest = uri.partition("://")
    if scheme.lower() == "file":
        return _from_uri(uri)
    authority, _, key = rest.partition("/")
    filesystem, root = _root(f"{scheme}://{authority}/")
    return filesystem, posixpath.join(root, key) if key else root


@functools.lru_cache(maxsize=64)
def _root(prefix: str) -> tuple[Any, str]:
    return _from_uri(prefix)


def _from_uri(uri: str) -> tuple[Any, str]:
    try:
        from pyarrow import fs
    except ImportError:
        raise StorageError(uri, f"{PYARROW_HINT}") from None
    try:
        return fs.FileSystem.from_uri(uri)
    except Exception as error:  # ArrowInvalid, OSError...: one line either way
        raise StorageError(uri, f"not a usable URI ({first_line(error)})") from None


def first_line(error: BaseException) -> str:
    """An exception's first line (pyarrow's and Ray's messages run to many), for one-line errors."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _is_local(filesystem: Any) -> bool:
    from pyarrow import fs

    return isinstance(filesystem, fs.LocalFileSystem)


def kind(location: str) -> str:
    """ "file", "folder" or "missing"."""
    if not is_uri(location):
        path = Path(location)
        return "folder" if path.is_dir() else "file" if path.is_file() else "missing"
    from pyarrow import fs

    filesystem, path = resolve(location)
    try:
        info = filesystem.get_file_info(path)
    except Exception as error:
        raise StorageError(location, f"cannot look it up ({first_line(error)})") from None
    return {fs.FileType.Directory: "folder", fs.FileType.File: "file"}.get(info.type, "missing")


def list_folder(uri: str, extensions: frozenset[str]) -> list[tuple[str, str]]:
    """(file URI, path relative to the folder) of every file under a folder URI with one of
    ``extensions``, sorted."""
    return sorted(
        (location, relative)
        for location, relative in _files_under(uri)
        if posixpath.splitext(relative)[1].lower() in extensions
    )


def _files_under(folder: str) -> list[tuple[str, str]]:
    """(URI, path relative to ``folder``) of every file below a folder URI: one recursive listing."""
    from pyarrow import fs

    filesystem, base = resolve(folder)
    try:
        infos = filesystem.get_file_info(fs.FileSelector(base, recursive=True))
    except Exception as error:
        raise StorageError(folder, f"cannot list it ({first_line(error)})") from None
    root = base.rstrip("/") or "/"
    return [
        (join(folder, relative), relative)
        for relative in (posixpath.relpath(info.path, root) for info in infos if info.type == fs.FileType.File)
    ]


def exists(location: str) -> bool:
    if not is_uri(location):
        return Path(location).exists()
    return kind(location) != "missing"


def existing(locations: list[str]) -> set[str]:
    """Which of ``locations`` exist. URIs are looked up by listing their common folder once
    (a million outputs on S3 would otherwise be a million requests before the first image)."""
    found = {location for location in locations if not is_uri(location) and Path(location).exists()}
    uris = [location for location in locations if is_uri(location)]
    if len(uris) <= 1:
        return found | {uri for uri in uris if exists(uri)}
    common = posixpath.commonpath([uri.split("://", 1)[1] for uri in uris])
    scheme = uris[0].split("://", 1)[0]
    if any(not uri.startswith(f"{scheme}://") for uri in uris) or "/" not in common:
        return found | {uri for uri in uris if exists(uri)}
    folder = f"{scheme}://{common}"
    if kind(folder) != "folder":
        return found
    present = {location for location, _ in _files_under(folder)}
    return found | {uri for uri in uris if uri in present}


def same(a: str, b: str) -> bool:
    """Whether two locations name one file (local: same inode; URIs: same path)."""
    if is_uri(a) != is_uri(b):
        local_a, local_b = local_path(a), local_path(b)
        return local_a is not None and local_b is not None and same(local_a, local_b)
    if is_uri(a):
        return _normalized(a) == _normalized(b)
    pa, pb = Path(a), Path(b)
    if pa.resolve() == pb.resolve():
        return True
    try:
        return pa.exists() and pb.exists() and os.path.samefile(pa, pb)
    except OSError:
        return False


def _normalized(uri: str) -> str:
    scheme, rest = uri.split("://", 1)
    return f"{scheme.lower()}://{posixpath.normpath(rest)}"


def local_path(location: str) -> str | None:
    """The local path of a plain path or a file:// URI; None for other URIs."""
    if not is_uri(location):
        return location
    if location.lower().startswith("file://"):
        filesystem, path = resolve(location)
        return path if _is_local(filesystem) else None
    return None


def read(location: str, max_pixels: int | None) -> InputImage:
    """Read and normalize an image; raises ImageError (one line) when that fails."""
    if not is_uri(location):
        return read_image(location, max_pixels=max_pixels)
    filesystem, path = resolve(location)
    try:
        with filesystem.open_input_file(path) as stream:
            content = stream.read()
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except Exception as error:
        raise ImageError(f"cannot read ({first_line(error)})") from None
    return read_image(bytes(content), max_pixels=max_pixels)


def pixel_count(location: str) -> int:
    """Pixels of an image from its header (no decoding); 0 when unreadable."""
    from PIL import Image

    try:
        if not is_uri(location):
            with Image.open(location) as image:
                return image.width * image.height
        filesystem, path = resolve(location)
        with filesystem.open_input_file(path) as stream, Image.open(stream) as image:
            return image.width * image.height
    except Exception:  # reported properly when the file is read
        return 0


def write_image(image: Any, location: str, overwrite: bool, threads: int = 1) -> None:
    """Save a PIL image at a path or URI, atomically; FileExistsError if it exists and not ``overwrite``.
    ``threads`` encode a PNG's strips in parallel."""
    from huenet import images
    from huenet.files import exists_error

    local = local_path(location)
    if local is not None:
        images.write_image(image, local, overwrite=overwrite, threads=threads)
        return
    if not overwrite and kind(location) != "missing":
        raise exists_error(location)
    buffer = io.BytesIO()
    images.encode_image(image, buffer, location, threads)
    _upload(buffer.getvalue(), location)


def write_text(text: str, location: str) -> None:
    """Write (replace) a small text file at a path or URI, atomically."""
    from huenet.files import atomic_path

    local = local_path(location)
    if local is not None:
        with atomic_path(local, overwrite=True) as temporary:
            Path(temporary).write_text(text, encoding="utf-8")
        return
    _upload(text.encode("utf-8"), location)


def _upload(content: bytes, location: str) -> None:
    """Write ``content`` to a URI of a remote filesystem; the object appears when the stream closes."""
    filesystem, path = resolve(location)
    filesystem.create_dir(posixpath.dirname(path), recursive=True)
    with filesystem.open_output_stream(path) as stream:
        stream.write(content)
