"""The one exception type raised when a user's video cannot be turned into a dataset."""


class PreprocessError(ValueError):
  """The input video, audio or features are unusable.

  The message names the file (or flag), what was found and what was expected.
  """
