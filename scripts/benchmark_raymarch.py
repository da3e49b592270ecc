"""Dense vs accelerated ray marching: render time, samples per ray, skipped rays, quality, train step.

Trains two small models from the same initialisation (fresh, or --init_from a trained base model)
for the same number of steps with dfrf-train's step, one with train.sampler='dense' (the authors')
and one with 'accelerated' (occupancy grid kept as dfrf-train keeps it, host-adapted sample budget),
or loads one trained model with --params (then only the render comparison runs). The dense-trained
model then renders a validation frame of the dataset at every --sizes resolution both ways
(intrinsics scaled from the dataset's; ground truth and background resized with PIL bicubic).

Prints a table and writes JSON (--out): one record per size with
  size, dense_ms_per_frame, accel_ms_per_frame, render_speedup,
  dense_psnr_db, accel_psnr_db, psnr_delta_db (accelerated minus dense, against ground truth),
  max_abs_diff (accelerated vs dense frame), samples_per_ray {dense, accel, accel_fine_reused,
  accel_budget} (samples whose aggregated feature was computed, per ray), rays_skipped_share,
  overflow, train_step_speedup, dense_train_step_ms, accel_train_step_ms,
  train_psnr_db {dense, accel} (validation frame at the dataset's size after equal steps)
and a 'setup' record (device, precision, config, steps, grid build time). Timings exclude compilation
(each measured call is preceded by a compiled warm-up run); frame times are medians of --repeats
renders, dense and accelerated alternately.

  python scripts/benchmark_raymarch.py --out=runs/bench.json
  python scripts/benchmark_raymarch.py --data_dir=DATA/0/.. --sizes=64,128,256,512 --train_steps=300
  python scripts/benchmark_raymarch.py --init_from=runs/demo/base --data_dir=runs/demo/data/finetune
"""

import argparse
import importlib.util
import json
import pathlib
import sys
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dfrf_jax import config as config_lib  # pylint: disable=g-import-not-at-top
from dfrf_jax.data.dataset import load_dataset  # pylint: disable=g-import-not-at-top
from dfrf_jax.data.references import render_references  # pylint: disable=g-import-not-at-top
from dfrf_jax.model.dfrf import audio_code, build_model, init_params  # pylint: disable=g-import-not-at-top
from dfrf_jax.model.layers import PRECISIONS  # pylint: disable=g-import-not-at-top
from dfrf_jax.render import accelerated, march_state  # pylint: disable=g-import-not-at-top
from dfrf_jax.render.rays import Field, MarchMode, View, frame_inputs  # pylint: disable=g-import-not-at-top
from dfrf_jax.render.renderer import march_image, render_frame  # pylint: disable=g-import-not-at-top
from dfrf_jax.render.sequence import plan_occupancy, self_driven_plan  # pylint: disable=g-import-not-at-top
from dfrf_jax.train import batches as batch_lib  # pylint: disable=g-import-not-at-top
from dfrf_jax.train import loop, state as state_lib  # pylint: disable=g-import-not-at-top
from dfrf_jax.train.checkpoints import load_checkpoint  # pylint: disable=g-import-not-at-top
from dfrf_jax.train.step import make_train_step  # pylint: disable=g-import-not-at-top



def _parse() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--data_dir', default=str(REPO / 'tests/fixtures/parity/dataset/synth_fixture'),
                 help='dataset folder holding 0/ (default: the 64 px parity fixture)')
  p.add_argument('--config', default=str(REPO / 'configs/demo.py'),
                 help='config file with get_config() (default: configs/demo.py)')
  p.add_argument('--params', default=None,
                 help='a dfrf-train workdir or checkpoint to render with (skips the training part)')
  p.add_argument('--init_from', default=None,
                 help='a dfrf-train workdir or checkpoint both training runs start from (fine-tuning '
                      'a base model); default: a fresh initialisation')
  p.add_argument('--train_steps', type=int, default=150, help='training steps of each model')
  p.add_argument('--sizes', default=None,
                 help='comma-separated square sizes (default 64,128,256, plus 512 on a GPU)')
  p.add_argument('--repeats', type=int, default=3,
                 help='timed renders per size and sampler, dense and accelerated alternately '
                      '(medians are reported)')
  p.add_argument('--grid_resolution', type=int, default=None,
                 help='occupancy cells per axis (default: the config\'s render.accel.grid_resolution)')
  p.add_argument('--grid_refinements', type=int, default=None,
                 help="coarse-to-fine refinements of the render-time grid (default: the config's "
                      'render.accel.grid_refinements)')
  p.add_argument('--grid_conditions', type=int, default=2,
                 help='audio/reference conditions of a full grid update (render.accel.update_conditions)')
  p.add_argument('--train_termination_threshold', type=float, default=None,
                 help='transmittance below which the accelerated training run stops a ray '
                      "(default: the config's render.accel.train_termination_threshold)")
  p.add_argument('--train_selection', action='store_true',
                 help='the accelerated training run differentiates only the samples it selects '
                      '(render.accel.train_selection)')
  p.add_argument('--precision', default='float32', choices=PRECISIONS,
                 help="config.precision of every model here (bf16: for GPUs)")
  p.add_argument('--chunk', type=int, default=None,
                 help="rays per call of the dense render (default: the config's render.chunk; "
                      'larger keeps a GPU busy)')
  p.add_argument('--set', action='append', default=[], metavar='SECTION.FIELD=VALUE',
                 help='config override, repeatable (e.g. --set=render.N_samples=32 '
                      '--set=render.N_importance=64 --set=data.N_rand=850: the authors\' fine-tuning '
                      'sampling)')
  p.add_argument('--seed', type=int, default=0)
  p.add_argument('--out', default='benchmark_raymarch.json', help='JSON output path')
  args = p.parse_args()
  if args.params and args.init_from:
    p.error('--params renders a trained model and --init_from trains one from it: give one of them')
  return args


def _load_config(path: str) -> ml_collections.ConfigDict:
  spec = importlib.util.spec_from_file_location('bench_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  c.model.slot_init = 'mean'  # deterministic frames, so the two samplers see the same field
  config_lib.use_authors_sampling(c)  # the authors' training step (--set overrides)
  return c


class TrainRun(NamedTuple):
  """What `train` measured.

  params: the parameters after the last step.
  step_s: median time of a step that compiled nothing new, in s.
  compilations: budgets the accelerated run compiled a step for (0 for dense).
  first_step_s: the first step's time in s, compilation included.
  samples: the accelerated run's mean per-step march metrics over the timed steps: samples_per_ray
    (evaluated), aggregations_per_ray (of those, with F~ aggregated), with `accel.train_selection` grad_samples_per_ray (differentiated), and
    overflow_steps (steps that dropped occupied samples for lack of budget); empty for dense.
  """
  params: Any
  step_s: float
  compilations: int
  first_step_s: float
  samples: dict[str, float]


def train(model, init, identity, config, sampler, steps, seed) -> TrainRun:
  """`steps` steps of dfrf-train's compiled step with `sampler`.

  The accelerated run keeps its marching state as dfrf-train does (render/march_state.py: grid filled
  before the first step, EMA-updated every `train.grid_update_every` steps, the update's time
  counted in its step; budget refitted from each step's MarchStats). Steps that compiled a new
  variant are not timed.
  """
  c = ml_collections.ConfigDict(config.to_dict())
  c.train.sampler = sampler
  mesh = loop.make_mesh(1)
  near, far = identity.near, identity.far
  state = loop.replicate(state_lib.new_state(jax.tree.map(jnp.copy, init), jax.random.key(seed)),
                         mesh)
  step_fn = make_train_step(model, c, near, far, mesh)
  rng = np.random.default_rng(seed)
  c.seed = seed
  marching = march_state.create_for_training(model, state.params, [identity], c, near, far, 0,
                                             jax.random.key(seed + 1))
  times, compiled, first_step = [], set(), None
  counts = {}
  for i in range(steps):
    batch = batch_lib.draw_batch(rng, [identity], c)
    t0 = time.perf_counter()
    variant = None if marching is None else marching.budget
    fresh = variant not in compiled
    compiled.add(variant)
    state, metrics = step_fn(state, batch_lib.shard(batch, mesh), False, True, marching)
    marching = march_state.refit(marching, metrics.pop('march', None), c.render)
    marching = march_state.after_step(marching, model, state.params, batch, c, i + 1,
                                      jax.random.key(seed + 2), smoothing=False, use_warp=True)
    jax.block_until_ready(metrics['loss'])
    if i == 0:
      first_step = time.perf_counter() - t0
    if not fresh:
      times.append(time.perf_counter() - t0)
      for name in ('samples_per_ray', 'aggregations_per_ray', 'grad_samples_per_ray'):
        if name in metrics:
          counts.setdefault(name, []).append(float(metrics[name]))
    if 'overflow' in metrics:  # every step: a step that dropped samples lost their gradients
      counts.setdefault('overflow_steps', []).append(float(int(metrics['overflow']) > 0))
  return TrainRun(params=state.params, step_s=float(np.median(times)),
                  compilations=len(compiled - {None}), first_step_s=first_step,
                  samples={name: float(np.sum(v) if name == 'overflow_steps' else np.mean(v))
                           for name, v in counts.items()})


def _shown(path: str) -> str:
  """`path` relative to the repository when it lies inside it (JSON without this machine's paths)."""
  resolved = pathlib.Path(path).resolve()
  return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else path


def _resize(image: np.ndarray, size: int) -> np.ndarray:
  pil = Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
  return np.asarray(pil.resize((size, size), Image.BICUBIC), np.float32) / 255.0


def _psnr(a, b) -> float:
  return float(-10.0 * np.log10(np.mean((np.asarray(a, np.float64) - b) ** 2)))


def _timed_pair(first, second, repeats):
  """Times two calls alternately, `repeats` times each after a compiled warm-up of both.

  Returns (first's output, first's median seconds, second's output, second's median seconds).
  Alternating keeps a slow spell of a shared machine from landing on one of the two only.
  """
  outs = [first(), second()]
  jax.block_until_ready(outs)
  times = ([], [])
  for _ in range(repeats):
    for k, fn in enumerate((first, second)):
      t0 = time.perf_counter()
      outs[k] = fn()
      jax.block_until_ready(outs[k])
      times[k].append(time.perf_counter() - t0)
  return outs[0], float(np.median(times[0])), outs[1], float(np.median(times[1]))


def main() -> None:
  args = _parse()
  config = _load_config(args.config)
  for assignment in args.set:
    config_lib.set_field(config, assignment)
  if args.grid_resolution:
    config.render.accel.grid_resolution = args.grid_resolution
  if args.grid_refinements is not None:
    config.render.accel.grid_refinements = args.grid_refinements
  config.render.accel.update_conditions = args.grid_conditions
  if args.train_termination_threshold is not None:
    config.render.accel.train_termination_threshold = args.train_termination_threshold
  if args.chunk:
    config.render.chunk = args.chunk
  config.render.accel.train_selection = args.train_selection
  identity = load_dataset(args.data_dir, config.data.bc_type, config.data.test_file,
                          aud_window_shape=(config.model.win_size, config.model.aud_feature_dim))[0]
  cam = identity.intrinsics
  near, far = identity.near, identity.far
  config.precision = args.precision
  model = build_model(config.model, config.precision)
  on_gpu = jax.default_backend() == 'gpu'
  sizes = ([int(s) for s in args.sizes.split(',')] if args.sizes
           else [64, 128, 256] + ([512] if on_gpu else []))

  train_record = {}
  if args.params:
    _, params, _ = load_checkpoint(args.params)
  else:
    if args.init_from:
      _, init, _ = load_checkpoint(args.init_from)
    else:
      init = jax.jit(lambda k: init_params(model, k))(jax.random.PRNGKey(args.seed))
    trained = {}
    for sampler in ('dense', 'accelerated'):
      print(f'[bench] training {args.train_steps} steps with the {sampler} sampler', flush=True)
      trained[sampler] = train(model, init, identity, config, sampler, args.train_steps, args.seed)
    dense, accel = trained['dense'], trained['accelerated']
    params = dense.params
    train_record = {'dense_train_step_ms': 1e3 * dense.step_s,
                    'accel_train_step_ms': 1e3 * accel.step_s,
                    'accel_train_compilations': accel.compilations,
                    # The first step, compilation included (the grid's first fill is not in it).
                    'dense_first_step_s': dense.first_step_s,
                    'accel_first_step_s': accel.first_step_s,
                    # Per training ray: samples evaluated (both passes, interpolated fine samples
                    # included) and, with selection, samples differentiated.
                    'accel_train_samples': accel.samples}
    train_record['train_step_speedup'] = (train_record['dense_train_step_ms']
                                          / train_record['accel_train_step_ms'])

  # The validation frame, its references and audio code; the render-time grid from the model.
  val = identity.val
  refs = render_references(identity.train, tuple(config.data.test_ref_positions),
                           config.model.num_reference_images)
  ref_images = np.stack([identity.image(identity.train, int(r)) for r in refs])
  ref_poses = jnp.asarray(identity.train.poses[refs])
  windows = np.stack([identity.aud[min(int(a), len(identity.aud) - 1)] for a in val.aud_ids])
  centre = config.model.smo_size // 2

  def val_frame(p, t):
    aud = np.zeros((config.model.smo_size,) + windows.shape[1:], np.float32)
    aud[centre] = windows[t]
    return frame_inputs(model, p, audio_code(model, p, jnp.asarray(aud), False), ref_images,
                        ref_poses, cam.focal)

  mode = MarchMode(ml_collections.FrozenConfigDict(config.render))
  if train_record:
    train_record['train_psnr_db'] = {}
    view = View(c2w=jnp.asarray(val.poses[0]), intrinsics=jnp.array([cam.focal, cam.cx, cam.cy]),
                background=jnp.asarray(identity.background(val, 0)), near=near, far=far)
    for sampler, (p, *_) in trained.items():
      out, _ = march_image(Field(model=model, params=p, frame=val_frame(p, 0)), view, None, mode)
      train_record['train_psnr_db'][sampler] = _psnr(out.rgb, identity.image(val, 0))

  # The grid dfrf-render builds for the validation split (step 0: no audio smoothing, as above).
  t0 = time.perf_counter()
  grid = plan_occupancy(model, params, config, identity, self_driven_plan(identity, val), near, far,
                        0, jax.random.key(args.seed))
  mask = march_state.skip_mask(grid, config.render, train=False)
  jax.block_until_ready(mask)
  grid_seconds = time.perf_counter() - t0
  occupied_share = float(jnp.mean(mask.occupied))

  field = Field(model=model, params=params, frame=val_frame(params, 0))
  records = []
  for size in sizes:
    scale = size / cam.width
    intrinsics = jnp.array([cam.focal * scale, cam.cx * scale, cam.cy * scale])
    gt = _resize(identity.image(val, 0), size)
    bg = jnp.asarray(_resize(identity.background(val, 0), size))
    view = View(c2w=jnp.asarray(val.poses[0]), intrinsics=intrinsics, background=bg, near=near,
                far=far)
    marching = march_state.MarchState(
        grid=grid, mask=mask, budget=accelerated.initial_budget(size * size, mode.render_config))
    _, _, marching = render_frame(field, view, None, mode, marching)  # a budget that fits the frame
    budget = marching.budget
    (dense, _), dense_s, (acc, stats), acc_s = _timed_pair(
        lambda: march_image(field, view, None, mode),
        lambda: march_image(field, view, None, mode, marching), args.repeats)
    num_rays = size * size
    r = config.render
    record = {
        'size': size,
        'dense_ms_per_frame': 1e3 * dense_s,
        'accel_ms_per_frame': 1e3 * acc_s,
        'render_speedup': dense_s / acc_s,
        'dense_psnr_db': _psnr(dense.rgb, gt),
        'accel_psnr_db': _psnr(acc.rgb, gt),
        'max_abs_diff': float(jnp.max(jnp.abs(acc.rgb - dense.rgb))),
        'samples_per_ray': {
            'dense': r.N_samples + r.N_samples + r.N_importance,
            'accel': int(stats.aggregated()) / num_rays,
            'accel_coarse': int(stats.coarse_evaluated) / num_rays,
            'accel_fine': int(stats.fine_evaluated) / num_rays,
            # Fine samples whose F~ was interpolated between coarse depths (only the fine field ran).
            'accel_fine_interpolated': int(stats.fine_interpolated) / num_rays,
            'accel_fine_unbracketed': int(stats.fine_unbracketed) / num_rays,
            # Fine samples that took the coarse pass's aggregated feature (only the fine field ran).
            'accel_fine_reused': int(stats.fine_reused) / num_rays,
            # Coarse samples between anchors (`accel.coarse_aggregation_stride`; both fields ran).
            'accel_coarse_interpolated': int(stats.coarse_interpolated) / num_rays,
            # What the accelerated frame computed: its budgets, padding included.
            'accel_budget': (sum(budget.coarse) + sum(budget.fine)) / num_rays},
        'rays_skipped_share': int(stats.rays_skipped) / num_rays,
        'overflow': int(stats.overflow),
        'budget': {'coarse': list(budget.coarse), 'fine': list(budget.fine)},
    }
    record['psnr_delta_db'] = record['accel_psnr_db'] - record['dense_psnr_db']
    record.update(train_record)
    records.append(record)
    print(f'[bench] {size} px done', flush=True)

  header = (f'{"size":>5} {"dense ms":>10} {"accel ms":>10} {"speedup":>8} {"spr dense":>9} '
            f'{"spr accel":>9} {"skipped":>8} {"dPSNR dB":>9} {"max|d|":>8}')
  print(header)
  for rec in records:
    print(f'{rec["size"]:>5} {rec["dense_ms_per_frame"]:>10.1f} {rec["accel_ms_per_frame"]:>10.1f} '
          f'{rec["render_speedup"]:>8.2f} {rec["samples_per_ray"]["dense"]:>9.1f} '
          f'{rec["samples_per_ray"]["accel"]:>9.2f} {rec["rays_skipped_share"]:>8.1%} '
          f'{rec["psnr_delta_db"]:>9.4f} {rec["max_abs_diff"]:>8.4f}')
  if train_record:
    print(f'train step: dense {train_record["dense_train_step_ms"]:.1f} ms, accelerated '
          f'{train_record["accel_train_step_ms"]:.1f} ms (speedup '
          f'{train_record["train_step_speedup"]:.2f}x); validation PSNR after {args.train_steps} '
          f'steps: dense {train_record["train_psnr_db"]["dense"]:.2f} dB, accelerated '
          f'{train_record["train_psnr_db"]["accelerated"]:.2f} dB; first step (compilation included): '
          f'dense {train_record["dense_first_step_s"]:.1f} s, accelerated '
          f'{train_record["accel_first_step_s"]:.1f} s; accelerated run per step: '
          + ', '.join(f'{k} {v:.2f}' for k, v in train_record['accel_train_samples'].items()))
  setup = {'device': str(jax.devices()[0]), 'backend': jax.default_backend(),
           'precision': config.precision, 'chunk': config.render.chunk,
           'config': _shown(args.config), 'overrides': args.set, 'data_dir': _shown(args.data_dir),
           'params': args.params, 'init_from': args.init_from,
           'train_steps': args.train_steps, 'grid_build_s': grid_seconds,
           'occupied_cell_share': occupied_share,
           'accel': config.render.accel.to_dict()}
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps({'setup': setup, 'records': records}, indent=2))
  print(f'[bench] wrote {out}')


if __name__ == '__main__':
  main()
