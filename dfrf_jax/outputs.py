"""Outputs that appear only when complete: written under a temporary name, then renamed into place.

A command that fails or is interrupted leaves no partial output under the final name (a `kill -9`
may leave a hidden `.NAME.partial-PID` next to it, safe to delete). The temporary name is in the
same folder as the final one, so the rename is atomic on one file system.
"""

from collections.abc import Iterator
import contextlib
import os
import shutil


def _partial(path: str) -> str:
  """The hidden temporary sibling of `path`, keeping its extension (ffmpeg picks formats by it)."""
  folder, name = os.path.split(os.path.abspath(path))
  stem, ext = os.path.splitext(name)
  return os.path.join(folder, f'.{stem}.partial-{os.getpid()}{ext}')


def _remove(path: str) -> None:
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path)
  elif os.path.lexists(path):
    os.remove(path)


@contextlib.contextmanager
def folder_in_place(path: str) -> Iterator[str]:
  """Yields an empty temporary folder that replaces the folder `path` when the block succeeds.

  An existing `path` is replaced only then; on an exception the temporary folder is removed and
  `path` is left as it was.
  """
  temp = _partial(path)
  _remove(temp)
  os.mkdir(temp)
  try:
    yield temp
  except BaseException:
    _remove(temp)
    raise
  _replace(temp, path)


@contextlib.contextmanager
def file_in_place(path: str) -> Iterator[str]:
  """Yields a temporary file name (same extension) renamed to `path` when the block succeeds.

  On an exception whatever was written under the temporary name is removed.
  """
  temp = _partial(path)
  _remove(temp)
  try:
    yield temp
  except BaseException:
    _remove(temp)
    raise
  os.replace(temp, path)


def _replace(temp: str, path: str) -> None:
  """Renames the folder `temp` to `path`, removing an older `path` only once `temp` is in place."""
  if not os.path.lexists(path):
    os.rename(temp, path)
    return
  old = _partial(path) + '.old'
  _remove(old)
  os.rename(path, old)
  os.rename(temp, path)
  _remove(old)
