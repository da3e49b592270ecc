"""Which file a config named on the command line (`--config`) or in `api.load_config` is.

A file that exists is used as given. Otherwise a bare name ('test') or a path `configs/<name>.py`
names one of the configs shipped with the package: the top-level configs/ of a source checkout,
which a wheel installs as dfrf_jax/configs/ (setup.cfg). So `--config=test` and
`--config=configs/test.py` work from any folder, with or without a source checkout.
"""

import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_CONFIGS = 'configs'


def shipped_dir() -> str:
  """The folder of the shipped configs: the installed package's, else the source checkout's."""
  installed = os.path.join(_PACKAGE_DIR, _CONFIGS)
  if os.path.isdir(installed):
    return installed
  return os.path.join(os.path.dirname(_PACKAGE_DIR), _CONFIGS)


def shipped_names() -> list[str]:
  """The names of the shipped configs, sorted ('base', 'demo', 'finetune', 'test')."""
  return sorted(name[:-3] for name in os.listdir(shipped_dir())
                if name.endswith('.py') and not name.startswith('_'))


def resolve(name_or_path: str) -> str:
  """The config file `name_or_path` names.

  Args:
    name_or_path: a path, a shipped config's name, or `configs/<name>.py`.

  Returns:
    `name_or_path` itself when it is a file or names no shipped config (the caller reports the
    missing file with `expected()`), else the shipped config's file.
  """
  if os.path.isfile(name_or_path):
    return name_or_path
  folder, file = os.path.split(os.path.normpath(name_or_path))
  if folder == _CONFIGS and file.endswith('.py'):
    name = file[:-3]
  elif not folder and not file.endswith('.py'):
    name = file
  else:
    return name_or_path
  shipped = os.path.join(shipped_dir(), f'{name}.py')
  return shipped if name in shipped_names() else name_or_path


def expected() -> str:
  """What a config flag or name may be, for the message about one that names no file."""
  names = ', '.join(shipped_names())
  return f"a .py file defining get_config() or a shipped config's name ({names})"
