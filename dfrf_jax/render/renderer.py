"""The one ray-marching entry point: `march` a batch of rays, `march_image` a whole view.

  out, stats = march(field, rays, key, mode, state)

`state` is the marching state (`march_state.MarchState`): None marches every sample (the dense
marcher, render/dense.py, the authors' path); a state marches only the samples in its occupancy
mask, compacted into its sample budget (render/accelerated.py), and `stats` is then the
`MarchStats` of that march (None for the dense one). Everything a frame shares (the audio code, the
reference feature maps) is computed once per frame by the caller (`frame_inputs`) and carried by
the `Field`.

`render_rays` and `render_image` are the dense march in the argument lists of the authors' functions,
the API the parity tests pin.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections

from dfrf_jax.model.dfrf import DFRF
from dfrf_jax.render.accelerated import MarchStats, march_accelerated
from dfrf_jax.render.chunking import map_in_chunks
from dfrf_jax.render.dense import march_dense
from dfrf_jax.render.march_state import MarchState, refit
from dfrf_jax.render.rays import (DensityNoise, Field, FrameInputs, ImageOutput, MarchMode, Rays,
                                  RenderOutput, View, frame_inputs, image_output, ray_keys)

__all__ = ['FrameInputs', 'ImageOutput', 'RenderOutput', 'frame_inputs', 'march', 'march_image',
           'render_frame', 'render_image', 'render_rays']


def march(field: Field, rays: Rays, key: jax.Array | None, mode: MarchMode,
          state: MarchState | None = None) -> tuple[RenderOutput, MarchStats | None]:
  """Marches R rays through `field`: coarse pass, importance resampling, fine pass.

  Args:
    field: the model, its params and the frame's conditioning.
    rays: the R rays.
    key: PRNG key of stratified and importance sampling, density noise and slot noise (split once,
      `rays.ray_keys`); None: deterministic, needs `model.slot_init == 'mean'`.
    mode: render config, training or not, density-noise rule.
    state: None (every sample) or the accelerated marcher's state (mask and budget).

  Returns:
    RenderOutput and the MarchStats of an accelerated march (None for the dense one).
  """
  rays.check()
  keys = ray_keys(key)
  if state is None:
    return march_dense(field, rays, keys, mode), None
  return march_accelerated(field, rays, keys, mode, state.mask, state.budget)


@functools.partial(jax.jit, static_argnames=('mode',))
def march_image(field: Field, view: View, key: jax.Array | None, mode: MarchMode,
                state: MarchState | None = None) -> tuple[ImageOutput, MarchStats | None]:
  """Marches every pixel of `view` in one compiled program.

  The dense marcher goes `mode.render_config.chunk` rays at a time (`chunking.map_in_chunks`; each
  chunk's key is `key` folded with its first ray's index); the accelerated one compacts the samples
  of the whole frame at once (its networks then run in `accel.point_chunk` pieces).

  Returns:
    ImageOutput ([H, W, ...] arrays) and the MarchStats of an accelerated march (else None).
  """
  rays = view.rays()
  if state is None:
    def one_chunk(origins, directions, background, index):
      chunk_key = None if key is None else jax.random.fold_in(key, index[0])
      chunk_rays = Rays(origins=origins, directions=directions, background=background,
                        near=view.near, far=view.far)
      return image_output(march(field, chunk_rays, chunk_key, mode)[0])

    index = jnp.arange(rays.num, dtype=jnp.int32)
    out = map_in_chunks(one_chunk, (rays.origins, rays.directions, rays.background, index),
                        mode.render_config.chunk)
    stats = None
  else:
    marched, stats = march(field, rays, key, mode, state)
    out = image_output(marched)
  return jax.tree.map(lambda x: x.reshape((view.height, view.width) + x.shape[1:]), out), stats


def render_frame(field: Field, view: View, key: jax.Array | None, mode: MarchMode,
                 state: MarchState | None = None, max_attempts: int = 4
                 ) -> tuple[ImageOutput, MarchStats | None, MarchState | None]:
  """`march_image`, re-run with a larger budget until no occupied sample is dropped (host loop).

  Returns the image, its stats and the state for the next frame (`march_state.refit`: its budget
  grown if this frame overflowed, shrunk if it was far too large). Raises RuntimeError if samples
  are still dropped after `max_attempts` renders. The dense marcher renders once.
  """
  for _ in range(max_attempts):
    image, stats = march_image(field, view, key, mode, state)
    if stats is None or int(stats.overflow) == 0:
      return image, stats, refit(state, stats, mode.render_config)
    state = refit(state, stats, mode.render_config)
  raise RuntimeError(f'render_frame: {int(stats.overflow)} occupied samples still exceed the budget '
                     f'after {max_attempts} renders (last budget {state.budget}).')


def render_rays(model: DFRF, params: dict, frame: FrameInputs, rays_o: jax.Array, rays_d: jax.Array,
                bg_rgb: jax.Array, near: float, far: float, render_config: ml_collections.ConfigDict,
                key: jax.Array | None, train: bool, use_warp: bool = True,
                density_noise: DensityNoise | None = None) -> RenderOutput:
  """The dense `march` of rays_o, rays_d [R, 3] with background bg_rgb [R, 3] (the authors' API)."""
  field = Field(model=model, params=params, frame=frame, use_warp=use_warp)
  rays = Rays(origins=rays_o, directions=rays_d, background=bg_rgb, near=near, far=far)
  return march(field, rays, key, MarchMode(render_config, train, density_noise))[0]


def render_image(model: DFRF, params: dict, frame: FrameInputs, c2w: jax.Array, bg_image: jax.Array,
                 intrinsics: jax.Array, near: float, far: float, key: jax.Array | None, *,
                 height: int, width: int, render_config: ml_collections.ConfigDict,
                 chunk: int, use_warp: bool = True) -> ImageOutput:
  """The dense `march_image` of a [height, width] frame, `chunk` rays at a time (the authors' API).

  c2w: [3, 4]; bg_image: [height, width, 3]; intrinsics: [3] (focal, cx, cy) in pixels.
  """
  if tuple(bg_image.shape) != (height, width, 3):
    raise ValueError(f'render_image: bg_image has shape {tuple(bg_image.shape)}, expected '
                     f'({height}, {width}, 3)')
  config = ml_collections.ConfigDict(render_config.to_dict())
  config.chunk = chunk
  field = Field(model=model, params=params, frame=frame, use_warp=use_warp)
  view = View(c2w=jnp.asarray(c2w), intrinsics=jnp.asarray(intrinsics, jnp.float32),
              background=jnp.asarray(bg_image), near=near, far=far)
  mode = MarchMode(ml_collections.FrozenConfigDict(config), train=False)
  return march_image(field, view, key, mode)[0]
