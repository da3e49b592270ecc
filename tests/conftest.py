"""Test-wide set-up: two host CPU devices for the data-parallel tests, a persistent XLA cache.

Every `train()` call builds a new jitted step; the persistent compilation cache (also handed to
subprocesses, such as the notebook's kernel, through the environment) makes each distinct program
compile once per session.
"""

import os

# Must happen before JAX is imported anywhere, so it sits at the top of conftest.
os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=2')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
from jax.experimental.compilation_cache import compilation_cache  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top


@pytest.fixture(scope='session', autouse=True)
def xla_cache(tmp_path_factory: pytest.TempPathFactory):
  """One persistent compilation cache for the session, restored to the caller's settings after."""
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
