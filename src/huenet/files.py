"""Writing outputs atomically: a finished file appears at its path, or nothing does.

Image outputs and model files both go through ``atomic_path``, so a crash, a full disk or
an interrupt part-way never leaves a half-written file under the final name, and a file
written without ``overwrite`` never replaces one that appeared meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool, suffix: str = ".partial") -> Iterator[str]:
    """Yield a temporary file name beside ``path``; when the block succeeds it becomes ``path``.

    The temporary file is hidden (dot prefix), ends in ``suffix`` (Keras wants ``.keras``),
    and gets the permissions any new file gets under the user's umask (``mkstemp`` alone
    would make it private). On an exception it is removed and ``path`` is untouched.
    Raises FileExistsError when ``overwrite`` is false and ``path`` exists at publication.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=_temporary_prefix(path.name), suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        os.chmod(temporary, 0o666 & ~_current_umask())
        yield temporary
        if overwrite:
            os.replace(temporary, path)
        else:
            _publish_without_overwriting(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _temporary_prefix(name: str) -> str:
    """How a temporary file beside ``name`` begins (hidden): ".NAME.", then mkstemp's random part."""
    return f".{name}."


def exists_error(path: Path) -> FileExistsError:
    """The one error for an output that is there already (the CLI prints it as is)."""
    return FileExistsError(f"{path} exists (pass --overwrite to replace it)")


def _current_umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def _publish_without_overwriting(temporary: str, path: Path) -> None:
    """Rename ``temporary`` to ``path`` unless ``path`` exists, with no window in between.

    A hard link fails atomically when the target exists, so a file that appears after the
    caller's check (another process writing the same name) is never replaced. Filesystems
    without hard links fall back to check-then-rename.
    """
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise exists_error(path) from None
    except OSError:
        if path.exists():
            raise exists_error(path) from None
        os.replace(temporary, path)


def remove_leftovers(paths: list[str | os.PathLike], suffix: str = ".partial") -> int:
    """Remove the temporary files ``atomic_path`` left beside ``paths`` when a writer was
    killed before it could clean up (SIGKILL, a lost machine); returns how many.

    Only for when every writer of those paths is known to be finished: a temporary file of
    a writer still at work would be removed from under it.
    """
    by_folder: dict[Path, set[str]] = {}
    for path in map(Path, paths):
        by_folder.setdefault(path.parent, set()).add(path.name)
    removed = 0
    for folder, names in by_folder.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        prefixes = tuple(_temporary_prefix(name) for name in names)
        for entry in entries:
            if entry.name.startswith(prefixes) and entry.name.endswith(suffix) and entry.is_file(follow_symlinks=False):
                try:
                    os.remove(entry.path)
                    removed += 1
                except OSError:
                    pass
    return removed
