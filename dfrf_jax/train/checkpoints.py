"""Orbax checkpoints of a run (`<workdir>/checkpoints/<step>/`) and the restore API for inference.

Each step folder holds the items

  params      the DFRF param tree
  opt_state   the optimiser moments (absent in checkpoints imported from the authors' .tar)
  meta        JSON: step, the PRNG key data, the host data iterator's numpy bit_generator state, source;
              with the accelerated sampler also `budget` (the static sample budget, {coarse, fine})
  config      JSON: the full run config (its `model` section is the architecture of `params`)
  occupancy   the occupancy grid of a run trained with the accelerated sampler: density [G, G, G]
              float32 and aabb [2, 3] world units (absent otherwise, and in imported checkpoints)

Orbax writes a step into a temporary folder and renames it when complete, so a run killed while saving
leaves the previous checkpoints intact.
"""

import json
import os
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import orbax.checkpoint as ocp

from dfrf_jax import config as config_lib
from dfrf_jax.errors import UserError
from dfrf_jax.model import torch_import
from dfrf_jax.render.occupancy import OccupancyGrid

CHECKPOINT_DIR = 'checkpoints'
OCCUPANCY_ITEM = 'occupancy'

Params = dict[str, Any]


class NoCheckpointError(UserError, FileNotFoundError):
  """A path holds no checkpoint."""


class NonFiniteParamsError(UserError, FloatingPointError):
  """Params to be saved hold NaN or infinite values."""


def manager(directory: str, keep: int | None = None) -> ocp.CheckpointManager:
  """The writing CheckpointManager of a run's checkpoint folder (`<workdir>/checkpoints`).

  Keeps the last `keep` steps, and on opening deletes the temporary folders that a killed save left
  behind, so only the run that writes the folder may open it with this; readers use `reader`.
  """
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, cleanup_tmp_directories=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def reader(directory: str) -> ocp.CheckpointManager:
  """A read-only CheckpointManager of a checkpoint folder.

  It neither creates, deletes nor cleans up anything, so rendering or evaluating the checkpoints of a
  run that is still training leaves the save in progress alone (`manager` would delete its temporary
  folder and fail that save).
  """
  options = ocp.CheckpointManagerOptions(read_only=True, create=False, save_interval_steps=0,
                                         cleanup_tmp_directories=False,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(os.path.abspath(directory), options=options)


def config_to_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
  return json.loads(config.to_json())


def config_from_json(data: dict[str, Any]) -> ml_collections.ConfigDict:
  """Inverse of `config_to_json`; JSON lists become tuples again, as the config declares them."""

  def tuples(value: Any) -> Any:
    if isinstance(value, dict):
      return {k: tuples(v) for k, v in value.items()}
    if isinstance(value, list):
      return tuple(tuples(v) for v in value)
    return value

  return ml_collections.ConfigDict(tuples(data))


def save(mgr: ocp.CheckpointManager, step: int, params: Params,
         config: ml_collections.ConfigDict, meta: dict[str, Any],
         opt_state: Any | None = None, grid: OccupancyGrid | None = None) -> None:
  """Writes checkpoint `step` (blocking until it is complete on disk).

  Args:
    mgr: from `manager`.
    step: the global step (updates done); names the folder.
    params: the DFRF param tree.
    config: the full run config (JSON-able).
    meta: JSON-able extras (`step` is added).
    opt_state: optimiser moments, or None (imported checkpoints).
    grid: the run's occupancy grid (accelerated sampler), or None.

  Raises:
    NonFiniteParamsError: a leaf of `params` holds NaN or inf (nothing is written), naming it.
  """
  _check_finite(params, os.path.join(os.fspath(mgr.directory), str(step)))
  items = {'params': ocp.args.StandardSave(params),
           'meta': ocp.args.JsonSave(dict(meta, step=int(step))),
           'config': ocp.args.JsonSave(config_to_json(config))}
  if opt_state is not None:
    items['opt_state'] = ocp.args.StandardSave(opt_state)
  if grid is not None:
    items[OCCUPANCY_ITEM] = ocp.args.StandardSave({'density': grid.density, 'aabb': grid.aabb})
  mgr.save(step, args=ocp.args.Composite(**items), force=True)
  mgr.wait_until_finished()


def _check_finite(params: Params, where: str) -> None:
  """Raises NonFiniteParamsError naming the first leaf of `params` that is not finite."""
  finite = jax.device_get(jax.tree.map(lambda x: jnp.isfinite(x).all(), params))
  bad = [jax.tree_util.keystr(path) for path, ok in jax.tree_util.tree_leaves_with_path(finite)
         if not ok]
  if bad:
    raise NonFiniteParamsError(
        f'{where}: not saved, params{bad[0]} holds NaN or inf ({len(bad)} of '
        f'{len(jax.tree.leaves(finite))} param arrays do); expected finite params (a smaller '
        'config.train.lrate usually helps)')


def restore(mgr: ocp.CheckpointManager, step: int, abstract_params: Params | None = None,
            abstract_opt_state: Any | None = None) -> dict[str, Any]:
  """Reads checkpoint `step`: a dict with params, meta, config, occupancy and, when asked, opt_state.

  `occupancy` is the stored `OccupancyGrid`, or None when the checkpoint has none.

  Args:
    mgr: from `manager` or `reader`.
    step: an existing step.
    abstract_params: target tree ([ShapeDtypeStruct] leaves) or None to read the stored tree as is.
    abstract_opt_state: target tree of the optimiser moments, or None to skip them.

  Raises:
    CheckpointError: the stored params do not have the shapes of `abstract_params` (a checkpoint
      of another architecture), naming the folder, the first differing parameter and both shapes.
  """
  if abstract_params is not None:
    _check_architecture(mgr, step, abstract_params)
  items = {'params': ocp.args.StandardRestore(abstract_params),
           'meta': ocp.args.JsonRestore(), 'config': ocp.args.JsonRestore()}
  if abstract_opt_state is not None:
    items['opt_state'] = ocp.args.StandardRestore(abstract_opt_state)
  restored = mgr.restore(step, args=ocp.args.Composite(**items))
  out = {name: restored[name] for name in items}
  out['config'] = config_from_json(out['config'])
  out[OCCUPANCY_ITEM] = restore_occupancy(mgr, step)
  return out


def _check_architecture(mgr: ocp.CheckpointManager, step: int, abstract_params: Params) -> None:
  """Raises CheckpointError when checkpoint `step` stores params of other shapes than expected."""
  # Read from disk: a manager that has not saved or restored 'params' yet knows no handler for it
  # (its item_metadata is None). Orbax warns that this item has no step-level metadata file.
  path = os.path.join(os.fspath(mgr.directory), str(step), 'params')
  verbosity = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)
  try:
    stored = ocp.StandardCheckpointer().metadata(path).item_metadata
  finally:
    logging.set_verbosity(verbosity)
  problems = torch_import.param_mismatches(getattr(stored, 'tree', stored), abstract_params)
  if problems:
    more = f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''
    raise torch_import.CheckpointError(
        f'{os.path.join(os.fspath(mgr.directory), str(step))}: params of another architecture than '
        f'config.model: {problems[0]}{more}; expected a checkpoint of this config (resume with the '
        'config the run was started with, or use another workdir)')


def restore_meta(mgr: ocp.CheckpointManager, step: int) -> dict[str, Any]:
  """The `meta` item of checkpoint `step`."""
  return mgr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))['meta']


def restore_occupancy(mgr: ocp.CheckpointManager, step: int) -> OccupancyGrid | None:
  """The `occupancy` item of checkpoint `step` as float32 arrays, or None when it has none."""
  folder = os.path.join(os.fspath(mgr.directory), str(step))
  if not os.path.isdir(os.path.join(folder, OCCUPANCY_ITEM)):
    return None
  stored = mgr.restore(step, args=ocp.args.Composite(
      **{OCCUPANCY_ITEM: ocp.args.StandardRestore()}))[OCCUPANCY_ITEM]
  density = jnp.asarray(stored['density'], jnp.float32)
  aabb = jnp.asarray(stored['aabb'], jnp.float32)
  g = density.shape[0] if density.ndim else 0
  if density.shape != (g, g, g) or g < 1 or aabb.shape != (2, 3):
    raise ValueError(f'{folder}/{OCCUPANCY_ITEM}: expected density [G, G, G] and aabb [2, 3], got '
                     f'{density.shape} and {aabb.shape}')
  return OccupancyGrid(density=density, aabb=aabb)


def locate(path: str) -> tuple[str, int]:
  """(checkpoint folder, step) of a workdir, a checkpoint folder (latest step) or one step's folder."""
  path = os.path.abspath(path)
  if not os.path.isdir(path):
    raise NoCheckpointError(f'{path}: no such folder (expected a workdir or a checkpoint folder)')
  if os.path.isdir(os.path.join(path, CHECKPOINT_DIR)):
    path = os.path.join(path, CHECKPOINT_DIR)
  name = os.path.basename(path)
  if name.isdigit() and os.path.isdir(os.path.join(path, 'params')):
    return os.path.dirname(path), int(name)
  steps = [int(n) for n in os.listdir(path)
           if n.isdigit() and os.path.isdir(os.path.join(path, n, 'params'))]
  if not steps:
    raise NoCheckpointError(f'{path}: holds no checkpoint (expected <step>/params from dfrf-train or '
                            'dfrf-import-torch)')
  return path, max(steps)


def load_checkpoint(path: str) -> tuple[ml_collections.ConfigDict, Params, int]:
  """Loads a trained or imported model for inference.

  Args:
    path: a workdir (holding `checkpoints/`), a checkpoint folder (its latest step is read) or the
      folder of one step.

  Returns:
    (the run's config, fields added since it was saved at their defaults
    (`config.with_new_defaults`); the param tree as jax arrays; the step).

  Raises:
    NoCheckpointError: `path` holds no checkpoint.
  """
  directory, step = locate(path)
  restored = restore(reader(directory), step)
  params = jax.tree.map(jnp.asarray, restored['params'])
  return config_lib.with_new_defaults(restored['config']), params, step


def load_occupancy(path: str) -> OccupancyGrid | None:
  """The occupancy grid saved with a checkpoint, for rendering with the accelerated sampler.

  Args:
    path: as `load_checkpoint` (a workdir, a checkpoint folder or one step's folder).

  Returns:
    The grid of a run trained with `train.sampler='accelerated'`, or None when the checkpoint holds
    none (dense training, imported from the authors' .tar, `api.save_checkpoint`).

  Raises:
    NoCheckpointError: `path` holds no checkpoint.
  """
  directory, step = locate(path)
  return restore_occupancy(reader(directory), step)

