"""Opens and decodes one dataset image, reporting any problem as a DatasetError naming the file."""

import numpy as np
from PIL import Image, UnidentifiedImageError

from dfrf_jax.data.errors import DatasetError


def open_image(path: str) -> Image.Image:
  """Opens an image (reads its header only).

  Raises:
    DatasetError: the file is missing or not an image.
  """
  try:
    return Image.open(path)
  except FileNotFoundError as e:
    raise DatasetError(f'{path}: missing image') from e
  except (UnidentifiedImageError, OSError) as e:
    raise DatasetError(f'{path}: not a readable image ({e})') from e


def image_size(path: str) -> tuple[int, int]:
  """(width, height) from the image header, without decoding the pixels."""
  with open_image(path) as image:
    return image.size


def decode_image(path: str, height: int | None = None, width: int | None = None) -> np.ndarray:
  """Decodes an 8-bit RGB image to [H, W, 3] uint8.

  Args:
    path: image file.
    height: expected height in pixels, or None to accept any.
    width: expected width in pixels, or None to accept any.

  Raises:
    DatasetError: the file is missing, not an image, damaged or truncated, not 8-bit RGB, or of
      another size.
  """
  with open_image(path) as image:
    if image.mode != 'RGB':
      raise DatasetError(f'{path}: image mode is {image.mode!r}, expected 8-bit RGB')
    try:
      pixels = np.asarray(image, dtype=np.uint8)
    except OSError as e:  # PIL decodes lazily: a damaged or truncated file fails here.
      raise DatasetError(f'{path}: damaged image ({e}); expected a complete image file') from e
  if height is not None and width is not None and pixels.shape[:2] != (height, width):
    raise DatasetError(f'{path}: image is {pixels.shape[0]}x{pixels.shape[1]} (HxW), '
                       f'expected {height}x{width}')
  return pixels
