"""dfrf-render: renders a trained model's test set, or drives it with other audio, to frames and an mp4.

  dfrf-render --workdir=RUN --data_dir=DATASET --out=OUT_DIR
  dfrf-render --workdir=RUN --data_dir=DATASET --out=OUT_DIR --audio=speech.wav
  dfrf-render --workdir=RUN --data_dir=DATASET --out=OUT_DIR --audio=features.npy --audio_track=speech.wav

Without --audio the identity's validation frames are rendered with their own audio (the authors'
`--render_only` on transforms_val.json), the mp4 carries the matching stretch of aud.wav, and
OUT_DIR/metrics.json compares the frames with the ground truth (PSNR, SSIM, and LPIPS when
eval.lpips_*_path name weight files), next to the background-only baseline, and scores the mouth
(lip-sync: its opening against the truth on synthetic data, dlib's mouth landmarks on real footage,
next to a frozen-mouth baseline; dfrf_jax/eval/lipsync_report.py) under the 'lipsync' key, with the
picture OUT_DIR/lipsync.png. --audio_swap (synthetic data) also renders the frames driven by their audio
reversed and scores whether the mouth follows the driving audio rather than the frame's.

--audio takes precomputed features (.npy, [T, 16, D] windows or [2T, D] rows) or any audio/video file;
a file is turned into features with the extractor the dataset was made with (its aud_features.json,
written by dfrf-preprocess). Poses and torso plates come from the validation frames, played forwards
then backwards when the audio is longer.

Writes OUT_DIR/frames/000.png ..., OUT_DIR/render.mp4 (25 fps, with audio) and, with ground truth,
OUT_DIR/metrics.json; frames/ and render.mp4 appear only when complete.
"""

import os
import sys

from absl import app, flags
import jax
import numpy as np

from dfrf_jax import api, outputs
from dfrf_jax.cli import run_cli
from dfrf_jax.data import audio_io
from dfrf_jax.data.dataset import Identity
from dfrf_jax.eval import lipsync_report, report, video
from dfrf_jax.model.layers import PRECISIONS
from dfrf_jax.train import progress

_WORKDIR = flags.DEFINE_string('workdir', None, 'Trained run (or checkpoint folder, or dfrf-import-torch output).')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'Dataset of the identity to render (authors\' layout).')
_OUT = flags.DEFINE_string('out', None, 'Output folder.')
_IDENTITY = flags.DEFINE_integer('identity', 0, 'Which identity of a multi-identity data_dir.')
_AUDIO = flags.DEFINE_string('audio', None, 'Drive with this audio (.npy features or a media file).')
_AUDIO_TRACK = flags.DEFINE_string('audio_track', None, 'Audio muxed into the mp4 when --audio is a '
                                   '.npy (default: none).')
_MAX_FRAMES = flags.DEFINE_integer('max_frames', None, 'Render at most this many frames.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the slot-attention noise (model.slot_init=random).')
_SAMPLER = flags.DEFINE_enum('sampler', None, ['dense', 'accelerated'], 'Ray marcher (default: the '
                             "run's render.sampler): 'dense' evaluates every sample as the authors "
                             "do; 'accelerated' skips empty space with an occupancy grid built from "
                             'the model and stops opaque rays early.')
_AUDIO_SWAP = flags.DEFINE_bool('audio_swap', False, 'On a synthetic dataset, also render the same '
                                 'frames driven by their audio in reverse order and score whether '
                                 "the mouth follows it (metrics.json 'lipsync.audio_swap'); doubles "
                                 'the render time.')
_PRECISION = flags.DEFINE_enum('precision', None, list(PRECISIONS), "Arithmetic of the networks' "
                               "kernel products (default: the run's precision): 'bf16' rounds their "
                               'inputs to bfloat16 and accumulates in float32 (for GPUs).')


def _self_driven_track(identity: Identity, plan: api.SequencePlan, fps: float,
                       out_dir: str) -> str | None:
  """The stretch of the identity's aud.wav under the rendered frames, written to out_dir."""
  wav = os.path.join(identity.root, 'aud.wav')
  if not os.path.exists(wav):
    return None
  rate = 16000
  samples = audio_io.load_audio(wav, rate)
  first = int(plan.split.img_ids[plan.positions[0]])
  start = int(round(first / fps * rate))
  stop = start + int(round(len(plan.positions) / fps * rate))
  path = os.path.join(out_dir, 'audio.wav')
  audio_io.write_wav(path, samples[start:stop], rate)
  return path


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  progress.hide_orbax_info_logs()
  config, params, step = api.load_checkpoint(_WORKDIR.value)
  with config.unlocked():
    if _SAMPLER.value:
      config.render.sampler = _SAMPLER.value
    config.precision = _PRECISION.value or config.get('precision', 'float32')
  identities = api.load_dataset(config, _DATA_DIR.value)
  if not 0 <= _IDENTITY.value < len(identities):
    raise app.UsageError(f'--identity={_IDENTITY.value}, but {_DATA_DIR.value} holds '
                         f'{len(identities)} identities')
  identity = identities[_IDENTITY.value]
  fps = config.eval.fps
  os.makedirs(_OUT.value, exist_ok=True)
  if _AUDIO_SWAP.value and _AUDIO.value:
    raise app.UsageError('--audio_swap scores the test set driven by its own audio reversed; it '
                         'cannot be combined with --audio')
  if _AUDIO.value:
    plan = api.driven_plan(identity.val, api.driving_windows(identity, config, _AUDIO.value, fps),
                           _MAX_FRAMES.value)
    track = _AUDIO_TRACK.value or (None if _AUDIO.value.endswith('.npy') else _AUDIO.value)
  else:
    plan = api.self_driven_plan(identity, identity.val, _MAX_FRAMES.value)
    track = _self_driven_track(identity, plan, fps, _OUT.value)

  model = api.build_model(config.model, config.precision)
  near, far = api.near_far([identity], config)
  # A run trained with train.sampler='accelerated' saved its grid; otherwise one is built here.
  grid = api.load_occupancy(_WORKDIR.value)
  frames = api.render_sequence(model, params, config, identity, plan, near, far, step,
                               jax.random.key(_SEED.value), show_progress=True, grid=grid)
  # Each output appears only when complete (replacing one of an earlier run).
  with outputs.folder_in_place(os.path.join(_OUT.value, 'frames')) as frames_dir:
    video.write_frames(frames_dir, frames)
  mp4 = os.path.join(_OUT.value, 'render.mp4')
  with outputs.file_in_place(mp4) as partial_mp4:
    api.write_video(partial_mp4, frames, fps=fps, audio_path=track)
  print(f'wrote {len(frames)} frames and {mp4} ({"with" if track else "without"} audio)')
  bg = np.stack([identity.background(plan.split, int(p)) for p in plan.positions])
  warning = report.background_only_warning(frames, bg)
  if warning:
    print(warning, file=sys.stderr)

  if plan.has_ground_truth:
    gt = np.stack([identity.image(plan.split, int(p)) for p in plan.positions])
    lpips_fn = api.lpips_fn_from_paths(config.eval.lpips_alexnet_path, config.eval.lpips_lin_path)
    per_frame, summary = api.evaluate_frames(frames, gt, lpips_fn)
    baseline = api.baseline_metrics(bg, gt, lpips_fn)
    print(report.metrics_table([{'frames': 'model', **summary}, {'frames': 'background only', **baseline}]))
    lip = lipsync_report.score_identity(frames, gt, identity, plan.split, plan.positions, _OUT.value)
    print(lipsync_report.lipsync_table(lip))
    if _AUDIO_SWAP.value:
      swap_plan = api.audio_swap_plan(plan)
      swapped = api.render_sequence(model, params, config, identity, swap_plan, near, far, step,
                                    jax.random.key(_SEED.value), show_progress=True, grid=grid)
      lip['audio_swap'] = lipsync_report.score_audio_swap(swapped, identity, plan.split,
                                                          plan.positions, lip)
      print(lipsync_report.audio_swap_table(lip['audio_swap']))
    report.write_metrics_json(os.path.join(_OUT.value, 'metrics.json'), per_frame,
                              {**summary, 'step': step, 'baseline': baseline, 'lipsync': lip})


def run() -> None:
  """Console-script entry point."""
  run_cli(main, __doc__, ['workdir', 'data_dir', 'out', 'identity', 'audio', 'audio_track',
                          'max_frames', 'seed', 'sampler', 'audio_swap', 'precision'], ['workdir', 'data_dir', 'out'])


if __name__ == '__main__':
  run()
