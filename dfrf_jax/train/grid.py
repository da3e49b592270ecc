"""The occupancy grid a run keeps when it trains with the accelerated sampler.

A fresh run creates the grid over the frusta of every training camera of every identity and fills it
before the first step: every cell measured under a few random training frames' conditions (audio code
and reference feature maps). Afterwards, every `train.grid_update_every` steps, the grid takes an EMA
step (`occupancy.update_occupancy`: new = max(decay x old, measured)) under the condition of the batch
just trained on, on `train.grid_update_cells` random cells, or on every cell up to global step
`train.grid_warmup_steps` (as nerfacc). Conditions drawn from the batch stream keep a resumed run equal
to an uninterrupted one; over many updates they cover the training frames.
"""

import functools

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dfrf_jax.data.dataset import Identity
from dfrf_jax.model.dfrf import DFRF, audio_code
from dfrf_jax.render import occupancy
from dfrf_jax.render.renderer import frame_inputs
from dfrf_jax.train.batches import Batch, draw_batch
from dfrf_jax.train.state import Params


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
def _refresh(grid: occupancy.OccupancyGrid, key: jax.Array, model: DFRF, params: Params,
             aud: jax.Array, ref_images: jax.Array, ref_poses: jax.Array, focal: jax.Array, *,
             smoothing: bool, num_cells: int | None, decay: float, use_warp: bool,
             point_chunk: int) -> occupancy.OccupancyGrid:
  """`occupancy.update_from_model` under K conditions given as stacked batch fields.

  aud: [K, smo_size, 16, D]; ref_images: [K, N, H, W, 3]; ref_poses: [K, N, 3, 4]; focal: [K].
  """
  chex.assert_equal_shape_prefix([aud, ref_images, ref_poses, focal], 1)

  def condition(window, images, poses, f):
    return frame_inputs(model, params, audio_code(model, params, window, smoothing), images, poses, f)

  frames = jax.vmap(condition)(aud, ref_images, ref_poses, focal)
  return occupancy.update_from_model(grid, key, model, params, frames, num_cells=num_cells,
                                     decay=decay, use_warp=use_warp, point_chunk=point_chunk)


def _update(grid: occupancy.OccupancyGrid, key: jax.Array, model: DFRF, params: Params,
            conditions: list[Batch], config: ml_collections.ConfigDict, *, smoothing: bool,
            use_warp: bool, num_cells: int | None, decay: float) -> occupancy.OccupancyGrid:
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
                 use_warp: bool) -> occupancy.OccupancyGrid:
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


def update_grid(grid: occupancy.OccupancyGrid, model: DFRF, params: Params, batch: Batch,
                config: ml_collections.ConfigDict, step: int, key: jax.Array, *, smoothing: bool,
                use_warp: bool) -> occupancy.OccupancyGrid:
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
