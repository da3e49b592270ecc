"""The one exception type raised for a dataset that does not follow the authors' on-disk format."""

from dfrf_jax.errors import UserError


class DatasetError(UserError, ValueError):
  """A dataset file is missing, malformed or inconsistent.

  The message names the file, the frame or field at fault and what was expected.
  """
