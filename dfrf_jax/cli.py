"""Starts an absl command-line tool: a complete --help, and a user's mistake reported as one line.

Every entry point runs through `run_cli`. A user's mistake (`user_error_message`) is printed on
stderr as the one line `error: <file or flag>: <what is wrong and what was expected>` and the tool
exits with status 2 (`USER_ERROR_STATUS`); --verbose or DFRF_VERBOSE=1 prints its traceback first.
Any other exception is a bug: it propagates with its traceback (status 1).
"""

from collections.abc import Callable, Iterator
import errno
import os
import sys
import traceback

from absl import app, flags
from ml_collections.config_flags import config_flags  # The module: its ConfigFileFlagParser.

from dfrf_jax import config as config_lib
from dfrf_jax import config_files
from dfrf_jax import log_filters
from dfrf_jax.errors import UserError

USER_ERROR_STATUS = 2
VERBOSE_ENV = 'DFRF_VERBOSE'

_VERBOSE = flags.DEFINE_bool('verbose', False, 'On an error, also print its traceback (as does '
                             f'{VERBOSE_ENV}=1).')

# A full or read-only disk, wherever it surfaces (numpy, PIL, orbax), by errno.
_DISK_ERRORS = {errno.ENOSPC: 'no space left on the device',
                errno.EDQUOT: 'disk quota exceeded',
                errno.EROFS: 'the file system is read-only'}
# A path the user named that does not exist, already exists or may not be used.
_PATH_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError,
                NotADirectoryError)


class _ConfigFileParser(config_flags.ConfigFileFlagParser):
  """ml_collections' config file parser, for a path or a shipped config's name (`config_files`)."""

  def parse(self, path: str) -> object:
    return super().parse(config_files.resolve(path))


def define_config_flag(name: str, help_string: str) -> flags.FlagHolder:
  """Defines `--NAME`: ml_collections' `DEFINE_config_file`, also for a shipped config's name.

  The config is locked, its fields are overridden with `--NAME.field=value`, and the flag takes a
  path, a shipped config's name or `configs/<name>.py` from any folder (`config_files.resolve`).
  """
  holder = config_flags.DEFINE_config_file(name, None, help_string, lock_config=True)
  flags.FLAGS[name].parser = _ConfigFileParser(name)
  return holder


def _chain(error: BaseException) -> Iterator[BaseException]:
  """`error` and the exceptions it was raised from or while handling, newest first."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    yield error
    error = error.__cause__ or error.__context__


def _one_line(message: str) -> str:
  return ' '.join(line.strip() for line in message.strip().splitlines() if line.strip())


def user_error_message(error: BaseException) -> str | None:
  """The one-line message of a user's mistake, or None when `error` is unexpected (a bug).

  User mistakes are `UserError`s (DatasetError, PreprocessError, CheckpointError, ConfigError,
  NonFiniteError, DeadFieldError, ...), absl's UsageError and flag errors, a path that does not
  exist or may not be used, and a full or read-only disk anywhere in the exception's chain (named
  by its folder).
  """
  for cause in _chain(error):
    if isinstance(cause, OSError) and cause.errno in _DISK_ERRORS:
      where = os.path.dirname(os.path.abspath(cause.filename)) if cause.filename else 'output'
      return (f'{where}: {_DISK_ERRORS[cause.errno]}; expected a writable folder with free space '
              '(free some, or write elsewhere)')
  if isinstance(error, (UserError, app.UsageError, flags.Error)):
    return _one_line(str(error))
  if isinstance(error, _PATH_ERRORS):
    if error.filename is not None and error.strerror:
      return f'{error.filename}: {error.strerror}'
    return _one_line(str(error))
  return None


def _exit_if_user_error(error: BaseException, verbose: bool) -> None:
  """Prints `error` as one line and exits with USER_ERROR_STATUS when it is a user's mistake."""
  message = user_error_message(error)
  if message is None:
    return
  if verbose or os.environ.get(VERBOSE_ENV, '') not in ('', '0'):
    traceback.print_exception(error)
  print(f'error: {message}', file=sys.stderr)
  sys.exit(USER_ERROR_STATUS)


def _config_overrides(argv: list[str]) -> Iterator[tuple[str, str, str]]:
  """(flag name, config file, field path) of every `--NAME.field=value` override of a config flag."""
  files = {}
  for i, arg in enumerate(argv):
    name, _, value = arg[2:].partition('=')
    if arg.startswith('--') and name in flags.FLAGS and isinstance(
        flags.FLAGS[name].parser, config_flags.ConfigFileFlagParser):
      files[name] = value if value or i + 1 == len(argv) else argv[i + 1]
  for arg in argv:
    name, _, path = arg[2:].partition('=')[0].partition('.')
    if arg.startswith('--') and name in files and path:
      yield name, files[name], path


def _config_file_error(name: str, path: str) -> config_lib.ConfigError:
  """The error for `--name=path`, a config file that ml_collections could not load."""
  if os.path.isfile(config_files.resolve(path)):
    return config_lib.ConfigError(f'--{name}={path}: cannot load it; expected a .py file defining '
                                  'get_config()')
  return config_lib.ConfigError(f'--{name}={path}: no such file; expected '
                                f'{config_files.expected()}')


def _check_config_flags(argv: list[str]) -> None:
  """Raises ConfigError for a config file that does not load or an override of no field."""
  for name, path, field in _config_overrides(argv):
    config = _ConfigFileParser(name).parse(path)
    try:
      config.keys()
    except OSError as e:  # ml_collections defers a load failure to the config's first use.
      raise _config_file_error(name, path) from e
    config_lib.check_field(config, field, prefix=f'--{name}')


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with a mistake in the flags reported as one line."""
  try:
    return flags.FLAGS(argv)
  except Exception as error:  # pylint: disable=broad-except
    verbose = '--verbose' in argv
    if isinstance(error, SyntaxError):  # Only config files are compiled while parsing flags.
      config_error = config_lib.ConfigError(
          f'{error.filename}:{error.lineno}: {error.msg}; expected a Python config file defining '
          'get_config()')
      config_error.__cause__ = error
      _exit_if_user_error(config_error, verbose)
    # ml_collections: an override of no field, or of a config file that did not load.
    if isinstance(error, (AttributeError, KeyError, OSError)):
      try:
        _check_config_flags(argv)
      except config_lib.ConfigError as config_error:
        _exit_if_user_error(config_error, verbose)
    _exit_if_user_error(error, verbose)
    raise


def _check_config_files() -> None:
  """Raises ConfigError for a config flag whose file could not be loaded (ml_collections defers it)."""
  for name in flags.FLAGS:
    flag = flags.FLAGS[name]
    if isinstance(flag.parser, config_flags.ConfigFileFlagParser) and flag.present:
      try:
        flag.value.keys()
      except OSError as e:
        raise _config_file_error(name, flag.serialize().partition('=')[2]) from e


def run_cli(main_fn: Callable[[list[str]], None], doc: str, names: list[str],
            required: list[str]) -> None:
  """Runs an absl main whose --help shows `doc` and the flags `names`, however it was started.

  absl's --help lists the flags of the module named by sys.argv[0]; a console script or `python -m`
  starts from another module, so the flags are registered for it and its docstring replaced.
  A user's mistake, in the flags or raised by `main_fn`, ends the tool as described in the module
  docstring. Two misleading library log lines are hidden (`log_filters`).
  """
  for name in [*names, 'verbose']:
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])
  sys.modules['__main__'].__doc__ = doc
  flags.mark_flags_as_required(required)
  log_filters.hide_misleading_logs()

  def main(argv: list[str]) -> None:
    try:
      _check_config_files()
      main_fn(argv)
    except Exception as error:  # pylint: disable=broad-except
      _exit_if_user_error(error, _VERBOSE.value)
      raise

  app.run(main, flags_parser=_parse_flags)
