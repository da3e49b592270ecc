"""The one exception type raised when a user's video cannot be turned into a dataset."""

from dfrf_jax.errors import UserError


class PreprocessError(UserError, ValueError):
  """The input video, audio or features are unusable.

  The message names the file (or flag), what was found and what was expected.
  """
