"""What both ray marchers share: the rays, the field they cross, the marching mode, the keys, the outputs.

  Rays        a batch of rays: origins, directions, background colour, near and far bounds
  View        one camera's image: pose, intrinsics and background plate (its rays: `View.rays`)
  FrameInputs per-frame conditioning (audio code, reference feature maps), computed once per frame
  Field       the model, its params and one frame's conditioning: what a sample is evaluated with
  MarchMode   the render config, training or not, and the density-noise rule of training
  RayKeys     the six PRNG keys of a march, split once from the caller's key

`renderer.march` takes (Field, Rays, key, MarchMode, marching state) and returns a `RenderOutput`.
"""

from collections.abc import Callable
import dataclasses
from typing import NamedTuple

import chex
from flax import struct
import jax
import jax.numpy as jnp
import ml_collections

from dfrf_jax.model.dfrf import DFRF, QueryOutput
from dfrf_jax.render import cameras
from dfrf_jax.render.compositing import Composite

# A pass's raw densities [R, S] -> the standard deviation of the noise added to them ([] traced).
DensityNoise = Callable[[jax.Array], jax.Array]
# A pass's noisy raw densities [R, S] -> whether its density passes the identity's gradient ([]
# traced bool; compositing.density).
RevivalRule = Callable[[jax.Array], jax.Array]


@struct.dataclass
class Rays:
  """R rays.

  origins: [R, 3] world units. directions: [R, 3] unnormalised (unit camera depth).
  background: [R, 3] in [0, 1], the colour of each ray's last sample (torso/background plate pixel).
  near, far: [] (or [R]) depth bounds, in units of the direction's camera depth.
  trains_audio: [R] bool, the rays whose gradient reaches the audio code (training with
    `train.audio_from_face_only`: the face-rectangle rays); None: every ray's does.
  """
  origins: jax.Array
  directions: jax.Array
  background: jax.Array
  near: jax.Array | float
  far: jax.Array | float
  trains_audio: jax.Array | None = None

  @property
  def num(self) -> int:
    return self.origins.shape[0]

  def check(self) -> None:
    """chex-asserts the [R, 3] shapes (and [R] of trains_audio)."""
    chex.assert_shape([self.origins, self.directions, self.background], (self.num, 3))
    if self.trains_audio is not None:
      chex.assert_shape(self.trains_audio, (self.num,))

  def viewdirs(self) -> jax.Array:
    """[R, 3] unit directions."""
    return self.directions / jnp.linalg.norm(self.directions, axis=-1, keepdims=True)

  def points(self, z: jax.Array) -> jax.Array:
    """origins + z * directions at depths z [R, S] -> [R, S, 3]."""
    return self.origins[:, None, :] + self.directions[:, None, :] * z[..., None]

  def sample_trains_audio(self, num_samples: int) -> jax.Array | None:
    """`trains_audio` of each ray repeated for each of its samples: [R * num_samples] ray-major, or
    None."""
    if self.trains_audio is None:
      return None
    return jnp.repeat(self.trains_audio, num_samples)


@struct.dataclass
class View:
  """One camera's whole image.

  c2w: [3, 4] camera-to-world. intrinsics: [3] (focal, cx, cy) in pixels.
  background: [H, W, 3] the frame's torso/background plate (its shape is the image size).
  near, far: [] depth bounds.
  """
  c2w: jax.Array
  intrinsics: jax.Array
  background: jax.Array
  near: jax.Array | float
  far: jax.Array | float

  @property
  def height(self) -> int:
    return self.background.shape[0]

  @property
  def width(self) -> int:
    return self.background.shape[1]

  def rays(self) -> Rays:
    """The H * W rays of the image, row-major."""
    pixels = cameras.image_pixels(self.height, self.width).reshape(-1, 2)
    origins, directions = cameras.pixel_rays(pixels, self.c2w, self.intrinsics[0],
                                             self.intrinsics[1], self.intrinsics[2])
    return Rays(origins=origins, directions=directions, background=self.background.reshape(-1, 3),
                near=self.near, far=self.far)


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


def frame_inputs(model: DFRF, params: dict, audio_code: jax.Array, ref_images: jax.Array,
                 ref_poses: jax.Array, focal: jax.Array | float) -> FrameInputs:
  """Computes the per-frame conditioning once (the reference CNN runs here, not per ray chunk)."""
  features = model.apply({'params': params}, ref_images, ref_poses, method=DFRF.reference_features)
  return FrameInputs(audio_code=audio_code, ref_features=features, ref_poses=ref_poses,
                     focal=jnp.asarray(focal, jnp.float32))


@struct.dataclass
class Field:
  """What a sample is evaluated with: the module (static), its params, one frame's conditioning.

  use_warp: apply the warp module (False: the paper's warp-free first training stage).
  """
  model: DFRF = struct.field(pytree_node=False)
  params: dict
  frame: FrameInputs
  use_warp: bool = struct.field(pytree_node=False, default=True)

  @property
  def num_refs(self) -> int:
    return self.frame.ref_poses.shape[0]

  def query(self, points: jax.Array, viewdirs: jax.Array, fields: tuple[bool, ...],
            slot_key: jax.Array | None, trains_audio: jax.Array | None = None) -> QueryOutput:
    """`DFRF.query_fields` at P samples: raw [P, len(fields), 4], offsets [N, P, 2].

    points: [P, 3] world units; viewdirs: [P, 3] unit; fields: False coarse, True fine. The slot
    noise (`slot_init='random'`) is drawn by the model from `slot_key` (its 'slots' rng stream).
    trains_audio: [P] bool or None, the samples whose gradient reaches the audio code
    (`gated_audio_code`).
    """
    if self.model.config.slot_init == 'random' and slot_key is None:
      raise ValueError("config.model.slot_init='random' draws slot noise: pass a PRNG key to render.")
    f = self.frame
    rngs = {} if slot_key is None else {'slots': slot_key}
    return self.model.apply({'params': self.params}, points, viewdirs, f.audio_code,
                            f.ref_features, f.ref_poses, f.focal, None, fields, self.use_warp,
                            trains_audio, method=DFRF.query_fields, rngs=rngs)

  def radiance(self, fused: jax.Array, points: jax.Array, viewdirs: jax.Array,
               fine: bool, trains_audio: jax.Array | None = None) -> jax.Array:
    """`DFRF.radiance` of one field from given aggregated features fused [P, S*D]: raw [P, 4].

    points: [P, 3] world units; viewdirs: [P, 3] unit; trains_audio: [P] bool or None, as `query`.
    """
    return self.model.apply({'params': self.params}, fused, points, viewdirs,
                            self.frame.audio_code, fine, trains_audio, method=DFRF.radiance)


@dataclasses.dataclass(frozen=True)
class MarchMode:
  """How rays are marched (hashable: a static argument of compiled renders).

  render_config: the `render` config section (N_samples, N_importance, lindisp, perturb,
    raw_noise_std, white_bkgd, chunk, and `accel` for the accelerated marcher).
  train: training mode (stratified depths with `perturb`, density noise, the training termination
    threshold).
  density_noise: with `train`, the rule giving each pass its density-noise standard deviation
    (train/step.py `density_noise_rule`) instead of render_config.raw_noise_std.
  revival: with `train`, the rule saying which passes, after that noise, revive their density
    (train/step.py `gradient_revival_rule`); None: none does.
  """
  render_config: ml_collections.ConfigDict | ml_collections.FrozenConfigDict
  train: bool = False
  density_noise: DensityNoise | None = None
  revival: RevivalRule | None = None

  def noise_std(self, raw: jax.Array) -> float | jax.Array:
    """Density-noise standard deviation of a pass with raw outputs [R, S, 4]."""
    if not self.train:
      return 0.0
    if self.density_noise is None:
      return self.render_config.raw_noise_std
    return self.density_noise(raw[..., 3])

  @property
  def revival_rule(self) -> RevivalRule | None:
    """`revival` in training, else None."""
    return self.revival if self.train else None

  @property
  def randomise(self) -> bool:
    """Stratified coarse depths and random importance samples."""
    return self.train and bool(self.render_config.perturb)


class RayKeys(NamedTuple):
  """The keys of one march (all None for a deterministic march)."""
  strata: jax.Array | None
  pdf: jax.Array | None
  slots_coarse: jax.Array | None
  slots_fine: jax.Array | None
  noise_coarse: jax.Array | None
  noise_fine: jax.Array | None


def ray_keys(key: jax.Array | None) -> RayKeys:
  """Splits a march's key into its six streams (None -> all None)."""
  return RayKeys(*([None] * 6 if key is None else jax.random.split(key, 6)))


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
  offsets_fine: jax.Array | None
  sigma_coarse: jax.Array
  sigma_fine: jax.Array
  z_std: jax.Array


@chex.dataclass(frozen=True)
class ImageOutput:
  """Per-pixel results: rgb/rgb0 [..., 3]; disp, acc, acc0, depth, last_weight [...] ([H, W] a frame)."""
  rgb: jax.Array
  rgb0: jax.Array
  disp: jax.Array
  acc: jax.Array
  acc0: jax.Array
  depth: jax.Array
  last_weight: jax.Array


def image_output(out: RenderOutput) -> ImageOutput:
  """The per-pixel outputs of rendered rays (no per-sample arrays)."""
  return ImageOutput(rgb=out.fine.rgb, rgb0=out.coarse.rgb, disp=out.fine.disp, acc=out.fine.acc,
                     acc0=out.coarse.acc, depth=out.fine.depth, last_weight=out.fine.last_weight)
