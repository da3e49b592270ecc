"""Volume rendering of DFRF rays: coarse samples, importance resampling, fine samples (the dense path).

Everything a frame shares (the audio code, the reference feature maps, the reference poses) is computed
once per frame by the caller and passed in as a `FrameInputs`; the functions here only march rays.
"""

from collections.abc import Callable
import functools

import chex
import jax
import jax.numpy as jnp
import ml_collections

from dfrf_jax.model.dfrf import DFRF
from dfrf_jax.render import cameras
from dfrf_jax.render.compositing import Composite, composite
from dfrf_jax.render.sampling import coarse_z, fine_z


# A pass's raw densities [R, S] -> the standard deviation of the noise added to them ([] traced).
DensityNoise = Callable[[jax.Array], jax.Array]


@chex.dataclass(frozen=True)
class FrameInputs:
  """Per-frame conditioning shared by every ray of the frame.

  audio_code: [dim_aud] the frame's audio code A.
  ref_features: [N, H, W, C] reference feature maps.
  ref_poses: [N, 3, 4] reference camera-to-world matrices.
  focal: [] focal length of the references in pixels.
  """
  audio_code: jax.Array
  ref_features: jax.Array
  ref_poses: jax.Array
  focal: jax.Array


@chex.dataclass(frozen=True)
class RenderOutput:
  """Coarse and fine results for R rays.

  coarse, fine: `Composite` of each pass (rgb [R, 3], disp, acc, depth, last_weight [R], weights [R, S]).
  z_fine: [R, S_c + S_i] fine sample depths.
  offsets_fine: [N, R, S_c + S_i, 2] warp offsets of the fine samples (pixels).
  sigma_coarse: [R, S_c] raw density of the coarse samples (before the relu).
  sigma_fine: [R, S_c + S_i] raw density of the fine samples.
  z_std: [R] standard deviation of the importance samples.
  """
  coarse: Composite
  fine: Composite
  z_fine: jax.Array
  offsets_fine: jax.Array
  sigma_coarse: jax.Array
  sigma_fine: jax.Array
  z_std: jax.Array


def frame_inputs(model: DFRF, params: dict, audio_code: jax.Array, ref_images: jax.Array,
                 ref_poses: jax.Array, focal: jax.Array | float) -> FrameInputs:
  """Computes the per-frame conditioning once (the reference CNN runs here, not per ray chunk)."""
  features = model.apply({'params': params}, ref_images, ref_poses, method=DFRF.reference_features)
  return FrameInputs(audio_code=audio_code, ref_features=features, ref_poses=ref_poses,
                     focal=jnp.asarray(focal, jnp.float32))


def _query_pass(model: DFRF, params: dict, frame: FrameInputs, rays_o: jax.Array, rays_d: jax.Array,
                z: jax.Array, key: jax.Array | None, fine: bool, use_warp: bool):
  """Evaluates one field at rays_o + z * rays_d: returns raw [R, S, 4] and offsets [N, R, S, 2]."""
  num_rays, num_samples = z.shape
  points = (rays_o[:, None, :] + rays_d[:, None, :] * z[..., None]).reshape(-1, 3)
  viewdirs = rays_d / jnp.linalg.norm(rays_d, axis=-1, keepdims=True)
  viewdirs = jnp.broadcast_to(viewdirs[:, None, :], (num_rays, num_samples, 3)).reshape(-1, 3)
  m = model.config
  noise = None
  if m.slot_init == 'random':
    if key is None:
      raise ValueError("config.model.slot_init='random' draws slot noise: pass a PRNG key to render.")
    noise = jax.random.normal(key, (points.shape[0], m.num_slots, m.slot_dim), jnp.float32)
  elif m.slot_init != 'mean':
    raise ValueError(f"config.model.slot_init must be 'random' or 'mean', got {m.slot_init!r}")
  out = model.apply({'params': params}, points, viewdirs, frame.audio_code, frame.ref_features,
                    frame.ref_poses, frame.focal, noise, fine, use_warp, method=DFRF.query)
  num_refs = frame.ref_poses.shape[0]
  return (out.raw.reshape(num_rays, num_samples, 4),
          out.offsets.reshape(num_refs, num_rays, num_samples, 2))


def render_rays(model: DFRF, params: dict, frame: FrameInputs, rays_o: jax.Array, rays_d: jax.Array,
                bg_rgb: jax.Array, near: float, far: float, render_config: ml_collections.ConfigDict,
                key: jax.Array | None, train: bool, use_warp: bool = True,
                density_noise: DensityNoise | None = None) -> RenderOutput:
  """Renders R rays with the coarse field, then the fine field on the union of both sample sets.

  Args:
    model, params: the DFRF module and its parameters.
    frame: per-frame conditioning from `frame_inputs`.
    rays_o: [R, 3] origins, world units. rays_d: [R, 3] unnormalised directions (unit camera depth).
    bg_rgb: [R, 3] in [0, 1], the colour of each ray's last sample (torso/background plate pixel).
    near, far: depth bounds.
    render_config: the `render` config section (N_samples, N_importance, lindisp, perturb,
      raw_noise_std, white_bkgd).
    key: PRNG key for stratified sampling, density noise and slot noise (None: deterministic, needs
      `model.slot_init == 'mean'`).
    train: training mode (stratified sampling when `perturb`; density noise when raw_noise_std > 0).
    use_warp: apply the warp module (False: the paper's warp-free first training stage).
    density_noise: with `train`, the rule that gives each pass its density-noise standard
      deviation from the pass's raw densities (train/step.py `density_noise_rule`) instead of
      render_config.raw_noise_std.

  Returns:
    RenderOutput.
  """
  chex.assert_shape([rays_o, rays_d, bg_rgb], (rays_o.shape[0], 3))
  r = render_config
  keys = [None] * 6 if key is None else list(jax.random.split(key, 6))
  k_strat, k_pdf, k_slot_c, k_slot_f, k_noise_c, k_noise_f = keys
  randomise = train and r.perturb

  def noise_std(raw: jax.Array) -> float | jax.Array:
    if not train:
      return 0.0
    return r.raw_noise_std if density_noise is None else density_noise(raw[..., 3])


  z = coarse_z(near, far, r.N_samples, lindisp=r.lindisp, key=k_strat if randomise else None)
  z = jnp.broadcast_to(z, (rays_o.shape[0], r.N_samples))
  raw_coarse, _ = _query_pass(model, params, frame, rays_o, rays_d, z, k_slot_c, fine=False,
                              use_warp=use_warp)
  coarse = composite(raw_coarse, z, rays_d, bg_rgb, white_bkgd=r.white_bkgd,
                     raw_noise_std=noise_std(raw_coarse), key=k_noise_c)

  depths = fine_z(z, coarse.weights, r.N_importance, key=k_pdf if randomise else None)
  z_all = depths.z
  raw, offsets = _query_pass(model, params, frame, rays_o, rays_d, z_all, k_slot_f, fine=True,
                                use_warp=use_warp)
  fine = composite(raw, z_all, rays_d, bg_rgb, white_bkgd=r.white_bkgd,
                   raw_noise_std=noise_std(raw), key=k_noise_f)
  return RenderOutput(coarse=coarse, fine=fine, z_fine=z_all, offsets_fine=offsets,
                      sigma_coarse=raw_coarse[..., 3], sigma_fine=raw[..., 3], z_std=jnp.std(depths.samples, -1))


@chex.dataclass(frozen=True)
class ImageOutput:
  """Per-pixel results of a whole frame: rgb/rgb0 [H, W, 3]; disp, acc, acc0, depth, last_weight [H, W]."""
  rgb: jax.Array
  rgb0: jax.Array
  disp: jax.Array
  acc: jax.Array
  acc0: jax.Array
  depth: jax.Array
  last_weight: jax.Array


@functools.partial(jax.jit,
                   static_argnames=('model', 'height', 'width', 'render_config', 'chunk', 'use_warp'))
def render_image(model: DFRF, params: dict, frame: FrameInputs, c2w: jax.Array, bg_image: jax.Array,
                 intrinsics: jax.Array, near: float, far: float, key: jax.Array | None, *,
                 height: int, width: int, render_config: ml_collections.FrozenConfigDict,
                 chunk: int, use_warp: bool = True) -> ImageOutput:
  """Renders every pixel of one frame, `chunk` rays at a time inside one compiled program (`lax.map`).

  Args:
    model, params, frame: as for `render_rays`.
    c2w: [3, 4] target camera. bg_image: [H, W, 3] the frame's torso/background plate.
    intrinsics: [3] (focal, cx, cy) in pixels for the target rays.
    near, far: depth bounds. key: PRNG key (slot noise), or None with `slot_init='mean'`.
    height, width: image size. chunk: rays per step (H * W is padded up to a multiple of it).
    use_warp: apply the warp module (False: a model still in the paper's warp-free stage).
  """
  pixels = cameras.image_pixels(height, width).reshape(-1, 2)
  rays_o, rays_d = cameras.pixel_rays(pixels, c2w, intrinsics[0], intrinsics[1], intrinsics[2])
  bg = bg_image.reshape(-1, 3)
  num = height * width
  num_chunks = -(-num // chunk)
  pad = num_chunks * chunk - num

  def chunked(x):
    x = jnp.concatenate([x, jnp.broadcast_to(x[-1:], (pad,) + x.shape[1:])])
    return x.reshape((num_chunks, chunk) + x.shape[1:])

  def one_chunk(args):
    o, d, b, k = args
    out = render_rays(model, params, frame, o, d, b, near, far, render_config, k, train=False,
                      use_warp=use_warp)
    return ImageOutput(rgb=out.fine.rgb, rgb0=out.coarse.rgb, disp=out.fine.disp, acc=out.fine.acc,
                       acc0=out.coarse.acc, depth=out.fine.depth, last_weight=out.fine.last_weight)

  keys = None if key is None else jax.random.split(key, num_chunks)
  out = jax.lax.map(one_chunk, (chunked(rays_o), chunked(rays_d), chunked(bg), keys))
  return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:])[:num].reshape(
      (height, width) + x.shape[2:]), out)
