"""Writing result files so that none is lost and every failure says which file and why.

- :func:`output_folder` checks a folder takes files before a run touches anything in it;
  :func:`output_file` does so for one file's folder.
- :func:`writing` turns an ``OSError`` (a full disk, no permission, a folder in the way)
  into an :class:`~faastrain_async.errors.OutputError` naming the file.
- :func:`write_text` replaces a file whole or not at all, so a reader (or a run killed
  mid-write) never leaves half of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from faastrain_async.errors import OutputError


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Inside it, an OSError becomes an OutputError naming the file (``path`` if it does not say)."""
    try:
        yield
    except OSError as e:
        where = e.filename if e.filename is not None else path
        raise OutputError(f"cannot write {where}: {e.strerror or e}") from e


def output_folder(folder: Path) -> Path:
    """``folder``, made if missing, once a file could be created in it; OutputError if not."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"cannot write into {folder}: it is a file, not a folder")
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    return folder


def output_file(path: Path) -> Path:
    """``path``, once its folder takes files (made if missing) and nothing but a file is in
    its way; OutputError if not. The file itself is not touched."""
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder; give a file name")
    output_folder(path.parent)
    return path


def write_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a temporary file beside it, then a rename)."""
    partial = path.with_name(f".{path.name}.partial")
    with writing(path):
        try:
            with partial.open("w") as f:
                f.write(text)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
