"""Reads a .npy array file, telling a file that is not one from one that cannot be read."""

import numpy as np

from dfrf_jax.errors import UserError

# The first bytes of every file numpy.save writes.
NPY_MAGIC = b'\x93NUMPY'


def load_npy(path: str, error_type: type[UserError], what: str) -> np.ndarray:
  """`np.load(path)` of an array file (never a pickle).

  Args:
    path: the .npy file.
    error_type: the UserError subclass to raise (DatasetError, PreprocessError, ...).
    what: what the file should hold, for messages, e.g. 'audio features [F, 16, 29]'.

  Raises:
    error_type: the file cannot be read, or is not a .npy array file (numpy would otherwise read it
      as a pickle and suggest allow_pickle).
  """
  try:
    with open(path, 'rb') as f:
      if f.read(len(NPY_MAGIC)) != NPY_MAGIC:
        raise error_type(f'{path}: not a .npy array file (no NUMPY header); expected {what} '
                         'written by numpy.save')
      f.seek(0)
      return np.load(f, allow_pickle=False)
  except OSError as e:
    raise error_type(f'{path}: cannot read {what} ({e.strerror or e})') from e
  except ValueError as e:
    raise error_type(f'{path}: damaged .npy file ({e}); expected {what} written by '
                     'numpy.save') from e
