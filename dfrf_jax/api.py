"""The functional public API: one function per step of the workflow, for notebooks and experiments.

Every function here is the one the CLIs call (dfrf-make-synthetic, dfrf-train, dfrf-render,
dfrf-evaluate, dfrf-import-torch); most are re-exported from the module that implements them.

  config = api.load_config('test', data_dir='data/finetune')
  api.make_synthetic_dataset('data', image_size=32, num_frames=24, num_base_ids=1)
  identities = api.load_dataset(config)
  near, far = api.near_far(identities, config)
  model = api.build_model(config.model, config.precision)

  # Training: the compiled step of dfrf-train. The state carries the PRNG key; step s draws its
  # randomness from fold_in(state.key, s), so a resumed run repeats an uninterrupted one.
  mesh = api.make_mesh()
  state = api.init_state(model, jax.random.key(0), mesh)
  train_step = api.make_train_step(model, config, near, far, mesh)
  rng = np.random.default_rng(0)
  batch = api.shard(api.draw_batch(rng, identities, config), mesh)
  state, metrics = train_step(state, batch, smoothing=False, use_warp=True)
  # ... or the whole loop, with checkpoints and resume: api.train(config, workdir).

  frame = api.load_frame(identities[0], config, index=0)
  rgb = api.render_frame(model, state.params, config, frame, near, far, jax.random.key(1))
  api.save_checkpoint('run', int(state.step), state.params, config)
  config, params, step = api.load_checkpoint('run')
  grid = api.load_occupancy('run')  # the grid of a run trained with train.sampler='accelerated', or None
  plan = api.self_driven_plan(identities[0], identities[0].val)
  grid = grid or api.plan_occupancy(model, params, config, identities[0], plan, near, far, step, key)
  frames = api.render_sequence(model, params, config, identities[0], plan, near, far, step, key,
                               grid=grid)  # config.render.sampler: 'accelerated' (default) or 'dense'
"""

import importlib.util
import os
from typing import Any

import jax
import ml_collections

from dfrf_jax import config_files
from dfrf_jax.data.dataset import Identity
from dfrf_jax.data.dataset import load_dataset_from_config as load_dataset
from dfrf_jax.data.synthetic import IdentitySummary, SynthSpec, write_dataset
from dfrf_jax.eval.lpips import lpips_fn_from_paths
from dfrf_jax.eval.report import baseline_metrics, evaluate_frames, metrics_table
from dfrf_jax.eval.video import write_video
from dfrf_jax.model.dfrf import DFRF, build_model
from dfrf_jax.render.driving import driving_windows
from dfrf_jax.render.occupancy import OccupancyGrid, occupied_fraction
from dfrf_jax.render.sequence import (SequencePlan, audio_swap_plan, driven_plan, plan_occupancy,
                                      render_sequence, self_driven_plan)
from dfrf_jax.train import checkpoints
from dfrf_jax.train.batches import Batch, draw_batch, shard
from dfrf_jax.train.checkpoints import load_checkpoint, load_occupancy
from dfrf_jax.train.import_torch import import_checkpoint as import_torch_checkpoint
from dfrf_jax.train.loop import make_mesh, near_far, replicate, train
from dfrf_jax.train.state import TrainState, new_state
from dfrf_jax.train.state import fresh_params as init_params
from dfrf_jax.train.step import make_train_step
from dfrf_jax.train.validation import ValFrame, load_val_frame, render_frame

__all__ = [
    'Batch', 'DFRF', 'Identity', 'IdentitySummary', 'OccupancyGrid', 'SequencePlan', 'TrainState',
    'ValFrame',
    'baseline_metrics', 'build_model', 'draw_batch', 'driven_plan', 'driving_windows',
    'evaluate_frames', 'import_torch_checkpoint', 'init_params', 'init_state', 'load_checkpoint',
    'load_config', 'load_dataset', 'load_frame', 'load_occupancy', 'lpips_fn_from_paths', 'make_mesh',
    'make_synthetic_dataset', 'make_train_step', 'metrics_table', 'near_far', 'occupied_fraction',
    'audio_swap_plan', 'plan_occupancy', 'render_frame', 'render_sequence',
    'save_checkpoint', 'self_driven_plan', 'shard', 'train', 'write_video',
]

def load_config(name_or_path: str, **overrides: Any) -> ml_collections.ConfigDict:
  """Reads a config file's `get_config()` and applies overrides.

  Args:
    name_or_path: the path of a `.py` file defining `get_config() -> ConfigDict`, or a shipped
      config's name ('test', 'demo', 'base', 'finetune'; `config_files.resolve`).
    **overrides: top-level fields; sections take a dict of their fields, e.g.
      `load_config('test', data_dir='data/finetune', render={'chunk': 256})`.

  Returns:
    The config (docs/config.md describes every field).

  Raises:
    FileNotFoundError: no such config file.
    KeyError: an override names a field the config does not have.
    TypeError: a section is overridden by something other than a dict of its fields.
  """
  path = config_files.resolve(name_or_path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{name_or_path}: no such config file; expected '
                            f'{config_files.expected()}')
  spec = importlib.util.spec_from_file_location('dfrf_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  _check_known(config, overrides, '')
  config.update(overrides)
  return config


def _check_known(config: ml_collections.ConfigDict, overrides: dict[str, Any], prefix: str) -> None:
  """Raises for an override field the config lacks (ConfigDict.update would silently add it)."""
  for name, value in overrides.items():
    if name not in config:
      raise KeyError(f'config has no field {prefix}{name}; see docs/config.md')
    if isinstance(config[name], ml_collections.ConfigDict):
      if not isinstance(value, dict):
        raise TypeError(f'config section {prefix}{name}: expected a dict of its fields, got '
                        f'{type(value).__name__}')
      _check_known(config[name], value, f'{prefix}{name}.')


def make_synthetic_dataset(out_dir: str, overwrite: bool = False,
                           **spec_fields: Any) -> list[IdentitySummary]:
  """Writes the synthetic talking-head dataset: `<out_dir>/base/0..K-1` and `<out_dir>/finetune/0`.

  Args:
    out_dir: output root.
    overwrite: replace existing base/ and fine-tune folders.
    **spec_fields: fields of `SynthSpec` (image_size, num_frames, num_base_ids, finetune_name, seed,
      train_fraction, jpeg_quality).

  Returns:
    One summary per identity (path, split sizes, image size, near, far).
  """
  return write_dataset(out_dir, SynthSpec(**spec_fields), overwrite=overwrite)


def init_state(model: DFRF, key: jax.Array, mesh: jax.sharding.Mesh, step: int = 0) -> TrainState:
  """A fresh training state replicated over `mesh`: new params, zero optimiser moments, the run key.

  `key` is split as dfrf-train splits `config.seed`'s key: one half initialises the params, the
  other is the run key the steps fold their step number into.
  """
  init_key, run_key = jax.random.split(key)
  return replicate(new_state(init_params(model, init_key), run_key, step), mesh)


def load_frame(identity: Identity, config: ml_collections.ConfigDict, index: int) -> ValFrame:
  """Val frame `index` of `identity` with everything `render_frame` needs (numpy).

  The references are the fixed render-time ones (`config.data.test_ref_positions`) and the audio is
  the frame's smoothing window in the val list, as in dfrf-train's validation image.
  """
  config = ml_collections.ConfigDict(config.to_dict())
  config.train.val_frame = index
  return load_val_frame(identity, config)


def save_checkpoint(workdir: str, step: int, params: dict,
                    config: ml_collections.ConfigDict) -> str:
  """Writes params as `<workdir>/checkpoints/<step>/` in dfrf-train's layout (docs/checkpoints.md).

  Like dfrf-import-torch's output it holds params, config and meta but no optimiser moments: it is
  read by `load_checkpoint`, dfrf-render and `config.init_from`; resumable checkpoints (with the
  optimiser moments and the data stream's state) are written by `train`.

  Returns:
    The step's folder.
  """
  directory = os.path.join(workdir, checkpoints.CHECKPOINT_DIR)
  checkpoints.save(checkpoints.manager(directory), step, params, config, {'source': 'dfrf_jax.api'})
  return os.path.join(directory, str(step))
