"""Renders one held-out frame during training, for the validation image summary."""

import chex
import jax
import ml_collections
import numpy as np

from dfrf_jax.data.audio_windows import smoothing_window
from dfrf_jax.data.dataset import Identity, split_aud_windows
from dfrf_jax.data.references import render_references
from dfrf_jax.model.dfrf import DFRF, audio_code
from dfrf_jax.render.renderer import frame_inputs, render_image
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


def render_val(model: DFRF, params: Params, frame: ValFrame, config: ml_collections.ConfigDict,
               near: float, far: float, key: jax.Array, smoothing: bool,
               use_warp: bool) -> tuple[np.ndarray, float]:
  """Renders `frame` with the current params: ([H, W, 3] fine rgb, its PSNR in dB)."""
  code = audio_code(model, params, frame.aud, smoothing)
  inputs = frame_inputs(model, params, code, frame.ref_images, frame.ref_poses, frame.intrinsics[0])
  height, width = frame.image.shape[:2]
  out = render_image(model, params, inputs, frame.c2w, frame.bg, frame.intrinsics, near, far, key,
                     height=height, width=width,
                     render_config=ml_collections.FrozenConfigDict(config.render),
                     chunk=config.render.chunk, use_warp=use_warp)
  rgb = np.asarray(out.rgb)
  return rgb, float(losses.psnr(np.mean((rgb - frame.image) ** 2)))
