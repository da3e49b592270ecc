"""The marching state: what the accelerated marcher needs besides the rays, over its whole life.

`renderer.march` takes a `MarchState` (or None: the dense marcher). A state holds the occupancy grid,
the mask the marcher reads (the grid thresholded and dilated once, `skip_mask`) and the static sample
budget (one compiled variant per budget). This module is the only place that knows whether a run or a
render uses the accelerated sampler (`config.train.sampler`, `config.render.sampler`); every function
below returns None, or passes None through, for the dense one.

  for_training  the state of a training run: restored from its latest checkpoint, or created (a grid
                over every training camera's frustum, every cell measured under random training
                frames) with the first budget
  after_step    the periodic EMA update of the grid after a train step (`train.grid_update_every`)
  refit         the next budget from a march's MarchStats (host side)
  to_checkpoint what a checkpoint stores (the grid item and the budget in `meta`)
  for_plan      the state for rendering a sequence: a trained grid refined for the plan's audio, or
                one measured from the model
  skip_mask     the mask of a grid under the config's settings

Training grid: after each update step the grid takes an EMA step (`occupancy.update_occupancy`: new =
max(decay x old, measured)) under the condition of the batch just trained on, on
`train.grid_update_cells` random cells, or on every cell up to global step `train.grid_warmup_steps`
(as nerfacc). Conditions drawn from the batch stream keep a resumed run equal to an uninterrupted one.
Update keys are fold_in(split(run key)[0], step).
"""

import functools
from typing import Any

from absl import logging
import chex
from flax import struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dfrf_jax.data.dataset import Identity, Intrinsics
from dfrf_jax.model.dfrf import DFRF, audio_code
from dfrf_jax.render import accelerated, occupancy
from dfrf_jax.render.accelerated import MarchStats, SampleBudget
from dfrf_jax.render.occupancy import OccupancyGrid, OccupancyMask
from dfrf_jax.render.rays import FrameInputs, frame_inputs
from dfrf_jax.train import checkpoints
from dfrf_jax.train.batches import Batch, draw_batch, rays_per_step

SAMPLERS = ('dense', 'accelerated')

Params = dict[str, Any]


@struct.dataclass
class MarchState:
  """grid: the occupancy grid. mask: what the marcher evaluates (`skip_mask(grid)`).
  budget: static samples per depth segment of each pass (part of the pytree's structure)."""
  grid: OccupancyGrid
  mask: OccupancyMask
  budget: SampleBudget = struct.field(pytree_node=False)


def skips(sampler: str, field: str) -> bool:
  """Whether `sampler` (the value of config field `field`) is the accelerated one; raises otherwise
  unless it is 'dense'."""
  if sampler not in SAMPLERS:
    raise ValueError(f'{field} must be one of {SAMPLERS}, got {sampler!r}')
  return sampler == 'accelerated'


def skip_mask(grid: OccupancyGrid, render_config: ml_collections.ConfigDict, *,
              train: bool) -> OccupancyMask:
  """The cells the accelerated marcher evaluates: `grid` above `accel.density_threshold` (in
  training capped at the grid's mean density, `occupancy.training_threshold`), dilated by
  `accel.dilation` cells. Computed once per grid, not per frame or step."""
  a = render_config.accel
  threshold = (occupancy.training_threshold(grid, a.density_threshold) if train
               else a.density_threshold)
  return occupancy.occupancy_mask(grid, threshold, a.dilation)


def _state(grid: OccupancyGrid, budget: SampleBudget, render_config: ml_collections.ConfigDict,
           train: bool) -> MarchState:
  return MarchState(grid=grid, mask=skip_mask(grid, render_config, train=train), budget=budget)


def refit(state: MarchState | None, stats: MarchStats | None,
          render_config: ml_collections.ConfigDict) -> MarchState | None:
  """The state with the budget for the next call (`accelerated.next_budget`: grown when samples
  were dropped, shrunk when far too large, else kept). None passes through."""
  if state is None or stats is None:
    return state
  a = render_config.accel
  budget = accelerated.next_budget(state.budget, stats, headroom=a.budget_headroom,
                                   granularity=a.budget_granularity,
                                   shrink_below=a.budget_shrink_below)
  return state if budget == state.budget else state.replace(budget=budget)


# --- Training ---------------------------------------------------------------------------------------


def training_aabb(identities: list[Identity], near: float, far: float) -> jax.Array:
  """[2, 3] box (world units) enclosing the near-far frusta of all training cameras of all identities."""
  boxes = []
  for identity in identities:
    cam = identity.intrinsics
    boxes.append(occupancy.frustum_aabb(jnp.asarray(identity.train.poses), cam.focal, cam.cx, cam.cy,
                                        cam.height, cam.width, near, far))
  boxes = jnp.stack(boxes)
  return jnp.stack([boxes[:, 0].min(0), boxes[:, 1].max(0)])


@functools.partial(jax.jit, static_argnames=('model', 'smoothing', 'num_cells', 'decay', 'use_warp',
                                             'point_chunk'))
def _refresh(grid: OccupancyGrid, key: jax.Array, model: DFRF, params: Params, aud: jax.Array,
             ref_images: jax.Array, ref_poses: jax.Array, focal: jax.Array, *, smoothing: bool,
             num_cells: int | None, decay: float, use_warp: bool, point_chunk: int) -> OccupancyGrid:
  """`occupancy.update_from_model` under K conditions given as stacked batch fields.

  aud: [K, smo_size, 16, D]; ref_images: [K, N, H, W, 3]; ref_poses: [K, N, 3, 4]; focal: [K].
  """
  chex.assert_equal_shape_prefix([aud, ref_images, ref_poses, focal], 1)

  def condition(window, images, poses, f):
    return frame_inputs(model, params, audio_code(model, params, window, smoothing), images, poses, f)

  frames = jax.vmap(condition)(aud, ref_images, ref_poses, focal)
  return occupancy.update_from_model(grid, key, model, params, frames, num_cells=num_cells,
                                     decay=decay, use_warp=use_warp, point_chunk=point_chunk)


def _update(grid: OccupancyGrid, key: jax.Array, model: DFRF, params: Params,
            conditions: list[Batch], config: ml_collections.ConfigDict, *, smoothing: bool,
            use_warp: bool, num_cells: int | None, decay: float) -> OccupancyGrid:
  """One grid update under the audio windows and references of `conditions` (host batches)."""
  sizes = {b.ref_images.shape for b in conditions}
  if len(sizes) > 1:
    raise ValueError(f'occupancy grid update: the reference images of the conditions differ in shape '
                     f'({sorted(sizes)}); every identity of a run must have the same image size')
  stack = lambda name: np.stack([np.asarray(getattr(b, name)) for b in conditions])
  return _refresh(grid, key, model, params, stack('aud'), stack('ref_images'), stack('ref_poses'),
                  stack('intrinsics')[:, 0], smoothing=smoothing, num_cells=num_cells, decay=decay,
                  use_warp=use_warp, point_chunk=config.render.accel.point_chunk)


def initial_grid(model: DFRF, params: Params, identities: list[Identity],
                 config: ml_collections.ConfigDict, near: float, far: float,
                 rng: np.random.Generator, key: jax.Array, *, smoothing: bool,
                 use_warp: bool) -> OccupancyGrid:
  """The grid of a fresh run: every cell measured once under random training frames.

  Args:
    model, params: the module and the params the run starts from (fresh or `init_from`).
    identities: the training identities (their train cameras bound the box).
    config: the run config (render.accel.grid_resolution, render.accel.update_conditions frames,
      data and model sections for drawing them).
    near, far: depth bounds of the run, world units.
    rng: draws the frames (`batches.draw_batch`: identity, frame, references).
    key: PRNG key of the cell jitter and slot noise.
    smoothing, use_warp: as the first training step.

  Returns:
    An `OccupancyGrid` of resolution render.accel.grid_resolution.
  """
  a = config.render.accel
  grid = occupancy.init_occupancy(training_aabb(identities, near, far), a.grid_resolution)
  conditions = [draw_batch(rng, identities, config) for _ in range(a.update_conditions)]
  return _update(grid, key, model, params, conditions, config, smoothing=smoothing,
                 use_warp=use_warp, num_cells=None, decay=1.0)


def is_update_step(step: int, train_config: ml_collections.ConfigDict) -> bool:
  """Whether the grid is updated after the step that made the global step count `step`."""
  if train_config.grid_update_every < 1:
    raise ValueError(f'config.train.grid_update_every = {train_config.grid_update_every}, '
                     'expected >= 1')
  return step % train_config.grid_update_every == 0


def update_grid(grid: OccupancyGrid, model: DFRF, params: Params, batch: Batch,
                config: ml_collections.ConfigDict, step: int, key: jax.Array, *, smoothing: bool,
                use_warp: bool) -> OccupancyGrid:
  """The periodic EMA update after global step `step`, under the condition of `batch` (host arrays).

  Every cell up to step `train.grid_warmup_steps`, then `train.grid_update_cells` random cells (0:
  every cell); decay `train.grid_decay`.
  """
  t = config.train
  if t.grid_update_cells < 0:
    raise ValueError(f'config.train.grid_update_cells = {t.grid_update_cells}, expected >= 0 '
                     '(0: every cell)')
  every_cell = step <= t.grid_warmup_steps or t.grid_update_cells == 0
  return _update(grid, key, model, params, [batch], config, smoothing=smoothing, use_warp=use_warp,
                 num_cells=None if every_cell else t.grid_update_cells, decay=t.grid_decay)


def _grid_key(run_key: jax.Array, step: int) -> jax.Array:
  """The key of the grid update after global step `step` (and of the first fill at that step)."""
  return jax.random.fold_in(jax.random.split(run_key)[0], step)


def create_for_training(model: DFRF, params: Params, identities: list[Identity],
                        config: ml_collections.ConfigDict, near: float, far: float, step: int,
                        run_key: jax.Array) -> MarchState | None:
  """A fresh training state at global step `step`: `initial_grid` and `accelerated.initial_budget`.

  None with `train.sampler='dense'`. The first conditions come from stream 1 of `config.seed`, so the
  data stream (seeded by `seed`) is left untouched.
  """
  if not skips(config.train.sampler, 'config.train.sampler'):
    return None
  grid = _first_grid(model, params, identities, config, near, far, step, run_key)
  budget = accelerated.initial_budget(rays_per_step(config), config.render, train=True)
  return _state(grid, budget, config.render, train=True)


def _first_grid(model: DFRF, params: Params, identities: list[Identity],
                config: ml_collections.ConfigDict, near: float, far: float, step: int,
                run_key: jax.Array) -> OccupancyGrid:
  return initial_grid(model, params, identities, config, near, far,
                      np.random.default_rng([config.seed, 1]), _grid_key(run_key, step),
                      smoothing=step >= config.train.nosmo_iters,
                      use_warp=step >= config.train.warp_start_step)


def for_training(model: DFRF, params: Params, identities: list[Identity],
                 config: ml_collections.ConfigDict, near: float, far: float, step: int,
                 run_key: jax.Array, mgr: Any) -> MarchState | None:
  """The state a run starts from: from `mgr`'s latest checkpoint when it holds one, else created.

  A checkpoint without a grid gets a new one (`create_for_training`), one without a budget the
  first budget. None with `train.sampler='dense'`.
  """
  if not skips(config.train.sampler, 'config.train.sampler'):
    return None
  latest = mgr.latest_step()
  grid = budget = None
  if latest is not None:
    grid = checkpoints.restore_occupancy(mgr, latest)
    stored = checkpoints.restore_meta(mgr, latest).get('budget')
    if stored is not None:
      budget = SampleBudget(coarse=tuple(stored['coarse']), fine=tuple(stored['fine']),
                            kept=tuple(stored.get('kept', ())))
  if grid is None:
    if latest is not None:
      logging.info('The checkpoint at step %d holds no occupancy grid: filling a new one.', step)
    grid = _first_grid(model, params, identities, config, near, far, step, run_key)
  first = accelerated.initial_budget(rays_per_step(config), config.render, train=True)
  if budget is None:
    budget = first
  elif bool(budget.kept) != bool(first.kept):  # accel.train_selection switched since the save
    budget = budget._replace(kept=first.kept)
  return _state(grid, budget, config.render, train=True)


def after_step(state: MarchState | None, model: DFRF, params: Params, batch: Batch,
               config: ml_collections.ConfigDict, step: int, run_key: jax.Array, *,
               smoothing: bool, use_warp: bool) -> MarchState | None:
  """The state after the train step that made the global step count `step`: its grid updated under
  `batch`'s condition on update steps (`is_update_step`, `update_grid`), else unchanged."""
  if state is None or not is_update_step(step, config.train):
    return state
  grid = update_grid(state.grid, model, params, batch, config, step, _grid_key(run_key, step),
                     smoothing=smoothing, use_warp=use_warp)
  return _state(grid, state.budget, config.render, train=True)


def to_checkpoint(state: MarchState | None) -> tuple[dict[str, Any], OccupancyGrid | None]:
  """What a checkpoint stores of `state`: (entries of its `meta`, the grid for its occupancy item)."""
  if state is None:
    return {}, None
  b = state.budget
  budget = {'coarse': list(b.coarse), 'fine': list(b.fine)}
  if b.kept:
    budget['kept'] = list(b.kept)
  return {'budget': budget}, state.grid


# --- Rendering --------------------------------------------------------------------------------------


def plan_grid(model: DFRF, params: Params, config: ml_collections.ConfigDict, poses: np.ndarray,
              cam: Intrinsics, shared: FrameInputs, codes: jax.Array, near: float, far: float,
              key: jax.Array, base: OccupancyGrid | None = None) -> OccupancyGrid:
  """The occupancy grid for rendering a plan: a base grid refined `accel.grid_refinements` times.

  The base grid is `base` (e.g. the one trained with the model) or, when None, one measured here:
  its box encloses the frusta of the plan's cameras `poses` [T, 3, 4], and each of its
  `accel.grid_resolution`^3 cells stores the largest density of the coarse and fine fields at a
  random point in it over `accel.update_conditions` evenly spaced frames' audio codes (`codes`
  [T, dim_aud], with the fixed render references of `shared`), so a cell is empty only if it is
  empty for each. Each refinement doubles the resolution, measuring under the same conditions only
  the children of cells that may be occupied at `accel.density_threshold`
  (`occupancy.refine_occupancy`).
  """
  a = config.render.accel
  picks = np.linspace(0, len(codes) - 1, min(a.update_conditions, len(codes))).round().astype(int)
  frames = jax.tree.map(lambda x: jnp.broadcast_to(x, (len(picks),) + x.shape), shared)
  frames = frames.replace(audio_code=codes[picks])
  keys = jax.random.split(key, a.grid_refinements + 1)
  grid = base
  if grid is None:
    aabb = occupancy.frustum_aabb(jnp.asarray(poses), cam.focal, cam.cx, cam.cy, cam.height,
                                  cam.width, near, far)
    grid = occupancy.update_from_model(occupancy.init_occupancy(aabb, a.grid_resolution), keys[0],
                                       model, params, frames, num_cells=None, decay=1.0,
                                       use_warp=True, point_chunk=a.point_chunk)
  for k in keys[1:]:
    grid = occupancy.refine_from_model(grid, k, model, params, frames,
                                       threshold=a.density_threshold, use_warp=True,
                                       point_chunk=a.point_chunk)
  return grid


def for_plan(model: DFRF, params: Params, config: ml_collections.ConfigDict, poses: np.ndarray,
             cam: Intrinsics, shared: FrameInputs, codes: jax.Array, near: float, far: float,
             key: jax.Array, grid: OccupancyGrid | None = None) -> MarchState | None:
  """The state for rendering frames of `cam`'s size along `poses` (`plan_grid`'s arguments).

  `grid`: one trained with the model (`render.accel.grid_resolution` cells per axis), refined here,
  or one already refined (`grid_resolution * 2^grid_refinements`), used as it is. None, or a grid of
  another resolution: a grid is measured for the plan. None with `render.sampler='dense'`.
  """
  if not skips(config.render.sampler, 'config.render.sampler'):
    return None
  a = config.render.accel
  refined = a.grid_resolution * 2 ** a.grid_refinements
  if grid is not None and grid.resolution not in (a.grid_resolution, refined):
    logging.info('The given occupancy grid has %d cells per axis, config.render.accel expects %d '
                 '(grid_resolution) or %d (refined): building one for the plan.', grid.resolution,
                 a.grid_resolution, refined)
    grid = None
  if grid is None or grid.resolution != refined:
    grid = plan_grid(model, params, config, poses, cam, shared, codes, near, far, key, base=grid)
  budget = accelerated.initial_budget(cam.height * cam.width, config.render)
  return _state(grid, budget, config.render, train=False)
