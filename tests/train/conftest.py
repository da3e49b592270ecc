"""Shared set-up of the training tests: a persistent XLA cache and the tiny test config.

Every `train()` call builds a new jitted step; the persistent compilation cache (also handed to
subprocesses through the environment) makes each distinct program compile once per session.
"""

import os
import sys

import jax
from jax.experimental.compilation_cache import compilation_cache
import ml_collections
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASET = os.path.join(ROOT, 'tests', 'fixtures', 'parity', 'dataset', 'synth_fixture')
TORCH_CHECKPOINT = os.path.join(ROOT, 'tests', 'fixtures', 'parity', '000060_head.tar')
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import test as test_config  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope='session', autouse=True)
def xla_cache(tmp_path_factory: pytest.TempPathFactory):
  cache = str(tmp_path_factory.mktemp('xla_cache'))
  saved = {k: os.environ.get(k) for k in ('JAX_COMPILATION_CACHE_DIR',
                                          'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS')}
  os.environ['JAX_COMPILATION_CACHE_DIR'] = cache
  os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  compilation_cache.reset_cache()
  compilation_cache.set_cache_dir(cache)
  yield cache
  compilation_cache.reset_cache()
  jax.config.update('jax_compilation_cache_dir', None)
  for key, value in saved.items():
    if value is None:
      os.environ.pop(key, None)
    else:
      os.environ[key] = value


def tiny_config(**train: int) -> ml_collections.ConfigDict:
  """configs/test.py on the parity fixture, smoothing off unless asked, no validation render."""
  config = test_config.get_config()
  config.data_dir = DATASET
  config.train.nosmo_iters = 10_000
  config.train.i_img = 10_000
  config.train.update(train)
  return config
