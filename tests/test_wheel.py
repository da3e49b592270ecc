"""dfrf-jax as a regular wheel in a fresh venv: its configs resolve by name from any folder.

The wheel is built from a copy of the sources without build isolation and installed without its
dependencies and without an index; the fresh venv reads them from this interpreter's site-packages
(through a .pth file, which leaves out this environment's own, possibly editable, dfrf_jax).
"""

import os
import pathlib
import shutil
import site
import subprocess
import sys
import zipfile

import pytest

from dfrf_jax.cli import USER_ERROR_STATUS

ROOT = pathlib.Path(__file__).parents[1]
_SOURCES = ('setup.cfg', 'pyproject.toml', 'README.md', 'configs', 'dfrf_jax')


def _run(args: list, cwd: pathlib.Path) -> subprocess.CompletedProcess:
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                        timeout=120, env=env, check=False)


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> pathlib.Path:
  """The wheel of a copy of the sources (a build/ folder in the checkout could hold stale files)."""
  source = tmp_path_factory.mktemp('source')
  for name in _SOURCES:
    if (ROOT / name).is_dir():
      shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns('__pycache__'))
    else:
      shutil.copy(ROOT / name, source / name)
  dist = tmp_path_factory.mktemp('dist')
  built = _run([sys.executable, '-m', 'pip', 'wheel', '--no-build-isolation', '--no-deps',
                '--no-index', '-w', dist, source], cwd=source)
  assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
  return next(dist.glob('dfrf_jax-*.whl'))


@pytest.fixture(scope='module')
def venv(wheel, tmp_path_factory) -> pathlib.Path:
  """A fresh venv holding the wheel, its dependencies read from this interpreter's site-packages."""
  venv = tmp_path_factory.mktemp('venv')
  subprocess.run([sys.executable, '-m', 'venv', '--without-pip', venv], check=True)
  python = venv / 'bin' / 'python'
  purelib = _run([python, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'], venv)
  pathlib.Path(purelib.stdout.strip(), 'dependencies.pth').write_text(
      '\n'.join(site.getsitepackages()) + '\n')
  installed = _run([sys.executable, '-m', 'pip', '--python', python, 'install', '--no-deps',
                    '--no-index', wheel], cwd=venv)
  assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
  return venv


def test_the_wheel_holds_every_module_and_the_configs(wheel):
  with zipfile.ZipFile(wheel) as archive:
    packaged = {name for name in archive.namelist() if name.endswith('.py')}
  sources = {path.relative_to(ROOT).as_posix() for path in (ROOT / 'dfrf_jax').rglob('*.py')}
  configs = {f'dfrf_jax/configs/{path.name}' for path in (ROOT / 'configs').glob('*.py')}
  assert packaged == sources | configs


def test_configs_resolve_by_name_from_an_unrelated_folder(venv, tmp_path):
  # A configs/test.py of the working folder is used as given; names fall back to the shipped ones.
  (tmp_path / 'configs').mkdir()
  (tmp_path / 'configs' / 'test.py').write_text(
      'import ml_collections\n\ndef get_config():\n  return ml_collections.ConfigDict({"own": 1})\n')
  code = ('import dfrf_jax\nfrom dfrf_jax import api\n'
          'print(dfrf_jax.__file__)\n'
          'print(api.load_config("configs/test.py").own, api.load_config("test").model.netwidth,\n'
          '      api.load_config("configs/finetune.py").model.netwidth)\n')
  result = _run([venv / 'bin' / 'python', '-c', code], tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  where, widths = result.stdout.splitlines()
  assert pathlib.Path(where).is_relative_to(venv)
  assert widths.split() == ['1', '16', '256']

  # dfrf-train resolves the config, applies the override and stops at the missing dataset.
  train = venv / 'bin' / 'dfrf-train'
  for config in ('demo', 'configs/base.py'):
    result = _run([train, f'--config={config}', '--workdir=run', '--config.data_dir=nowhere'],
                  tmp_path)
    assert result.returncode == USER_ERROR_STATUS, result.stderr[-3000:]
    assert 'error: nowhere: dataset folder does not exist' in result.stderr
  result = _run([train, '--config=nope', '--workdir=run', '--config.data_dir=nowhere'], tmp_path)
  assert result.returncode == USER_ERROR_STATUS, result.stderr[-3000:]
  assert ("error: --config=nope: no such file; expected a .py file defining get_config() or a "
          "shipped config's name (base, demo, finetune, test)") in result.stderr
  assert not (tmp_path / 'run').exists()
