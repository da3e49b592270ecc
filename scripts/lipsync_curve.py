"""Lip sync against training steps: trains one run and scores its val frames at each listed step.

Trains with dfrf-train's loop (`train.loop.train`) in --workdir (resuming what is there), stopping at
each step of --steps to render identity 0's val frames with their own audio and, with --audio_swap,
with that audio reversed, exactly as dfrf-render scores them (`eval/lipsync_report.py`; the dataset
must be synthetic, with a synth_meta.json). Prints a table and writes JSON (--out): the config, the
overrides and one record per step {step, psnr (full frame, dB), opening_r, gt_r, spread_ratio,
mouth_psnr, frozen_mouth_psnr, audio_swap: {slope_ratio, driving_r, own_r} or null}.

  python scripts/lipsync_curve.py --config=demo --data_dir=DATA/finetune --steps=100,200,300 \\
      --workdir=runs/curve --audio_swap --out=runs/curve.json
  python scripts/lipsync_curve.py --config=demo --data_dir=DATA/finetune --steps=250 \\
      --set=config.init_from=runs/base --set=data.lip_sample_rate=0.0 --workdir=runs/ft_authors
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile

os.environ.setdefault('TQDM_DISABLE', '1')

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dfrf_jax import api  # pylint: disable=g-import-not-at-top
from dfrf_jax import config as config_lib  # pylint: disable=g-import-not-at-top
from dfrf_jax.eval import lipsync_report, report  # pylint: disable=g-import-not-at-top
from dfrf_jax.train import loop  # pylint: disable=g-import-not-at-top

_KEYS = ('opening_r', 'gt_r', 'spread_ratio', 'mouth_psnr')


def _parse() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--config', default='demo', help='config file or name')
  p.add_argument('--data_dir', required=True, help='synthetic dataset folder (holds 0/)')
  p.add_argument('--workdir', required=True, help='run folder (resumed if it holds checkpoints)')
  p.add_argument('--steps', required=True, help='comma-separated training steps to score at')
  p.add_argument('--set', action='append', default=[],
                 help='override a config field, e.g. --set=data.lip_sample_rate=0.25 (repeatable; '
                      'config.init_from=RUN fine-tunes)')
  p.add_argument('--seed', type=int, default=0, help='config.seed')
  p.add_argument('--val_frames', type=int, default=None, help='score the first N val frames (default all)')
  p.add_argument('--audio_swap', action='store_true', help='also score renders driven by reversed audio')
  p.add_argument('--out', default=None, help='JSON output (default: none)')
  return p.parse_args()


def _config(args: argparse.Namespace):
  config = api.load_config(args.config)
  for item in args.set:
    if item.startswith('config.'):
      item = item[len('config.'):]
    config_lib.set_field(config, item)
  config.seed, config.data_dir = args.seed, args.data_dir
  config.train.dead_field_patience = 0
  config_lib.validate(config)
  return config


def score_at(config, workdir: str, val_frames: int | None, audio_swap: bool) -> dict:
  """Scores the run's last checkpoint on identity 0's val frames (dfrf-render's way)."""
  _, params, step = api.load_checkpoint(workdir)
  identity = api.load_dataset(config)[0]
  near, far = api.near_far([identity], config)
  model = api.build_model(config.model, config.precision)
  plan = api.self_driven_plan(identity, identity.val, val_frames)
  key, grid = jax.random.key(0), api.load_occupancy(workdir)
  frames = api.render_sequence(model, params, config, identity, plan, near, far, step, key, grid=grid)
  gt = np.stack([identity.image(plan.split, int(p)) for p in plan.positions])
  _, summary = report.evaluate_frames(frames, gt)
  with tempfile.TemporaryDirectory() as out:
    lip = lipsync_report.score_identity(frames, gt, identity, plan.split, plan.positions, out)
  record = {'step': step, 'psnr': summary['psnr'], **{k: lip['model'][k] for k in _KEYS},
            'frozen_mouth_psnr': lip['frozen_mouth']['mouth_psnr'], 'audio_swap': None}
  if audio_swap:
    swap_plan = api.audio_swap_plan(plan)
    swapped = api.render_sequence(model, params, config, identity, swap_plan, near, far, step, key,
                                  grid=grid)
    record['audio_swap'] = lipsync_report.score_audio_swap(swapped, identity, plan.split,
                                                           plan.positions, lip)
  return record


def main() -> None:
  args = _parse()
  steps = sorted(int(s) for s in args.steps.split(','))
  config = _config(args)
  records = []
  for step in steps:
    config.train.N_iters = step
    loop.train(config, args.workdir)
    records.append(score_at(config, args.workdir, args.val_frames, args.audio_swap))
    swap = records[-1]['audio_swap'] or {}
    print(report.metrics_table([{k: v for k, v in records[-1].items() if k != 'audio_swap'}
                                | {f'swap_{k}': v for k, v in swap.items()}]), flush=True)
  if args.out:
    result = {'config': args.config, 'overrides': args.set, 'seed': args.seed,
              'data_dir': os.path.basename(os.path.normpath(args.data_dir)), 'records': records}
    with open(args.out, 'w') as f:
      json.dump(result, f, indent=1)


if __name__ == '__main__':
  main()
