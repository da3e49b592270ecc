"""Decodes every frame image of an identity once before work starts, and remembers what passed.

A damaged, truncated, grayscale or wrongly sized image would otherwise be found only when training
first draws it, hours into a run. `check_images` decodes all of them in parallel (a progress bar on
long clips) and raises the DatasetError of the first bad one, naming the file.

Images that passed are recorded in CACHE_FILE inside the identity folder, keyed by their path, with
their byte size, modification time and the image size they were checked against; a later run
decodes only what changed. The cache is written atomically; where the folder is not writable, the
check runs every time (an info log line says so).
"""

from collections.abc import Sequence
import concurrent.futures
import json
import os
import tempfile

from absl import logging
import tqdm

from dfrf_jax.data import images

CACHE_FILE = '.dfrf_image_check.json'
# A clip of at least this many images to decode shows a progress bar.
PROGRESS_MIN_IMAGES = 500
_VERSION = 1


def check_images(root: str, paths: Sequence[str], height: int, width: int,
                 workers: int | None = None) -> None:
  """Decodes every image in `paths` that is not recorded as good in `root`'s cache.

  Args:
    root: the identity folder; holds the cache, and `paths` are recorded relative to it.
    paths: the image files to check (duplicates are checked once).
    height: expected image height in pixels.
    width: expected image width in pixels.
    workers: decoding threads (default: the ThreadPoolExecutor default).

  Raises:
    DatasetError: an image is missing, not an image, damaged or truncated, not 8-bit RGB, or not
      height x width; names the first such file in `paths` order.
  """
  cache_path = os.path.join(root, CACHE_FILE)
  cached = _read_cache(cache_path)
  stamps = {os.path.relpath(p, root): _stamp(p, height, width) for p in dict.fromkeys(paths)}
  todo = [name for name, stamp in stamps.items() if stamp is None or cached.get(name) != stamp]
  if not todo:
    return
  pool = concurrent.futures.ThreadPoolExecutor(workers)
  try:
    decoded = pool.map(lambda name: images.decode_image(os.path.join(root, name), height, width),
                       todo)
    for _ in tqdm.tqdm(decoded, total=len(todo), desc='check images', unit='image',
                       disable=len(todo) < PROGRESS_MIN_IMAGES):
      pass
  finally:
    pool.shutdown(cancel_futures=True)
  # Re-stamped after decoding: a file replaced meanwhile is checked again next time.
  good = {**cached, **{name: _stamp(os.path.join(root, name), height, width) for name in todo}}
  _write_cache(cache_path, {name: stamp for name, stamp in good.items() if stamp is not None})


def _stamp(path: str, height: int, width: int) -> list[int] | None:
  """[byte size, mtime in ns, height, width] of an image file, or None if it cannot be stat'ed."""
  try:
    stat = os.stat(path)
  except OSError:
    return None
  return [stat.st_size, stat.st_mtime_ns, height, width]


def _read_cache(path: str) -> dict[str, list[int]]:
  """The recorded stamps of good images; empty when there is no cache or it is unreadable."""
  try:
    with open(path) as f:
      cache = json.load(f)
  except (OSError, ValueError):
    return {}
  if not isinstance(cache, dict) or cache.get('version') != _VERSION:
    return {}
  files = cache.get('files')
  return files if isinstance(files, dict) else {}


def _write_cache(path: str, files: dict[str, list[int]]) -> None:
  """Replaces the cache atomically; logs and carries on where the folder is not writable."""
  try:
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=CACHE_FILE, suffix='.tmp')
  except OSError as e:
    _log_unwritable(path, e)
    return
  try:
    with os.fdopen(fd, 'w') as f:
      json.dump({'version': _VERSION, 'files': files}, f)
    os.replace(temp, path)
  except OSError as e:
    os.remove(temp)
    _log_unwritable(path, e)


def _log_unwritable(path: str, error: OSError) -> None:
  logging.info('%s: cannot write the image check cache (%s); the images will be decoded again '
               'next time', path, error.strerror or error)
