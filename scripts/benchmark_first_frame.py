"""Time to the first frame, and the frame count from which the accelerated sampler pays.

A short render pays for what happens before its first frame: compiling the frame program (and, for
the accelerated sampler, the occupancy grid for the plan and any budget refits). Each sampler renders
the first --frames validation frames of a trained model with `render.sequence.render_plan` (what
dfrf-render does) in a fresh Python process, so nothing is compiled yet, and reports the wall time of
every frame from the call. With --compilation_cache each sampler runs twice: with an empty JAX
persistent compilation cache (a first render) and again with the cache that run filled (any later
render of the same model size and config).

Prints a table and writes JSON (--out): per run {sampler, cache ('off', 'cold', 'warm'), load_s
(dataset and checkpoint), frame_s [frames] (frame 0 includes the grid and the compilations),
first_frame_s, steady_frame_s (median of the later frames)} and, per cache state, the break-even
frame count: the fewest frames an accelerated render finishes before a dense one.

  python scripts/benchmark_first_frame.py --params=runs/demo/finetune --data_dir=runs/demo/data/finetune
  python scripts/benchmark_first_frame.py --params=... --data_dir=... --frames=8 \\
      --set=render.N_samples=32 --set=render.N_importance=64 --compilation_cache
"""

import argparse
import json
import math
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _parse(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--params', required=True, help='a dfrf-train workdir or checkpoint (its config is used)')
  p.add_argument('--data_dir', required=True, help='dataset folder holding 0/')
  p.add_argument('--frames', type=int, default=5, help='validation frames to render')
  p.add_argument('--set', action='append', default=[], metavar='SECTION.FIELD=VALUE',
                 help='config override, repeatable (e.g. --set=render.N_samples=32)')
  p.add_argument('--compilation_cache', action='store_true',
                 help='also time a second render per sampler with the persistent compilation cache '
                      'the first one filled')
  p.add_argument('--out', default='benchmark_first_frame.json', help='JSON output path')
  p.add_argument('--worker', choices=('dense', 'accelerated'), default=None, help=argparse.SUPPRESS)
  p.add_argument('--cache_dir', default='', help=argparse.SUPPRESS)
  return p.parse_args(argv)


def _worker(args: argparse.Namespace) -> None:
  """Renders in this process and prints one JSON line."""
  import jax  # pylint: disable=g-import-not-at-top
  if args.cache_dir:
    jax.config.update('jax_compilation_cache_dir', args.cache_dir)
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
    jax.config.update('jax_persistent_cache_min_entry_size_bytes', -1)
  from dfrf_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from dfrf_jax.data.dataset import load_dataset  # pylint: disable=g-import-not-at-top
  from dfrf_jax.model.dfrf import build_model  # pylint: disable=g-import-not-at-top
  from dfrf_jax.render.sequence import render_plan, self_driven_plan  # pylint: disable=g-import-not-at-top
  from dfrf_jax.train.checkpoints import load_checkpoint, load_occupancy  # pylint: disable=g-import-not-at-top

  t0 = time.perf_counter()
  config, params, step = load_checkpoint(args.params)
  for assignment in args.set:
    config_lib.set_field(config, assignment)
  config.render.sampler = args.worker
  identity = load_dataset(args.data_dir, config.data.bc_type, config.data.test_file,
                          aud_window_shape=(config.model.win_size, config.model.aud_feature_dim))[0]
  model = build_model(config.model, config.precision)
  grid = load_occupancy(args.params)
  load_s = time.perf_counter() - t0
  plan = self_driven_plan(identity, identity.val, max_frames=args.frames)
  times = []
  t0 = time.perf_counter()
  for image in render_plan(model, params, config, identity, plan, identity.near, identity.far, step,
                           jax.random.key(0), grid):
    jax.block_until_ready(image.rgb)
    now = time.perf_counter()
    times.append(now - t0)
    t0 = now
  print(json.dumps({'load_s': load_s, 'frame_s': times, 'trained_grid': grid is not None}))


def _run(args: argparse.Namespace, sampler: str, cache_dir: str) -> dict:
  cmd = [sys.executable, __file__, f'--worker={sampler}', f'--params={args.params}',
         f'--data_dir={args.data_dir}', f'--frames={args.frames}', f'--cache_dir={cache_dir}']
  cmd += [f'--set={s}' for s in args.set]
  done = subprocess.run(cmd, capture_output=True, text=True, check=False)
  if done.returncode != 0:
    raise RuntimeError(f'{sampler} render failed:\n{done.stderr[-4000:]}')
  return json.loads(done.stdout.strip().splitlines()[-1])


def break_even(dense: dict, accel: dict, limit: int = 10**6) -> int | None:
  """The fewest frames n with accel_first + (n-1) accel_steady <= dense_first + (n-1) dense_steady
  (None if the accelerated frame is not faster once compiled)."""
  gap = accel['first_frame_s'] - dense['first_frame_s']
  saving = dense['steady_frame_s'] - accel['steady_frame_s']
  if gap <= 0:
    return 1
  if saving <= 0:
    return None
  return min(limit, 1 + math.ceil(gap / saving))


def main() -> None:
  args = _parse()
  if args.worker:
    _worker(args)
    return
  if args.frames < 2:
    raise SystemExit('--frames must be at least 2 (the steady frame time needs a second frame)')
  caches = ['cold', 'warm'] if args.compilation_cache else ['off']
  runs = []
  with tempfile.TemporaryDirectory() as tmp:
    for sampler in ('dense', 'accelerated'):
      cache_dir = str(pathlib.Path(tmp) / sampler) if args.compilation_cache else ''
      for cache in caches:
        print(f'[bench] {sampler}, compilation cache {cache}', flush=True)
        got = _run(args, sampler, cache_dir)
        frames = got['frame_s']
        later = sorted(frames[1:])
        runs.append({'sampler': sampler, 'cache': cache, 'load_s': got['load_s'], 'frame_s': frames,
                     'first_frame_s': frames[0], 'steady_frame_s': later[len(later) // 2],
                     'trained_grid': got['trained_grid']})
  summary = {}
  print(f'{"sampler":>12} {"cache":>6} {"first s":>9} {"steady s":>9} {"total s":>9}')
  for r in runs:
    print(f'{r["sampler"]:>12} {r["cache"]:>6} {r["first_frame_s"]:>9.2f} {r["steady_frame_s"]:>9.3f} '
          f'{sum(r["frame_s"]):>9.2f}')
  for cache in caches:
    dense, accel = (next(r for r in runs if r['sampler'] == s and r['cache'] == cache)
                    for s in ('dense', 'accelerated'))
    summary[cache] = {'break_even_frames': break_even(dense, accel),
                      'steady_speedup': dense['steady_frame_s'] / accel['steady_frame_s']}
    print(f'cache {cache}: break-even at {summary[cache]["break_even_frames"]} frames, steady '
          f'speedup {summary[cache]["steady_speedup"]:.2f}x')
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps({'setup': {'params': args.params, 'data_dir': args.data_dir,
                                       'frames': args.frames, 'overrides': args.set},
                             'runs': runs, 'summary': summary}, indent=2))
  print(f'[bench] wrote {out}')


if __name__ == '__main__':
  main()
