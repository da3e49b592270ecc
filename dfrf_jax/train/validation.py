"""One val frame with its fixed render-time references: loading it and rendering it with the dense sampler.

Training renders `config.train.val_frame` for its image summary; `dfrf_jax.api.render_frame` is the same
function for notebooks.
"""

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dfrf_jax.data.audio_windows import smoothing_window
from dfrf_jax.data.dataset import Identity, split_aud_windows
from dfrf_jax.data.references import render_references
from dfrf_jax.model.dfrf import DFRF, audio_code
from dfrf_jax.render.rays import Field, MarchMode, View, frame_inputs
from dfrf_jax.render.renderer import march_image
from dfrf_jax.train import losses
from dfrf_jax.train.state import Params


@chex.dataclass(frozen=True)
class ValFrame:
  """A val frame and its fixed render-time references (numpy).

  image, bg: [H, W, 3] in [0, 1]. c2w: [3, 4]. intrinsics: [3] (focal, cx, cy).
  aud: [smo_size, 16, D] its audio window in the val list. ref_images: [N, H, W, 3]. ref_poses: [N, 3, 4].
  """
  image: np.ndarray
  bg: np.ndarray
  c2w: np.ndarray
  intrinsics: np.ndarray
  aud: np.ndarray
  ref_images: np.ndarray
  ref_poses: np.ndarray


def load_val_frame(identity: Identity, config: ml_collections.ConfigDict) -> ValFrame:
  """Val frame `config.train.val_frame` of `identity`, with the references rendering uses."""
  val, train = identity.val, identity.train
  index = config.train.val_frame
  if not 0 <= index < len(val):
    raise ValueError(f'config.train.val_frame = {index}, expected 0..{len(val) - 1} '
                     f'({val.source} has {len(val)} frames)')
  refs = render_references(train, tuple(config.data.test_ref_positions),
                           config.model.num_reference_images)
  cam = identity.intrinsics
  return ValFrame(
      image=identity.image(val, index), bg=identity.background(val, index),
      c2w=np.asarray(val.poses[index]),
      intrinsics=np.array([cam.focal, cam.cx, cam.cy], np.float32),
      aud=smoothing_window(split_aud_windows(identity, val), index, config.model.smo_size,
                           valid_count=len(val)),
      ref_images=np.stack([identity.image(train, r) for r in refs]),
      ref_poses=np.asarray(train.poses[refs]))


def render_frame(model: DFRF, params: Params, config: ml_collections.ConfigDict, frame: ValFrame,
                 near: float, far: float, key: jax.Array | None, smoothing: bool = True,
                 use_warp: bool = True) -> jax.Array:
  """Renders one frame with the dense sampler.

  Args:
    model, params: the DFRF module and its params.
    config: the run config (its `render` section).
    frame: pose, intrinsics, torso/background plate, audio window [smo_size, 16, D] and references;
      any field may be replaced (`frame.replace(aud=...)`), e.g. to drive it with other audio.
    near, far: depth bounds, world units.
    key: PRNG key of the slot noise; None only with `model.slot_init = 'mean'`.
    smoothing: blend the audio codes with AudioAttNet (on once step >= `train.nosmo_iters`).
    use_warp: apply the warp module (on once step >= `train.warp_start_step`).

  Returns:
    [H, W, 3] fine colour in [0, 1]; H x W is the size of `frame.bg`.
  """
  chex.assert_rank([frame.bg, frame.c2w, frame.intrinsics, frame.ref_images], [3, 2, 1, 4])
  code = audio_code(model, params, frame.aud, smoothing)
  field = Field(model=model, params=params, use_warp=use_warp,
                frame=frame_inputs(model, params, code, frame.ref_images, frame.ref_poses,
                                   frame.intrinsics[0]))
  view = View(c2w=jnp.asarray(frame.c2w), intrinsics=jnp.asarray(frame.intrinsics, jnp.float32),
              background=jnp.asarray(frame.bg), near=near, far=far)
  out, _ = march_image(field, view, key, MarchMode(ml_collections.FrozenConfigDict(config.render)))
  return out.rgb


def render_val(model: DFRF, params: Params, frame: ValFrame, config: ml_collections.ConfigDict,
               near: float, far: float, key: jax.Array, smoothing: bool,
               use_warp: bool) -> tuple[np.ndarray, float]:
  """Renders `frame` with the current params: ([H, W, 3] fine rgb, its PSNR in dB)."""
  rgb = np.asarray(render_frame(model, params, config, frame, near, far, key, smoothing, use_warp))
  return rgb, float(losses.psnr(np.mean((rgb - frame.image) ** 2)))
