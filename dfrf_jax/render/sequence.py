"""Renders a sequence of frames of one identity: its test set, or its poses driven by other audio.

Everything a sequence shares is computed once: the reference feature maps (the references are fixed
at render time, as the authors' `refer_from_train`) and the audio codes of all frames. Each frame then
only marches its rays.

With audio longer than the pose list, poses and torso plates play forwards then backwards
(ping-pong) so that the whole audio is rendered; the authors' code stops at the pose list instead.
"""

from collections.abc import Iterator
import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from dfrf_jax.data.audio_windows import smoothing_window
from dfrf_jax.data.dataset import Identity, Split
from dfrf_jax.data.references import render_references
from dfrf_jax.model.dfrf import DFRF, audio_code
from dfrf_jax.render import march_state, occupancy
from dfrf_jax.render.rays import Field, FrameInputs, ImageOutput, MarchMode, View, frame_inputs
from dfrf_jax.render.renderer import render_frame


@dataclasses.dataclass(frozen=True)
class SequencePlan:
  """Which pose/plate and which audio window each output frame uses.

  positions: [T] positions in `split` (poses, torso plates, ground truth).
  windows: [T, 16, D] audio feature windows, one per output frame.
  has_ground_truth: whether frame t's target is `split`'s image at positions[t] (self-driven).
  """
  split: Split
  positions: np.ndarray
  windows: np.ndarray
  has_ground_truth: bool


def ping_pong(num_frames: int, length: int) -> np.ndarray:
  """[num_frames] indices into a list of `length`, going 0..length-1 then back, repeatedly."""
  if length < 1:
    raise ValueError(f'cannot play {num_frames} frames from an empty pose list')
  if length == 1:
    return np.zeros(num_frames, np.int64)
  period = 2 * (length - 1)
  phase = np.arange(num_frames) % period
  return np.where(phase < length, phase, period - phase).astype(np.int64)


def self_driven_plan(identity: Identity, split: Split, max_frames: int | None = None) -> SequencePlan:
  """The split's own frames with their own audio (reconstruction of the test set)."""
  count = len(split) if max_frames is None else min(max_frames, len(split))
  windows = identity.aud[np.minimum(split.aud_ids[:count], len(identity.aud) - 1)]
  return SequencePlan(split=split, positions=np.arange(count), windows=windows,
                      has_ground_truth=True)


def driven_plan(split: Split, windows: np.ndarray, max_frames: int | None = None) -> SequencePlan:
  """New audio windows [T, 16, D] over the split's poses and plates (ping-pong when T > len)."""
  count = len(windows) if max_frames is None else min(max_frames, len(windows))
  return SequencePlan(split=split, positions=ping_pong(count, len(split)), windows=windows[:count],
                      has_ground_truth=False)


def audio_swap_plan(plan: SequencePlan) -> SequencePlan:
  """The same poses and plates driven by the plan's audio windows in reverse order (no ground truth)."""
  return dataclasses.replace(plan, windows=np.asarray(plan.windows)[::-1], has_ground_truth=False)


def audio_codes(model: DFRF, params: dict, windows: np.ndarray, smoothing: bool) -> jax.Array:
  """Audio codes of every frame, by the training step's own `audio_code`: [T, 16, D] -> [T, dim_aud].

  Without smoothing, AudioNet of each frame's window. With smoothing (a model trained past
  `nosmo_iters`), AudioAttNet over frames t-4..t+3 of the sequence, zero windows beyond its ends.
  """
  smo = model.config.smo_size
  stacks = np.stack([smoothing_window(windows, t, smo, valid_count=len(windows))
                     for t in range(len(windows))])
  encode = jax.jit(jax.vmap(lambda w: audio_code(model, params, w, smoothing)))
  return encode(jnp.asarray(stacks))


def _plan_inputs(model: DFRF, params: dict, config: ml_collections.ConfigDict, identity: Identity,
                 plan: SequencePlan, step: int) -> tuple[jax.Array, FrameInputs]:
  """The plan's audio codes [T, dim_aud] and the frame inputs its frames share (fixed references)."""
  train = identity.train
  refs = render_references(train, tuple(config.data.test_ref_positions),
                           config.model.num_reference_images)
  ref_images = jnp.asarray(np.stack([identity.image(train, r) for r in refs]))
  ref_poses = jnp.asarray(train.poses[refs])
  smoothing = step >= config.train.nosmo_iters
  codes = audio_codes(model, params, plan.windows, smoothing)
  return codes, frame_inputs(model, params, codes[0], ref_images, ref_poses,
                             identity.intrinsics.focal)


def plan_occupancy(model: DFRF, params: dict, config: ml_collections.ConfigDict,
                   identity: Identity, plan: SequencePlan, near: float, far: float, step: int,
                   key: jax.Array) -> occupancy.OccupancyGrid:
  """The grid `render_plan` builds for `plan` when it is given none (`march_state.plan_grid`).

  Args are those of `render_plan`; `key` draws the point measured in each cell.
  """
  codes, shared = _plan_inputs(model, params, config, identity, plan, step)
  return march_state.plan_grid(model, params, config, plan.split.poses[plan.positions],
                               identity.intrinsics, shared, codes, near, far, key)


def render_plan(model: DFRF, params: dict, config: ml_collections.ConfigDict, identity: Identity,
                plan: SequencePlan, near: float, far: float, step: int, key: jax.Array,
                grid: occupancy.OccupancyGrid | None = None) -> Iterator[ImageOutput]:
  """Renders the frames of `plan`, one `ImageOutput` ([H, W, ...] arrays) at a time.

  Args:
    model, params: the trained model.
    config: the run's config (render, data, model and train.nosmo_iters are read).
    identity: the identity whose train frames give the references.
    plan: what to render.
    near, far: depth bounds.
    step: the checkpoint's global step (smoothing is on when step >= config.train.nosmo_iters,
      as the authors decide at render time).
    key: PRNG key; frame t uses fold_in(key, t) for its slot noise.
    grid: the accelerated sampler's occupancy grid (`march_state.for_plan`): one trained with the
      model (`checkpoints.load_occupancy`, `render.accel.grid_resolution` cells per axis), refined
      for the plan, or one already refined (`plan_occupancy`), used as it is. None, or a grid of
      another resolution: a grid is built for the plan. The dense sampler ignores it. A trained grid
      covers the training cameras' frusta: points outside count as empty.
  """
  codes, shared = _plan_inputs(model, params, config, identity, plan, step)
  cam = identity.intrinsics
  intrinsics = jnp.array([cam.focal, cam.cx, cam.cy], jnp.float32)
  mode = MarchMode(ml_collections.FrozenConfigDict(config.render))
  key, grid_key = jax.random.split(key)
  state = march_state.for_plan(model, params, config, plan.split.poses[plan.positions], cam, shared,
                               codes, near, far, grid_key, grid)
  for t, position in enumerate(plan.positions):
    field = Field(model=model, params=params, frame=shared.replace(audio_code=codes[t]))
    view = View(c2w=jnp.asarray(plan.split.poses[position]), intrinsics=intrinsics,
                background=jnp.asarray(identity.background(plan.split, int(position))),
                near=near, far=far)
    image, _, state = render_frame(field, view, jax.random.fold_in(key, t), mode, state)
    yield image


def render_sequence(model: DFRF, params: dict, config: ml_collections.ConfigDict, identity: Identity,
                    plan: SequencePlan, near: float, far: float, step: int, key: jax.Array,
                    show_progress: bool = False,
                    grid: occupancy.OccupancyGrid | None = None) -> np.ndarray:
  """All frames of `plan` (`render_plan`, with its `grid`) as one array [T, H, W, 3] in [0, 1].

  `show_progress` prints a tqdm bar on stderr.
  """
  outputs = render_plan(model, params, config, identity, plan, near, far, step, key, grid)
  if show_progress:
    outputs = tqdm.tqdm(outputs, total=len(plan.positions), desc='render', unit='frame')
  return np.stack([np.clip(np.asarray(out.rgb), 0.0, 1.0) for out in outputs])
