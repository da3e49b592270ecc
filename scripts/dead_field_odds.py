"""How often training from scratch leaves a radiance field dead: seeds x a config, N steps each.

Trains a fresh model per seed with dfrf-train's loop (`train.loop.train`, the dead-field check off so
that every run finishes) and reads each field's training PSNR from its metrics.jsonl. A field is
dead when its mean PSNR over the 10 steps up to --dead_at (default 150, or --steps if fewer) is less
than 1 dB above its mean over steps 1-10 (the measure of issue 18). With --val_frames it also renders
that many val frames of identity 0 (dense sampler) after the last step and reports their mean PSNR.

Prints a table and writes JSON (--out): one record per seed {seed, coarse: [first, last], fine:
[first, last], dead: [field names], live: [coarse, fine] share of positive-density samples over the
last 10 steps, revived_steps: [coarse, fine] steps whose pass got the revival noise,
gradient_revived_steps: [coarse, fine] steps whose pass then passed the identity's gradient,
val_psnr} and a summary {config, overrides, steps, seeds, runs_with_dead_field, dead_fields}.

  python scripts/dead_field_odds.py --config=configs/test.py --data_dir=DATA/finetune --seeds=10
  python scripts/dead_field_odds.py --config=configs/demo.py --data_dir=DATA/finetune \\
      --set=train.density_revive_below=0.0 --out=runs/odds_before.json
"""

import argparse
import json
import os
import pathlib
import shutil
import sys
import tempfile

os.environ.setdefault('TQDM_DISABLE', '1')  # one line per seed instead of a progress bar per run

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dfrf_jax import api  # pylint: disable=g-import-not-at-top
from dfrf_jax import config as config_lib  # pylint: disable=g-import-not-at-top
from dfrf_jax.train import loop, progress, validation  # pylint: disable=g-import-not-at-top

FIELDS = (('coarse', 'psnr0', 'live0'), ('fine', 'psnr', 'live'))
MIN_GAIN_DB = 1.0
WINDOW = 10


def _parse() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--config', default=str(REPO / 'configs/demo.py'), help='config file or name')
  p.add_argument('--data_dir', required=True, help='dataset folder (holds 0/)')
  p.add_argument('--set', action='append', default=[],
                 help='override a config field, e.g. --set=train.lrate=5e-4 (repeatable)')
  p.add_argument('--seeds', type=int, default=10, help='seeds 0 .. N-1')
  p.add_argument('--first_seed', type=int, default=0, help='first seed')
  p.add_argument('--seed_list', default=None,
                 help='comma-separated seeds to run instead of --first_seed .. + --seeds, e.g. 1,5,7')
  p.add_argument('--steps', type=int, default=150, help='training steps per seed')
  p.add_argument('--dead_at', type=int, default=150,
                 help='step at which the dead-field verdict is taken (at most --steps)')
  p.add_argument('--val_frames', type=int, default=0,
                 help='val frames rendered after training (0: none)')
  p.add_argument('--out', default=None, help='JSON output (default: none)')
  p.add_argument('--runs_dir', default=None,
                 help="folder to keep each seed's run folder in, as seed_<N> (default: a temporary "
                      'folder, deleted); a kept run can be scored by scripts/lipsync_curve.py --workdir')
  p.add_argument('--metrics_dir', default=None,
                 help="folder to keep each seed's per-step metrics in, as seed_<N>.jsonl (default: none)")
  return p.parse_args()


def _config(args: argparse.Namespace, seed: int):
  config = api.load_config(args.config)
  for item in args.set:
    config_lib.set_field(config, item)
  t = config.train
  config.seed, config.data_dir = seed, args.data_dir
  t.N_iters, t.i_print, t.i_weights, t.i_img = args.steps, 1, args.steps, 10 ** 9
  t.dead_field_patience = 0
  return config


def _val_psnr(config, state, frames: int) -> float | None:
  if not frames:
    return None
  identity = api.load_dataset(config)[0]
  near, far = loop.near_far([identity], config)
  model = api.build_model(config.model, config.precision)
  params = jax.device_get(state.params)
  values = []
  for index in range(min(frames, len(identity.val))):
    with config.unlocked():
      config.train.val_frame = index
    frame = validation.load_val_frame(identity, config)
    _, psnr = validation.render_val(model, params, frame, config, near, far,
                                    jax.random.key(index),
                                    smoothing=config.train.N_iters >= config.train.nosmo_iters,
                                    use_warp=config.train.N_iters >= config.train.warp_start_step)
    values.append(psnr)
  return float(np.mean(values))


def run_seed(args: argparse.Namespace, seed: int) -> dict:
  config = _config(args, seed)
  with tempfile.TemporaryDirectory() as scratch:
    workdir = os.path.join(args.runs_dir, f'seed_{seed}') if args.runs_dir else scratch
    state = loop.train(config, workdir)
    metrics = os.path.join(workdir, progress.METRICS_FILE)
    if args.metrics_dir:
      pathlib.Path(args.metrics_dir).mkdir(parents=True, exist_ok=True)
      shutil.copyfile(metrics, os.path.join(args.metrics_dir, f'seed_{seed}.jsonl'))
    rows = [json.loads(line) for line in open(metrics)]
  rows = [r for r in rows if 'psnr' in r][:min(args.dead_at, args.steps)]
  record = {'seed': seed, 'dead': [], 'live': []}
  for name, psnr_key, live_key in FIELDS:
    first = float(np.mean([r[psnr_key] for r in rows[:WINDOW]]))
    last = float(np.mean([r[psnr_key] for r in rows[-WINDOW:]]))
    record[name] = [round(first, 2), round(last, 2)]
    record['live'].append(round(float(np.mean([r[live_key] for r in rows[-WINDOW:]])), 3))
    revive_key = live_key.replace('live', 'revive')
    record.setdefault('revived_steps', []).append(sum(int(r.get(revive_key, 0)) for r in rows))
    record.setdefault('gradient_revived_steps', []).append(
        sum(int(r.get(revive_key.replace('revive', 'revive_grad'), 0)) for r in rows))
    if last - first < MIN_GAIN_DB:
      record['dead'].append(name)
  record['val_psnr'] = _val_psnr(config, state, args.val_frames)
  return record


def _summary(args: argparse.Namespace, records: list[dict]) -> dict:
  summary = {'config': args.config, 'overrides': args.set, 'steps': args.steps,
             'dead_at': min(args.dead_at, args.steps), 'seeds': [r['seed'] for r in records],
             'runs_with_dead_field': sum(bool(r['dead']) for r in records),
             'dead_fields': sum(len(r['dead']) for r in records)}
  vals = [r['val_psnr'] for r in records if r['val_psnr'] is not None]
  if vals:
    summary['val_psnr_min'], summary['val_psnr_mean'] = min(vals), float(np.mean(vals))
  return summary


def main() -> None:
  args = _parse()
  # Every seed compiles the same programs: a persistent cache (the caller's, if set) makes that once.
  if not os.environ.get('JAX_COMPILATION_CACHE_DIR'):
    jax.config.update('jax_compilation_cache_dir',
                      os.path.join(tempfile.gettempdir(), 'dfrf_odds_jax_cache'))
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 1.0)
  records = []
  header = f'{"seed":>4}  {"coarse first->last":>20}  {"fine first->last":>18}  {"live c/f":>11}  ' \
           f'{"val PSNR":>8}  dead    revived c/f (gradient c/f)'
  seeds = ([int(s) for s in args.seed_list.split(',')] if args.seed_list
           else range(args.first_seed, args.first_seed + args.seeds))
  for seed in seeds:
    record = run_seed(args, seed)
    records.append(record)
    if len(records) == 1:
      print(header)
    val = '' if record['val_psnr'] is None else f'{record["val_psnr"]:.2f}'
    dead, revived = ','.join(record['dead']) or '-', record['revived_steps']
    gradient = record['gradient_revived_steps']
    print(f'{seed:>4}  {record["coarse"][0]:>9.2f} -> {record["coarse"][1]:>6.2f}  '
          f'{record["fine"][0]:>7.2f} -> {record["fine"][1]:>6.2f}  '
          f'{record["live"][0]:>5.3f}/{record["live"][1]:<5.3f}  {val:>8}  '
          f'{dead:<6}  {revived[0]}/{revived[1]} ({gradient[0]}/{gradient[1]})', flush=True)
    summary = _summary(args, records)
    if args.out:  # after every seed, so that a stopped run keeps what it measured
      pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
      pathlib.Path(args.out).write_text(json.dumps({'summary': summary, 'runs': records}, indent=2)
                                        + '\n')
  vals = [r['val_psnr'] for r in records if r['val_psnr'] is not None]
  print(f'{summary["runs_with_dead_field"]} of {len(records)} runs with a dead field '
        f'({summary["dead_fields"]} dead fields)'
        + (f'; val PSNR min {min(vals):.2f} dB, mean {np.mean(vals):.2f} dB' if vals else ''))
  if args.out:
    print(f'wrote {args.out}')


if __name__ == '__main__':
  main()
