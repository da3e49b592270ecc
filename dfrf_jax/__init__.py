"""dfrf-jax: Dynamic Facial Radiance Fields in JAX/Flax.

The functional API (`dfrf_jax.api`) is available as attributes of the package, imported on first
use so that `import dfrf_jax` stays cheap:

  import dfrf_jax
  config = dfrf_jax.load_config('test', data_dir='data/finetune')
"""

import importlib
import importlib.util
from typing import Any


def __getattr__(name: str) -> Any:
  if name != 'api' and importlib.util.find_spec(f'{__name__}.{name}') is not None:
    # A submodule (`from dfrf_jax import config`): let the import system load it, not the whole API.
    raise AttributeError(name)
  api = importlib.import_module('dfrf_jax.api')
  if name == 'api':
    return api
  if name in api.__all__:
    return getattr(api, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__() -> list[str]:
  return sorted(importlib.import_module('dfrf_jax.api').__all__ + ['api'])
