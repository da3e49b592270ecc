"""Dense vs accelerated ray marching: render time, samples per ray, skipped rays, quality, train step.

Trains two small models from the same initialisation for the same number of steps, one with the
dense renderer (the authors') and one with the accelerated renderer (occupancy grid updated during
training, host-adapted sample budget), or loads one trained model with --params (then only the
render comparison runs). The dense-trained model then renders a validation frame of the dataset at
every --sizes resolution both ways (intrinsics scaled from the dataset's; ground truth and
background resized with PIL bicubic).

Prints a table and writes JSON (--out): one record per size with
  size, dense_ms_per_frame, accel_ms_per_frame, render_speedup,
  dense_psnr_db, accel_psnr_db, psnr_delta_db (accelerated minus dense, against ground truth),
  max_abs_diff (accelerated vs dense frame), samples_per_ray {dense, accel}, rays_skipped_share,
  overflow, train_step_speedup, dense_train_step_ms, accel_train_step_ms,
  train_psnr_db {dense, accel} (validation frame at the dataset's size after equal steps)
and a 'setup' record (device, config, steps). Timings exclude compilation (each measured call is
preceded by a compiled warm-up run).

  python scripts/benchmark_raymarch.py --out=runs/bench.json
  python scripts/benchmark_raymarch.py --data_dir=DATA/0/.. --sizes=64,128,256,512 --train_steps=300
"""

import argparse
import importlib.util
import json
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dfrf_jax.data.dataset import load_dataset  # pylint: disable=g-import-not-at-top
from dfrf_jax.data.references import render_references  # pylint: disable=g-import-not-at-top
from dfrf_jax.model.dfrf import audio_code, build_model, init_params  # pylint: disable=g-import-not-at-top
from dfrf_jax.render import accelerated, cameras, occupancy  # pylint: disable=g-import-not-at-top
from dfrf_jax.render.renderer import frame_inputs, render_image, render_rays  # pylint: disable=g-import-not-at-top
from dfrf_jax.train import batches as batch_lib  # pylint: disable=g-import-not-at-top
from dfrf_jax.train import losses  # pylint: disable=g-import-not-at-top



# Grid maintenance while this benchmark trains with the accelerated sampler (nerfacc / RAD-NeRF
# style): every GRID_UPDATE_EVERY steps an EMA update of GRID_UPDATE_CELLS random cells, the first
# GRID_FULL_UPDATES updates visiting every cell. (Training proper does not maintain a grid yet.)
GRID_UPDATE_EVERY = 16
GRID_UPDATE_CELLS = 32768
GRID_UPDATE_DECAY = 0.95
GRID_FULL_UPDATES = 8

def _parse() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument('--data_dir', default=str(REPO / 'tests/fixtures/parity/dataset/synth_fixture'),
                 help='dataset folder holding 0/ (default: the 64 px parity fixture)')
  p.add_argument('--config', default=str(REPO / 'configs/demo.py'),
                 help='config file with get_config() (default: configs/demo.py)')
  p.add_argument('--params', default=None,
                 help='a dfrf-train workdir or checkpoint to render with (skips the training part)')
  p.add_argument('--train_steps', type=int, default=150, help='training steps of each model')
  p.add_argument('--sizes', default=None,
                 help='comma-separated square sizes (default 64,128,256, plus 512 on a GPU)')
  p.add_argument('--repeats', type=int, default=1, help='timed renders per size and sampler')
  p.add_argument('--grid_resolution', type=int, default=32,
                 help='occupancy cells per axis (overrides render.accel.grid_resolution)')
  p.add_argument('--grid_conditions', type=int, default=2,
                 help='audio/reference conditions per grid update (render.accel.update_conditions)')
  p.add_argument('--seed', type=int, default=0)
  p.add_argument('--out', default='benchmark_raymarch.json', help='JSON output path')
  return p.parse_args()


def _load_config(path: str) -> ml_collections.ConfigDict:
  spec = importlib.util.spec_from_file_location('bench_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  c.model.slot_init = 'mean'  # deterministic frames, so the two samplers see the same field
  return c


def _train_config(config: ml_collections.ConfigDict) -> ml_collections.FrozenConfigDict:
  """The render section for training: one depth segment per pass (no termination in training)."""
  r = ml_collections.ConfigDict(config.render.to_dict())
  r.accel.num_segments = 1
  return ml_collections.FrozenConfigDict(r)


def _frames_for_grid(model, params, identity, config, rng, count):
  """FrameInputs of `count` random training frames, stacked: the grid's conditions."""
  frames = []
  for _ in range(count):
    b = batch_lib.draw_batch(rng, [identity], config)
    code = audio_code(model, params, jnp.asarray(b.aud), False)
    frames.append(frame_inputs(model, params, code, b.ref_images, b.ref_poses, b.intrinsics[0]))
  return jax.tree.map(lambda *x: jnp.stack(x), *frames)


def _grid_update_fn(model, config, num_cells, decay):
  """`update_occupancy(grid, key, params, frames)` with the model's max density over `frames`."""
  a = config.render.accel
  return lambda grid, key, params, frames: occupancy.update_from_model(
      grid, key, model, params, frames, num_cells=num_cells, decay=decay, use_warp=True,
      point_chunk=a.point_chunk)


def train(model, params, identity, config, sampler, steps, seed, aabb):
  """A short Adam loop on mse(fine) + mse(coarse); returns params and the median step time (s)."""
  render_config = _train_config(config)
  tx = optax.adam(config.train.lrate)
  opt_state = tx.init(params)
  rng = np.random.default_rng(seed)
  grid_rng = np.random.default_rng(seed + 1)
  near, far = identity.near, identity.far

  def loss_fn(p, batch, key, grid, budget):
    code = audio_code(model, p, batch.aud, False)
    frame = frame_inputs(model, p, code, batch.ref_images, batch.ref_poses, batch.intrinsics[0])
    o, d = cameras.pixel_rays(batch.pixels, batch.c2w, *batch.intrinsics)
    if sampler == 'dense':
      out, stats = render_rays(model, p, frame, o, d, batch.bg, near, far, render_config, key,
                               train=True), None
    else:
      out, stats = accelerated.render_rays_accelerated(model, p, frame, grid, o, d, batch.bg, near,
                                                       far, render_config, key, True, budget=budget)
    loss = losses.mse(out.fine.rgb, batch.target) + losses.mse(out.coarse.rgb, batch.target)
    return loss, stats

  def step(p, opt, batch, key, grid, budget):
    (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, batch, key, grid, budget)
    updates, opt = tx.update(grads, opt, p)
    return optax.apply_updates(p, updates), opt, loss, stats

  step = jax.jit(step, static_argnums=5)
  a = config.render.accel
  grid = occupancy.init_occupancy(aabb, a.grid_resolution)
  full_update = _grid_update_fn(model, config, None, GRID_UPDATE_DECAY)
  partial_update = _grid_update_fn(model, config, GRID_UPDATE_CELLS, GRID_UPDATE_DECAY)
  budget = accelerated.initial_budget(config.data.N_rand, render_config)
  times, updates, compiles = [], 0, set()
  key = jax.random.PRNGKey(seed)
  for i in range(steps):
    t0 = time.perf_counter()
    if sampler == 'accelerated' and i % GRID_UPDATE_EVERY == 0:
      frames = _frames_for_grid(model, params, identity, config, grid_rng, a.update_conditions)
      update = full_update if updates < GRID_FULL_UPDATES else partial_update
      grid = update(grid, jax.random.fold_in(key, 10 ** 6 + i), params, frames)
      updates += 1
    batch = jax.tree.map(jnp.asarray, batch_lib.draw_batch(rng, [identity], config))
    fresh = budget not in compiles
    compiles.add(budget)
    params, opt_state, loss, stats = step(params, opt_state, batch, jax.random.fold_in(key, i),
                                          grid, budget)
    jax.block_until_ready(loss)
    if not fresh and i > 0:
      times.append(time.perf_counter() - t0)
    if stats is not None:  # the host adapts the budget: grow on overflow, shrink when far too big
      needed = accelerated.fit_budget(stats, headroom=a.budget_headroom,
                                      granularity=a.budget_granularity)
      if int(stats.overflow) > 0 or sum(needed.fine) < 0.5 * sum(budget.fine):
        budget = needed
  return params, float(np.median(times)), len(compiles)


def _resize(image: np.ndarray, size: int) -> np.ndarray:
  pil = Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
  return np.asarray(pil.resize((size, size), Image.BICUBIC), np.float32) / 255.0


def _psnr(a, b) -> float:
  return float(-10.0 * np.log10(np.mean((np.asarray(a, np.float64) - b) ** 2)))


def _timed(fn, repeats):
  out = fn()
  jax.block_until_ready(out)
  t0 = time.perf_counter()
  for _ in range(repeats):
    out = fn()
    jax.block_until_ready(out)
  return out, (time.perf_counter() - t0) / repeats


def main() -> None:
  args = _parse()
  config = _load_config(args.config)
  config.render.accel.grid_resolution = args.grid_resolution
  config.render.accel.update_conditions = args.grid_conditions
  identity = load_dataset(args.data_dir, config.data.bc_type, config.data.test_file,
                          aud_window_shape=(config.model.win_size, config.model.aud_feature_dim))[0]
  cam = identity.intrinsics
  near, far = identity.near, identity.far
  model = build_model(config.model)
  on_gpu = jax.default_backend() == 'gpu'
  sizes = ([int(s) for s in args.sizes.split(',')] if args.sizes
           else [64, 128, 256] + ([512] if on_gpu else []))
  train_poses = jnp.asarray(np.concatenate([identity.train.poses, identity.val.poses]))
  aabb = occupancy.frustum_aabb(train_poses, cam.focal, cam.cx, cam.cy, cam.height, cam.width,
                                near, far)

  train_record = {}
  if args.params:
    from dfrf_jax.train.checkpoints import load_checkpoint  # pylint: disable=g-import-not-at-top
    _, params, _ = load_checkpoint(args.params)
  else:
    init = jax.jit(lambda k: init_params(model, k))(jax.random.PRNGKey(args.seed))
    trained = {}
    for sampler in ('dense', 'accelerated'):
      print(f'[bench] training {args.train_steps} steps with the {sampler} sampler', flush=True)
      trained[sampler] = train(model, init, identity, config, sampler, args.train_steps, args.seed,
                               aabb)
    params = trained['dense'][0]
    train_record = {'dense_train_step_ms': 1e3 * trained['dense'][1],
                    'accel_train_step_ms': 1e3 * trained['accelerated'][1],
                    'accel_train_compilations': trained['accelerated'][2]}
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

  if train_record:
    train_record['train_psnr_db'] = {}
    for sampler, (p, _, _) in trained.items():
      out = render_image(model, p, val_frame(p, 0), jnp.asarray(val.poses[0]),
                         jnp.asarray(identity.background(val, 0)),
                         jnp.array([cam.focal, cam.cx, cam.cy]), near, far, None,
                         height=cam.height, width=cam.width,
                         render_config=ml_collections.FrozenConfigDict(config.render),
                         chunk=config.render.chunk)
      train_record['train_psnr_db'][sampler] = _psnr(out.rgb, identity.image(val, 0))

  a = config.render.accel
  picks = np.linspace(0, len(val) - 1, min(a.update_conditions, len(val))).round().astype(int)
  frames = jax.tree.map(lambda *x: jnp.stack(x), *[val_frame(params, int(t)) for t in picks])
  t0 = time.perf_counter()
  grid = _grid_update_fn(model, config, None, 1.0)(
      occupancy.init_occupancy(aabb, a.grid_resolution), jax.random.PRNGKey(args.seed), params,
      frames)
  jax.block_until_ready(grid)
  grid_seconds = time.perf_counter() - t0
  occupied_share = float(occupancy.occupied_fraction(grid, a.density_threshold))

  frame = val_frame(params, 0)
  render_config = ml_collections.FrozenConfigDict(config.render)
  records = []
  for size in sizes:
    scale = size / cam.width
    intrinsics = jnp.array([cam.focal * scale, cam.cx * scale, cam.cy * scale])
    gt = _resize(identity.image(val, 0), size)
    bg = jnp.asarray(_resize(identity.background(val, 0), size))
    c2w = jnp.asarray(val.poses[0])
    dense, dense_s = _timed(lambda: render_image(
        model, params, frame, c2w, bg, intrinsics, near, far, None, height=size, width=size,
        render_config=render_config, chunk=config.render.chunk), args.repeats)
    _, _, budget = accelerated.render_image_adaptive(
        model, params, frame, grid, c2w, bg, intrinsics, near, far, None, height=size, width=size,
        render_config=render_config, budget=accelerated.initial_budget(size * size, render_config))
    (acc, stats), acc_s = _timed(lambda: accelerated.render_image_accelerated(
        model, params, frame, grid, c2w, bg, intrinsics, near, far, None, height=size, width=size,
        render_config=render_config, budget=budget), args.repeats)
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
            'accel': (int(stats.coarse_evaluated) + int(stats.fine_evaluated)) / num_rays,
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
          f'{train_record["train_psnr_db"]["accelerated"]:.2f} dB')
  setup = {'device': str(jax.devices()[0]), 'backend': jax.default_backend(),
           'config': args.config, 'data_dir': args.data_dir, 'params': args.params,
           'train_steps': args.train_steps, 'grid_build_s': grid_seconds,
           'occupied_cell_share': occupied_share,
           'accel': config.render.accel.to_dict()}
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps({'setup': setup, 'records': records}, indent=2))
  print(f'[bench] wrote {out}')


if __name__ == '__main__':
  main()
