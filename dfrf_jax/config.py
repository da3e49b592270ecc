"""The one default configuration every config file in configs/ starts from, and its checks.

Field names follow the authors' argparse flags where one exists (their name is given in the comment), so
a reader of `run_nerf_deform.py` finds each setting. Defaults are the authors' code defaults; where the
paper differs, the paper's variant is a switch (documented next to it). `validate` range-checks a
config before a run starts; `check_field` tells a mistyped field name from a real one.
"""

import ast
import difflib
import math
from typing import Any

import ml_collections

from dfrf_jax.errors import UserError


class ConfigError(UserError, ValueError):
  """A config field that does not exist, or a config value outside its allowed range."""


def default_config() -> ml_collections.ConfigDict:
  """Returns the authors' code defaults (their fine-tune run, `run.sh`)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.data_dir = ''          # datadir: an identity folder (holds `0/`) or a base-model folder (holds `0/`, `1/`, ...)
  c.init_from = ''         # ft_path: a workdir, an orbax checkpoint dir, or one imported from the authors' .tar
  # Arithmetic of the networks' kernel products: 'float32' (the authors'), or 'bf16' (bfloat16 inputs,
  # float32 accumulation and outputs; parameters and everything else stay float32). For GPUs.
  c.precision = 'float32'

  m = c.model = ml_collections.ConfigDict()
  m.netdepth = 8           # netdepth / netdepth_fine
  m.netwidth = 256         # netwidth (coarse field)
  m.netwidth_fine = 256    # netwidth_fine
  m.skips = (4,)           # layer after which the input is concatenated again
  m.multires = 10          # PE frequencies of 3D points
  m.multires_views = 4     # PE frequencies of view directions
  m.multires_ref = 5       # PE frequencies of reference RGB and camera centres
  m.use_viewdirs = True    # use_viewdirs (store_false flag: on by default)
  m.dim_aud = 64           # dim_aud: AudioNet output width
  m.aud_feature_dim = 29   # width of one audio feature row (29 DeepSpeech logits)
  m.win_size = 16          # win_size: rows of one audio window
  m.smo_size = 8           # smo_size: AudioAttNet window (frames)
  m.audatt_channels = 32   # channels AudioAttNet computes its attention from (code: first 32 of 64)
  m.num_reference_images = 4  # num_reference_images
  m.feature_hidden = 64    # reference CNN conv width
  m.feature_dim = 128      # reference CNN output width (paper's D)
  m.warp_hidden = (128, 32)
  m.max_offset = 10.0      # warp offsets are clamped to +-max_offset pixels
  m.num_slots = 2
  m.slot_dim = 128
  m.slot_iters = 2
  m.slot_side_dim = 32     # fc1/fc6 side MLP width
  # 'code': bilinear sampling at round(projection) + offset, as the authors' gather_indices does.
  # 'paper': at the unrounded projection + offset.
  m.warp_sample_point = 'code'
  # 'random': slots = mu + sigma * N(0, 1) on every call, as the authors do (also at test time).
  # 'mean': slots = mu (deterministic rendering).
  m.slot_init = 'random'

  r = c.render = ml_collections.ConfigDict()
  r.N_samples = 64         # N_samples
  r.N_importance = 128     # N_importance
  r.perturb = True         # perturb (training only; rendering is always deterministic)
  r.lindisp = False        # lindisp
  r.raw_noise_std = 0.0    # raw_noise_std
  r.white_bkgd = True      # white_bkgd (store_false flag: on by default)
  r.chunk = 1024           # rays per jitted render call
  r.near = 0.3             # near (dataset config.txt overrides; used only with
                           # data.allow_missing_near_far)
  r.far = 0.9              # far
  # 'accelerated': occupancy-grid empty-space skipping, compaction, early termination (this port's
  # renderer, render/accelerated.py). 'dense': every sample of every ray, as the authors' code (the
  # parity reference). Frames rendered (dfrf-render, render_sequence) use it; the training step's
  # rays and its validation image use the dense path. The authors have no such flag.
  r.sampler = 'accelerated'

  a = r.accel = ml_collections.ConfigDict()  # accelerated sampler only (no authors' flags)
  a.grid_resolution = 64        # occupancy cells per axis over the cameras' near-far box
  a.grid_refinements = 1        # render-time grids are refined this many times coarse to fine (each
                                # doubles the resolution, measuring only children of occupied cells)
  a.density_threshold = 0.5     # a cell is occupied when its stored max density exceeds this
                                # (training: capped at the grid's mean density)
  a.dilation = 1                # the grid is max-filtered over this many cells before skipping
  a.termination_threshold = 1e-2  # rendering: a ray stops below this transmittance (0: never)
  a.train_termination_threshold = 0.0  # the same in an accelerated train step (0: every occupied
                                       # sample gets a gradient, also behind opaque surfaces)
  a.train_selection = False     # an accelerated train step evaluates its occupied samples without
                                # gradients, then differentiates only the selected ones (below)
  a.train_alpha_threshold = 0.0  # ... those with positive raw density and opacity above this
  a.train_keep_transmittance = 1e-4  # ... and transmittance before them above this
  a.reuse_coarse_features = True  # the fine pass takes the coarse pass's aggregated feature F~ at
                                  # coarse depths (only the fine field runs there)
  a.interpolate_features = True  # rendering: the fine pass's importance samples take F~
                                # interpolated along the ray between the nearest coarse depths the
                                # coarse pass evaluated (only the fine field's MLP runs there)
  a.train_interpolate_features = False  # the same in an accelerated train step
  a.coarse_aggregation_stride = 1  # with interpolated features: F~ aggregated at every k-th occupied
                                   # coarse sample of a run along a ray (and the run's last), the
                                   # coarse samples between take it interpolated (1: at every one)
  a.num_segments = 4            # depth segments per pass (termination is checked between them;
                                # 1 where rays do not terminate: training by default)
  a.point_chunk = 0             # compacted samples per network call when rendering (0: 1024 on CPU,
                                # 65536 on GPU); a train step evaluates a segment in one call
  a.initial_fraction = 0.25     # first budget: this share of every segment's samples
  a.budget_headroom = 1.2       # next budget = requested samples x headroom ...
  a.budget_granularity = 1024   # ... rounded up to a multiple of this (fewer recompilations;
                                # finer for small segments, capped at the segment's samples)
  a.budget_shrink_below = 0.5   # refit a budget when what is needed falls below this share of it
  a.update_conditions = 4       # audio codes whose max density a render-time grid stores

  d = c.data = ml_collections.ConfigDict()
  d.bc_type = 'torso_imgs'  # bc_type: folder of per-frame last-sample colours
  d.test_file = 'transforms_val.json'
  d.N_rand = 850            # N_rand: rays per training step
  d.sample_rate = 0.95      # sample_rate: share of rays drawn inside face_rect
  d.face_rect_transposed = True  # the authors' row/column mix-up when testing face_rect
  # Share of rays drawn inside each frame's lip_rect, out of the face_rect share (no authors' flag:
  # their loader ignores lip_rect). 0: the authors' sampling. docs/training.md, "Mouth rays".
  d.lip_sample_rate = 0.0
  # Extra rays per step drawn outside face_rect, as a share of N_rand, on top of the N_rand rays (no
  # authors' flag): they keep floaters from growing where the authors' 5% outside share hardly
  # looks. None with sample_rate <= 0 (no face rectangle). 0: the authors' N_rand rays (with
  # train.audio_from_face_only = False, the authors' training). docs/training.md, "Extra rays
  # outside the face".
  d.extra_outside_rate = 0.1
  # refer_from_train: train-list positions of the fixed test-time references (the first
  # num_reference_images are used). () picks evenly spaced train positions instead, for clips
  # with fewer than 201 train frames.
  d.test_ref_positions = (50, 100, 150, 200)
  # An identity without near/far in its config.txt uses render.near/far instead of being an error.
  d.allow_missing_near_far = False

  # dfrf-preprocess: a user's video -> a dataset in the authors' layout (`dfrf_jax/preprocess/`).
  p = c.preprocess = ml_collections.ConfigDict()
  p.size = 512              # square frame side in pixels (the authors assume 512x512 input)
  p.fps = 25.0              # frame rate; audio windows are cut at stride 2 of rows at 2 * fps
  # Seconds of the clip used for training (the paper: 10/15/20 s); the rest is the val split.
  # The authors' step 7 instead puts the first half of the frames into training.
  p.train_seconds = 15.0
  p.focal_lengths = (900.0, 1300.0, 2000.0)  # tried at 512 px and scaled by size / 512 (AD-NeRF: 600..1500)
  p.pose_steps = 2000       # Adam steps of the head-pose bundle adjustment per focal length
  p.pose_smoothness = 1.0   # weight of the temporal (1, -2, 1) term on the rigid landmark tracks
  p.shape_prior = 1.0       # weight keeping the per-video landmark shape near the mean face
  a = p.audio = ml_collections.ConfigDict()
  a.sample_rate = 16000     # Hz, as the authors' `ffmpeg -ar 16000`
  a.num_mels = 29           # D: log-mel bands per row (29 = model.aud_feature_dim's default)
  a.window_seconds = 0.025  # analysis window (the authors' MFCC: 25 ms)
  a.fft_size = 512          # nfft (the authors' MFCC: 512)
  a.min_hz = 55.0           # lowest mel band edge
  a.max_hz = 7600.0         # highest mel band edge (below the 8 kHz Nyquist frequency)
  a.win_size = 16           # rows per window (= model.win_size)

  t = c.train = ml_collections.ConfigDict()
  t.lrate = 5e-4            # lrate
  t.lrate_decay = 500       # lrate_decay (x1500 steps per factor 10, as the code does)
  t.lrate_decay_unit = 1500
  t.audatt_lr_scale = 5.0
  t.L2loss_weight = 5e-8    # L2loss_weight (lambda of the offset regulariser)
  # 'code': mean(offset^2) * (1 - min(weight * z, 1)); 'paper': |offset| * (1 - sigma).
  t.offset_reg = 'code'
  t.nosmo_iters = 100000    # nosmo_iters
  t.N_iters = 600000        # N_iters
  t.i_weights = 5000        # i_weights (checkpoint period)
  t.i_print = 100           # i_print
  t.keep_checkpoints = 3
  t.i_img = 5000            # i_img (unused by the authors): period of the validation render summary
  t.val_frame = 0           # position in identity 0's val list rendered every i_img steps
  # The paper's base schedule trains warp-free first ("coarse stage") and switches the warp on at this
  # step; 0 is the authors' code (warp always on; their use_warp / translation_iter flags are unused).
  t.warp_start_step = 0
  # Fine-tuning from init_from, as the authors' ft_path: params are loaded, the optimiser is fresh.
  t.reinit_warp = True      # re-initialise the warp MLP (the authors never reload position_warp to train)
  # Global step a fine-tune starts at. The authors continue from base.tar's global_step (which sets the
  # lr and whether smoothing is on); -1 does that, 0 starts counting afresh.
  t.start_step = 0
  t.prefetch = 2            # host-side batches prepared ahead of the device
  # Reviving dead fields (no authors' flags; docs/training.md, "Dead fields"): a training pass in
  # which fewer than density_revive_below of the samples have positive raw density adds
  # N(0, density_revive_noise^2) to every raw density; where even then fewer than that share are
  # positive, its density passes the gradient of the identity instead of relu's (values unchanged).
  # Without revival one field stayed dead in about half of all runs from scratch, the authors' too.
  # The default 1e-4 means "no positive sample" at the test and demo batch sizes (448-7936 samples a
  # pass), and at most 0.01% at larger ones: a pass that gets no gradient through its density.
  # density_revive_below = 0: the authors' training.
  t.density_revive_below = 1e-4
  t.density_revive_noise = 1.0
  # Dead-field check (train/dead_fields.py; no authors' flag): training stops with an error once a
  # field's training PSNR has stayed within dead_field_min_gain_db of the background plate's for
  # dead_field_patience consecutive steps (0: no check).
  t.dead_field_patience = 200
  t.dead_field_min_gain_db = 1.0
  # True: the audio code (AudioNet, AudioAttNet) learns only from the rays inside face_rect; the
  # rays outside it (the authors' 1 - sample_rate share and data.extra_outside_rate's) see the code
  # behind a stop-gradient (no authors' flag). Without a face rectangle (sample_rate <= 0) every ray
  # trains it. False: the authors' training. docs/training.md, "Audio code from face rays only".
  t.audio_from_face_only = True
  # 'dense': every sample of every ray, as the authors. 'accelerated': the step renders with
  # render/accelerated.py over an occupancy grid the run maintains (render/march_state.py) and saves in its
  # checkpoints. No authors' flag for this one or the grid_* fields.
  t.sampler = 'dense'
  t.grid_update_every = 16      # steps between EMA updates of the grid
  t.grid_decay = 0.95           # EMA decay of a re-measured cell
  t.grid_update_cells = 4096    # random cells per update after the warm-up (0: every cell)
  t.grid_warmup_steps = 256     # updates at global steps up to this one measure every cell

  e = c.eval = ml_collections.ConfigDict()
  e.fps = 25                # frame rate of rendered videos (the authors' clips are 25 fps; no flag)
  e.audio_sample_rate = 16000  # rate new audio tracks are decoded at (DeepSpeech input; no flag)
  # LPIPS weights, read from these files and never downloaded (no authors' flag; they report none).
  # Both empty: LPIPS is not reported.
  e.lpips_alexnet_path = ''  # torchvision's alexnet-owt-7be5be79.pth
  e.lpips_lin_path = ''      # LPIPS' weights/v0.1/alex.pth
  return c


def use_authors_sampling(config: ml_collections.ConfigDict) -> None:
  """Sets `config`'s training rays to the authors' sampling, in place: their N_rand rays
  (`data.extra_outside_rate` 0) and every ray training the audio code
  (`train.audio_from_face_only` False). The command-line equivalent is
  `--config.data.extra_outside_rate=0 --config.train.audio_from_face_only=False`."""
  config.data.extra_outside_rate = 0.0
  config.train.audio_from_face_only = False


def check_field(config: ml_collections.ConfigDict, path: str, prefix: str = 'config') -> None:
  """Checks that the dotted `path` (e.g. 'train.N_iters') names a field of `config`.

  Raises:
    ConfigError: naming `prefix.path` and the closest existing field (difflib) or the section's
      fields, e.g. `--config.train.N_iterz: no such field; did you mean --config.train.N_iters?`.
  """
  node, done = config, []
  for name in path.split('.'):
    if not isinstance(node, ml_collections.ConfigDict) or name not in node:
      fields = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      close = difflib.get_close_matches(name, fields, n=1)
      expected = (f'did you mean {".".join([prefix, *done, close[0]])}?' if close else
                  f'expected one of {fields}' if fields else
                  f'{".".join([prefix, *done])} is a value, not a section')
      raise ConfigError(f'{".".join([prefix, *done, name])}: no such field; {expected}')
    node = node[name]
    done.append(name)


def with_new_defaults(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config` with every field it lacks and `default_config()` has set to today's default.

  A run saved by an older version lacks the fields added since; for inference (rendering, scoring,
  benchmarks) they take their defaults. Fields present keep their saved values. Returns a new config.
  """
  def fill(saved: ml_collections.ConfigDict, defaults: ml_collections.ConfigDict) -> None:
    for name, value in defaults.items():
      if name not in saved:
        saved[name] = value
      elif isinstance(value, ml_collections.ConfigDict) and isinstance(saved[name],
                                                                       ml_collections.ConfigDict):
        fill(saved[name], value)

  out = ml_collections.ConfigDict(config.to_dict())
  fill(out, default_config())
  return out


def set_field(config: ml_collections.ConfigDict, assignment: str) -> None:
  """Applies one `section.field=value` override, as the scripts' --set flags take it.

  The value is read as a Python literal (`5e-4`, `(2,)`, `'dense'`) or else kept as a string.

  Raises:
    ConfigError: no `=`, or no such field (`check_field`).
  """
  path, sep, text = assignment.partition('=')
  if not sep:
    raise ConfigError(f'--set={assignment}: expected section.field=value')
  check_field(config, path)
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = text
  *sections, name = path.split('.')
  node = config
  for section in sections:
    node = node[section]
  node[name] = value


# (dotted field, lowest allowed value, whether the lowest value itself is excluded).
_LOWER_BOUNDS = (
    ('data.N_rand', 1, False), ('render.N_samples', 2, False), ('render.N_importance', 0, False),
    ('render.chunk', 1, False), ('render.near', 0, False),
    ('train.N_iters', 1, False), ('train.lrate', 0, True), ('train.i_weights', 1, False),
    ('train.i_print', 1, False), ('train.i_img', 1, False), ('train.keep_checkpoints', 1, False),
    ('model.netdepth', 1, False), ('model.netwidth', 1, False), ('model.netwidth_fine', 1, False),
    ('model.dim_aud', 1, False), ('model.aud_feature_dim', 1, False), ('model.win_size', 1, False),
    ('model.smo_size', 1, False), ('model.num_reference_images', 1, False),
    ('model.feature_hidden', 1, False), ('model.feature_dim', 1, False),
    ('model.num_slots', 1, False), ('model.slot_dim', 1, False), ('model.slot_iters', 1, False),
    ('model.slot_side_dim', 1, False),
    ('train.density_revive_below', 0, False), ('train.density_revive_noise', 0, False),
    ('train.dead_field_patience', 0, False), ('train.dead_field_min_gain_db', 0, False),
    ('data.extra_outside_rate', 0, False), ('render.accel.coarse_aggregation_stride', 1, False),
)


def _value(config: ml_collections.ConfigDict, path: str) -> Any:
  for name in path.split('.'):
    config = config[name]
  return config


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the ranges of the config values a run depends on, before any work starts.

  Raises:
    ConfigError: naming the first field out of range, its value and the allowed range, e.g.
      `config.data.N_rand = -64: expected an integer >= 1`.
  """
  for path, low, strict in _LOWER_BOUNDS:
    value = _value(config, path)
    # ConfigDict keeps each field's type, so only the range is left to check.
    kind = 'an integer' if isinstance(value, int) else 'a finite number'
    if not math.isfinite(value) or value < low or (strict and value == low):
      raise ConfigError(f'config.{path} = {value!r}: expected {kind} {">" if strict else ">="} {low}')
  lips, face = config.data.lip_sample_rate, config.data.sample_rate
  if not 0 <= lips <= max(face, 0):
    raise ConfigError(f'config.data.lip_sample_rate = {lips!r}: expected a share >= 0 and at most '
                      f'config.data.sample_rate = {face!r} (mouth rays are part of the face rays)')
  a = config.render.accel
  if a.coarse_aggregation_stride > 1 and a.train_selection and a.train_interpolate_features:
    raise ConfigError('config.render.accel.coarse_aggregation_stride = '
                      f'{a.coarse_aggregation_stride} with train_interpolate_features: does not work '
                      'with config.render.accel.train_selection = True (set one of them off)')
  near, far = config.render.near, config.render.far
  if not near < far:
    raise ConfigError(f'config.render.near = {near!r}, config.render.far = {far!r}: expected '
                      'near < far')
