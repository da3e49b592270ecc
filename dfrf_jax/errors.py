"""The base class of every exception that reports a user's mistake rather than a bug.

The command-line tools (`dfrf_jax.cli.run_cli`) print such an exception as one line,
`error: <message>`, and exit with status 2; any other exception is shown with its traceback. A
message names the file or flag at fault, what is wrong and what was expected.
"""


class UserError(Exception):
  """A problem with the user's input (a file, a flag, a config value) that the user can fix."""
