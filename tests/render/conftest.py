"""A tiny DFRF scene shared by the accelerated-renderer tests: narrow networks, 8x8 target rays."""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from dfrf_jax.config import default_config
from dfrf_jax.model.dfrf import DFRF, build_model, init_params
from dfrf_jax.render import cameras, occupancy
from dfrf_jax.render.accelerated import SampleBudget
from dfrf_jax.render.march_state import MarchState, skip_mask
from dfrf_jax.render.occupancy import OccupancyGrid
from dfrf_jax.render.rays import Field, FrameInputs, MarchMode, Rays, frame_inputs
from dfrf_jax.render.renderer import march

NEAR, FAR = 0.5, 1.5
SIZE = 8
INTRINSICS = (10.0, 4.0, 4.0)


@dataclasses.dataclass(frozen=True)
class Scene:
  model: DFRF
  params: dict
  frame: FrameInputs
  render_config: ml_collections.FrozenConfigDict
  c2w: jax.Array
  rays_o: jax.Array
  rays_d: jax.Array
  bg: jax.Array


def tiny_config() -> ml_collections.ConfigDict:
  c = default_config()
  m = c.model
  m.netwidth = m.netwidth_fine = 32
  m.netdepth, m.skips = 4, (2,)
  m.feature_hidden = m.feature_dim = m.slot_dim = 16
  m.slot_side_dim = 8
  m.warp_hidden = (16, 8)
  m.slot_init = 'mean'
  c.render.N_samples, c.render.N_importance = 16, 16
  c.render.accel.point_chunk = 512
  c.render.accel.budget_granularity = 64
  return c


def make_scene(config: ml_collections.ConfigDict, density_bias: float = 0.0) -> Scene:
  """Random parameters (the density heads shifted by `density_bias`), 4 references, 64 rays."""
  model = build_model(config.model)
  # Shapes from tracing only: compiling the initialiser costs far more than these tests need.
  shapes = jax.eval_shape(lambda k: init_params(model, k), jax.random.PRNGKey(0))
  rng = np.random.default_rng(0)
  params = jax.tree.map(
      lambda s: jnp.asarray(rng.uniform(-1.0, 1.0, s.shape) / np.sqrt(np.prod(s.shape[:-1])),
                            jnp.float32), shapes)
  for field in ('coarse', 'fine'):
    bias = params[field]['alpha']['bias']
    params[field]['alpha']['bias'] = bias + density_bias
  images = rng.uniform(size=(4, 16, 16, 3)).astype(np.float32)
  poses = np.tile(np.eye(4, dtype=np.float32)[:3], (4, 1, 1))
  poses[:, :, 3] = [[0.05 * i, 0.0, 1.0] for i in range(4)]
  code = jnp.asarray(rng.normal(size=(config.model.dim_aud,)), jnp.float32)
  frame = frame_inputs(model, params, code, images, poses, 20.0)
  c2w = jnp.asarray(poses[1])
  pixels = cameras.image_pixels(SIZE, SIZE).reshape(-1, 2)
  rays_o, rays_d = cameras.pixel_rays(pixels, c2w, *INTRINSICS)
  bg = jnp.asarray(rng.uniform(size=(SIZE * SIZE, 3)), jnp.float32)
  return Scene(model=model, params=params, frame=frame,
               render_config=ml_collections.FrozenConfigDict(config.render), c2w=c2w,
               rays_o=rays_o, rays_d=rays_d, bg=bg)


def slab_grid(scene: Scene, x_cells: int, density: float, resolution: int = 4) -> OccupancyGrid:
  """A grid over the scene's frustum storing `density` in cells whose x index is below `x_cells`, 0
  elsewhere."""
  aabb = occupancy.frustum_aabb(scene.c2w[None], *INTRINSICS, SIZE, SIZE, NEAR, FAR)
  stored = np.zeros((resolution,) * 3, np.float32)
  stored[:x_cells] = density
  return occupancy.init_occupancy(aabb, resolution).replace(density=jnp.asarray(stored))


def all_occupied(scene: Scene, budget: SampleBudget) -> MarchState:
  """A marching state over the scene's frustum with every cell occupied (the accelerated path then
  evaluates what the dense one does) and `budget`."""
  aabb = occupancy.frustum_aabb(scene.c2w[None], *INTRINSICS, SIZE, SIZE, NEAR, FAR)
  grid = occupancy.init_occupancy(aabb, 4, density=jnp.inf)
  return MarchState(grid=grid, mask=occupancy.occupancy_mask(grid, 0.5, 0), budget=budget)


def grid_state(grid: OccupancyGrid, budget: SampleBudget, render_config, train: bool) -> MarchState:
  """The marching state of `grid` under `render_config`'s settings (`march_state.skip_mask`)."""
  return MarchState(grid=grid, mask=skip_mask(grid, render_config, train=train), budget=budget)


def march_scene(scene: Scene, params: dict, render_config, key, train: bool,
                state: MarchState | None):
  """`renderer.march` of the scene's rays: (RenderOutput, MarchStats or None)."""
  field = Field(model=scene.model, params=params, frame=scene.frame)
  rays = Rays(origins=scene.rays_o, directions=scene.rays_d, background=scene.bg, near=NEAR, far=FAR)
  return march(field, rays, key, MarchMode(render_config, train), state)


def coarse_occupied_count(scene: Scene, grid: OccupancyGrid, threshold: float) -> int:
  """Coarse samples (unperturbed, background sample excluded) in cells storing more than `threshold`,
  counted in float64 NumPy."""
  z = np.linspace(NEAR, FAR, scene.render_config.N_samples)[:-1]
  points = np.asarray(scene.rays_o, np.float64)[:, None] + np.asarray(
      scene.rays_d, np.float64)[:, None] * z[:, None]
  lo, hi = np.asarray(grid.aabb, np.float64)
  density = np.asarray(grid.density)
  resolution = density.shape[0]
  cell = np.floor((points - lo) / (hi - lo) * resolution).astype(int)
  inside = np.all((cell >= 0) & (cell < resolution), -1)
  cell = np.clip(cell, 0, resolution - 1)
  return int(np.sum(inside & (density[cell[..., 0], cell[..., 1], cell[..., 2]] > threshold)))


@pytest.fixture(scope='session')
def scene() -> Scene:
  return make_scene(tiny_config())
