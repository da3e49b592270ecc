"""Occupancy grid over the head volume: a conservative per-cell density bound for empty-space skipping.

The grid covers an axis-aligned box (see `frustum_aabb`) with G^3 cells and stores, per cell, an
exponential moving maximum of the density the fields produced there. A talking head is dynamic: the
density at a point depends on the audio code (mouth shape) and on the reference images, so every
measurement takes the maximum over several conditions (`max_density` over stacked `FrameInputs`) and
over both the coarse and fine fields. A cell counts as occupied when its stored value exceeds a
density threshold; points outside the box count as empty. The samplers read an `OccupancyMask`, the
grid thresholded and dilated once (`occupancy_mask`) rather than in every frame.

Everything is a pure function of arrays, so a trainer can call `update_occupancy` every few steps
(nerfacc / RAD-NeRF style: random cells, random conditions, EMA with a decay) and save the grid's
arrays in its checkpoint. A render-time grid can be refined coarse to fine (`refine_occupancy`):
each level doubles the resolution and measures only the children of cells that may be occupied.
"""

import functools
from typing import Callable

import chex
from flax import struct
import jax
import jax.numpy as jnp

from dfrf_jax.model.dfrf import DFRF
from dfrf_jax.render.chunking import map_in_chunks, points_per_call
from dfrf_jax.render.rays import Field, FrameInputs

# density_fn(points [P, 3] world units, key, num_valid) -> [P] non-negative density. num_valid ([] int
# or None): rows from num_valid on are padding whose values are discarded (they may be left unmeasured).
DensityFn = Callable[[jax.Array, jax.Array, jax.Array | None], jax.Array]


@struct.dataclass
class OccupancyGrid:
  """Attributes:
    density: [G, G, G] stored density bound per cell, indexed (x, y, z) in world axes.
    aabb: [2, 3] lower and upper corner of the box, world units.
  """
  density: jax.Array
  aabb: jax.Array

  @property
  def resolution(self) -> int:
    return self.density.shape[0]


def frustum_aabb(poses: jax.Array, focal: float, cx: float, cy: float, height: int, width: int,
                 near: float, far: float, margin: float = 0.01) -> jax.Array:
  """The box enclosing every camera's viewing frustum between the near and far depths.

  The box is widened by `margin` times its extent on every side, so that samples on the frustum's
  faces (the first sample at `near`, rays of corner pixels) stay inside despite rounding.

  Args:
    poses: [K, 3, 4] camera-to-world matrices (e.g. all training and test cameras).
    focal, cx, cy: intrinsics in pixels. height, width: image size in pixels.
    near, far: depth bounds (camera depth, as `cameras.pixel_rays`).
    margin: widening, as a fraction of the extent along each axis.

  Returns:
    [2, 3] float32 lower and upper corner, world units.
  """
  chex.assert_shape(poses, (None, 3, 4))
  corners = jnp.array([[0.0, 0.0], [0.0, width - 1.0], [height - 1.0, 0.0],
                       [height - 1.0, width - 1.0]], jnp.float32)
  rows, cols = corners[:, 0], corners[:, 1]
  dirs = jnp.stack([(cols - cx) / focal, -(rows - cy) / focal, -jnp.ones_like(cols)], -1)  # [4, 3]
  depths = jnp.array([near, far], jnp.float32)
  world = (poses[:, None, None, :, :3] @ (dirs[None, :, None, :, None] * depths[None, None, :, None, None])
           )[..., 0] + poses[:, None, None, :, 3]                                   # [K, 4, 2, 3]
  world = world.reshape(-1, 3)
  lo, hi = world.min(0), world.max(0)
  pad = margin * (hi - lo)
  return jnp.stack([lo - pad, hi + pad])


def init_occupancy(aabb: jax.Array, resolution: int, density: float = 0.0) -> OccupancyGrid:
  """A grid of resolution^3 cells over `aabb` ([2, 3]), every cell holding `density`.

  `density=0` is the start of training (fill it with full updates first); `density=jnp.inf` marks
  every cell occupied forever (the accelerated renderer then evaluates what the dense one does).
  """
  chex.assert_shape(aabb, (2, 3))
  if resolution < 1:
    raise ValueError(f'init_occupancy: resolution must be at least 1, got {resolution}.')
  return OccupancyGrid(density=jnp.full((resolution,) * 3, density, jnp.float32),
                       aabb=jnp.asarray(aabb, jnp.float32))


@struct.dataclass
class OccupancyMask:
  """The cells a sampler evaluates: a grid thresholded and dilated once (`occupancy_mask`), then read
  by every frame or train step that uses it.

  Attributes:
    occupied: [G, G, G] bool, indexed (x, y, z) in world axes as the grid's density.
    aabb: [2, 3] lower and upper corner of the box, world units.
  """
  occupied: jax.Array
  aabb: jax.Array

  @property
  def resolution(self) -> int:
    return self.occupied.shape[0]


def dilate(occupied: jax.Array, cells: int) -> jax.Array:
  """Marks every cell within `cells` cells of an occupied one: a (2c+1)^3 box filter of `or`.

  Args:
    occupied: [G, G, G] bool.
    cells: reach of the filter along each axis (0: `occupied` itself).

  Returns:
    [G, G, G] bool. The box filter is separable: one 2c+1 wide `or` per axis.

  A grid update measures one random point per cell, so a thin or small dense region can leave its
  cell (or a neighbour the ray's sample falls in) marked empty; one cell of dilation closes those
  gaps at the price of more evaluated samples (measured in scripts/benchmark_raymarch.py).
  """
  if cells < 0:
    raise ValueError(f'dilate: cells must be >= 0, got {cells}.')
  if cells == 0:
    return occupied
  out = occupied.astype(jnp.uint8)
  for axis in range(3):
    size = [1, 1, 1]
    size[axis] = 2 * cells + 1
    out = jax.lax.reduce_window(out, jnp.uint8(0), jax.lax.max, tuple(size), (1, 1, 1), 'SAME')
  return out.astype(bool)


@functools.partial(jax.jit, static_argnames=('dilation',))
def occupancy_mask(grid: OccupancyGrid, threshold: float | jax.Array, dilation: int) -> OccupancyMask:
  """The cells of `grid` storing more than `threshold`, dilated by `dilation` cells.

  Computed once per grid (per render plan, per training-grid update), not per frame: at 256^3 cells
  the dilation alone took 0.2 s on 2 CPU cores, a fifth of a demo-model 128 px frame.
  """
  return OccupancyMask(occupied=dilate(grid.density > threshold, dilation), aabb=grid.aabb)


def occupied(mask: OccupancyMask, points: jax.Array) -> jax.Array:
  """Whether each point lies in an occupied cell: points [..., 3] world units -> bool [...].

  Points outside the box are empty.
  """
  chex.assert_axis_dimension(points, -1, 3)
  lo, hi = mask.aabb[0], mask.aabb[1]
  g = mask.resolution
  cell = jnp.floor((points - lo) / (hi - lo) * g).astype(jnp.int32)
  inside = jnp.all((cell >= 0) & (cell < g), -1)
  cell = jnp.clip(cell, 0, g - 1)
  return inside & mask.occupied[cell[..., 0], cell[..., 1], cell[..., 2]]


def training_threshold(grid: OccupancyGrid, threshold: float) -> jax.Array:
  """The occupancy threshold while training: min(threshold, mean stored density), [].

  A model early in training has low density everywhere, and a fixed threshold would mark the whole
  head empty; its skipped samples would then get no gradient and the face could never appear. Capping
  the threshold at the grid's mean density (as instant-ngp and nerfacc do) keeps the denser cells
  occupied until the model's densities grow past the threshold.
  """
  return jnp.minimum(threshold, jnp.mean(grid.density))


def occupied_fraction(grid: OccupancyGrid, threshold: float | jax.Array) -> jax.Array:
  """Share of cells whose stored density exceeds `threshold`, []."""
  return jnp.mean(grid.density > threshold)


def update_occupancy(grid: OccupancyGrid, key: jax.Array, density_fn: DensityFn, *,
                     num_cells: int | None, decay: float) -> OccupancyGrid:
  """One EMA step of the grid: measure the density at a random point of some cells.

  Each chosen cell becomes max(decay * old, measured) (the nerfacc / RAD-NeRF rule), so occupancy
  that the fields lose fades out over updates while any new density shows up at once.

  Args:
    grid: the current grid.
    key: PRNG key (cell choice, the point inside each cell, and whatever `density_fn` draws).
    density_fn: `DensityFn`, the maximum over conditions (`max_density`).
    num_cells: cells drawn uniformly with replacement; None updates every cell (the first updates of
      training, and building a grid from a trained model).
    decay: EMA decay in [0, 1]; 1 keeps a running maximum.

  Returns:
    The updated grid (same shapes).
  """
  if not 0.0 <= decay <= 1.0:
    raise ValueError(f'update_occupancy: decay must lie in [0, 1], got {decay}.')
  k_cells, k_jitter, k_density = jax.random.split(key, 3)
  g = grid.resolution
  total = g ** 3
  if num_cells is None:
    flat = jnp.arange(total, dtype=jnp.int32)
  else:
    flat = jax.random.randint(k_cells, (num_cells,), 0, total, jnp.int32)
  cell = jnp.stack(jnp.unravel_index(flat, (g, g, g)), -1).astype(jnp.float32)
  jitter = jax.random.uniform(k_jitter, cell.shape, jnp.float32)
  lo, hi = grid.aabb[0], grid.aabb[1]
  points = lo + (cell + jitter) / g * (hi - lo)
  measured = density_fn(points, k_density, None)
  chex.assert_shape(measured, (flat.shape[0],))
  old = grid.density.reshape(-1)
  chosen = jnp.zeros((total,), bool).at[flat].set(True)
  new = jnp.where(chosen, old * decay, old).at[flat].max(measured)
  return grid.replace(density=new.reshape(grid.density.shape))


def refine_occupancy(grid: OccupancyGrid, key: jax.Array, density_fn: DensityFn, *,
                     threshold: float) -> OccupancyGrid:
  """The grid at twice the resolution, measured only where `grid` may be occupied (coarse to fine).

  The candidates are the cells of `grid` storing more than `threshold` and their neighbours (one cell
  of dilation, the margin that a grid measured at one random point per cell needs). Each of their 8
  children is measured at one random point; the children of every other cell keep their parent's
  value, at most `threshold`: empty at that threshold. A finer grid hugs the face more closely, so
  fewer samples fall in occupied cells, and measuring the candidates' children costs a fraction of
  measuring every fine cell (about 1 / 8 of it when a tenth of the cells are candidates).

  Args:
    grid: a measured grid (G^3 cells).
    key: PRNG key (the point inside each child, and whatever `density_fn` draws).
    density_fn: `DensityFn`, the maximum over conditions (`max_density`).
    threshold: the density threshold the refined grid will be used at.

  Returns:
    A grid of (2G)^3 cells over the same box. Static shapes throughout: the candidates are compacted
    to the front of a list of every child ([8 G^3, 3] points: 200 MB at G = 128), and `density_fn`
    skips the padding after them.
  """
  g = grid.resolution
  parents = occupancy_mask(grid, threshold, 1).occupied.reshape(-1)
  count = jnp.sum(parents, dtype=jnp.int32)
  order = jnp.nonzero(parents, size=g ** 3, fill_value=0)[0]
  parent = jnp.stack(jnp.unravel_index(order, (g, g, g)), -1)                     # [G^3, 3]
  corner = jnp.stack(jnp.unravel_index(jnp.arange(8), (2, 2, 2)), -1)             # [8, 3]
  child = (2 * parent[:, None, :] + corner[None]).reshape(-1, 3)                   # [8 G^3, 3]
  k_jitter, k_density = jax.random.split(key)
  jitter = jax.random.uniform(k_jitter, child.shape, jnp.float32)
  lo, hi = grid.aabb[0], grid.aabb[1]
  points = lo + (child.astype(jnp.float32) + jitter) / (2 * g) * (hi - lo)
  measured = density_fn(points, k_density, 8 * count)
  fine = grid.density
  for axis in range(3):
    fine = jnp.repeat(fine, 2, axis)
  flat = jnp.ravel_multi_index(tuple(child.T), (2 * g,) * 3, mode='clip')
  flat = jnp.where(jnp.arange(flat.shape[0]) < 8 * count, flat, (2 * g) ** 3)  # padding: dropped
  fine = fine.reshape(-1).at[flat].set(measured, mode='drop')
  return grid.replace(density=fine.reshape((2 * g,) * 3))


def max_density(model: DFRF, params: dict, frames: FrameInputs, points: jax.Array, key: jax.Array,
                *, use_warp: bool, point_chunk: int, num_valid: jax.Array | None = None) -> jax.Array:
  """The largest density of the coarse and fine fields over K conditions, at every point.

  Args:
    model, params: the DFRF module and its parameters.
    frames: `FrameInputs` with a leading axis K on every field (K audio codes with K reference sets,
      e.g. random training frames).
    points: [P, 3] world units.
    key: PRNG key for slot noise (used when `model.config.slot_init == 'random'`).
    use_warp: apply the warp module, as the renderer does.
    point_chunk: points per network call (0: by backend, `chunking.points_per_call`).
    num_valid: [] int or None: points from num_valid on are padding; chunks of padding only are not
      evaluated (their values are 0).

  Returns:
    [P] max over conditions and fields of relu(raw density).
  """
  chex.assert_shape(points, (None, 3))
  num_conditions = frames.audio_code.shape[0]
  viewdirs = jnp.broadcast_to(jnp.array([0.0, 0.0, -1.0], jnp.float32), points.shape)

  def one_condition(args):
    frame, k = args
    field = Field(model=model, params=params, frame=frame, use_warp=use_warp)

    def field_max(p, v, index):
      # One slot-noise stream per chunk, keyed by the chunk's first point.
      out = field.query(p, v, (False, True), jax.random.fold_in(k, index[0]))
      return jnp.max(jax.nn.relu(out.raw[:, :, 3]), 1)

    index = jnp.arange(points.shape[0], dtype=jnp.int32)
    return map_in_chunks(field_max, (points, viewdirs, index), points_per_call(point_chunk),
                         num_valid=num_valid)

  keys = jax.random.split(key, num_conditions)
  return jnp.max(jax.lax.map(one_condition, (frames, keys)), 0)


@functools.partial(jax.jit, static_argnames=('model', 'num_cells', 'decay', 'use_warp', 'point_chunk'))
def update_from_model(grid: OccupancyGrid, key: jax.Array, model: DFRF, params: dict,
                      frames: FrameInputs, *, num_cells: int | None, decay: float, use_warp: bool,
                      point_chunk: int) -> OccupancyGrid:
  """`update_occupancy` with `max_density` of `model` over `frames`, compiled once per setting.

  The parameters and conditions are arguments of the compiled program, not constants baked into it
  (which XLA would try to constant-fold), so a trainer can call this every few steps. With
  `num_cells=None, decay=1.0` on a fresh grid it builds the grid of a trained model.
  """
  return update_occupancy(grid, key, _model_density(model, params, frames, use_warp, point_chunk),
                          num_cells=num_cells, decay=decay)


@functools.partial(jax.jit, static_argnames=('model', 'use_warp', 'point_chunk'))
def refine_from_model(grid: OccupancyGrid, key: jax.Array, model: DFRF, params: dict,
                      frames: FrameInputs, *, threshold: float, use_warp: bool,
                      point_chunk: int) -> OccupancyGrid:
  """`refine_occupancy` with `max_density` of `model` over `frames` (parameters as arguments)."""
  return refine_occupancy(grid, key, _model_density(model, params, frames, use_warp, point_chunk),
                          threshold=threshold)


def _model_density(model: DFRF, params: dict, frames: FrameInputs, use_warp: bool,
                   point_chunk: int) -> DensityFn:
  """`max_density` of `model` over `frames` as a `DensityFn`."""
  return lambda points, key, num_valid: max_density(
      model, params, frames, points, key, use_warp=use_warp, point_chunk=point_chunk,
      num_valid=num_valid)
