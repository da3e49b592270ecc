"""Times one training step and one full-frame render on the host CPU, against a matmul floor.

Both use the real code paths: `dfrf_jax.train.step.make_train_step` on a synthetic `Batch` (random
images, cameras looking at the origin from ~0.9 units) and `frame_inputs` + the dense
`renderer.march_image` for a frame. Every time is the median of `--repeats` runs after a jit warm-up
call. FLOPs are XLA's cost analysis of the compiled programs (the render's `lax.map` body is counted
once by XLA, so one chunk of `renderer.march` is costed and multiplied by the chunk count, plus
`frame_inputs`). The floor is those FLOPs at the
float32 throughput of a jitted 2048 x 2048 matmul measured in the same run.

  PYTHONPATH=. python scripts/benchmark_render.py                      # 64 and 128 px, 3 repeats
  PYTHONPATH=. python scripts/benchmark_render.py --sizes=64 --repeats=2 --out=/tmp/bench.json
  PYTHONPATH=. python scripts/benchmark_render.py --quick --sizes=16 --repeats=1   # smoke test, 1-2 min

Expected: a table with one train and one render row per size, and the same numbers in `--out` as JSON.
The full-width config needs minutes on 2 CPU cores (128 px frames are 16 chunks of 1024 rays).
"""

import argparse
import importlib.util
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dfrf_jax.config import default_config, use_authors_sampling
from dfrf_jax.model.dfrf import DFRF, audio_code, build_model
from dfrf_jax.render.rays import Field, FrameInputs, MarchMode, Rays, View, frame_inputs
from dfrf_jax.render.renderer import march, march_image
from dfrf_jax.train import batches, loop, state as state_lib
from dfrf_jax.train.batches import Batch
from dfrf_jax.train.step import make_train_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The spec's analytic forward cost of one point query (warp + slot attention + NeRF MLP, 4 references,
# netwidth 256): dfrf_spec.md section 13.
SPEC_FLOPS_PER_SAMPLE = 3.47e6
# Forward + backward ~ 3 x forward (the spec's rule for its per-iteration estimate).
BACKWARD_FACTOR = 3.0
# The authors' PyTorch code on this machine's 2 CPU cores, measured separately (not by this script):
# about 30 s per training iteration and 50 s per 64 x 64 frame, at the config below.
AUTHORS_TRAIN_SECONDS = 30.0
AUTHORS_FRAME_SECONDS = {64: 50.0}
MATMUL_SIZE = 2048
CAMERA_DISTANCE = 0.9  # world units from the origin, as the tests' synthetic cameras


def benchmark_config(quick: bool) -> ml_collections.ConfigDict:
  """The authors' fine-tune settings (32/64 samples, width 256, 4 refs, 850 rays), or configs/test.py.

  Either way a step samples as the authors' does (`use_authors_sampling`: their N_rand rays, every
  ray training the audio code), the step their time was measured for.
  """
  if quick:
    spec = importlib.util.spec_from_file_location('test_config', os.path.join(ROOT, 'configs', 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config()
  else:
    c = default_config()
    c.render.N_samples, c.render.N_importance = 32, 64
    c.model.netwidth = c.model.netwidth_fine = 256
    c.model.num_reference_images = 4
    c.data.N_rand = 850
  use_authors_sampling(c)
  return c


def look_at_origin(rng: np.random.Generator, distance: float) -> np.ndarray:
  """A [3, 4] float32 camera-to-world pose ~`distance` from the origin on +z, its -z axis at the origin."""
  centre = np.array([0.0, 0.0, distance]) + rng.normal(scale=0.05 * distance, size=3)
  back = centre / np.linalg.norm(centre)  # The camera's +z axis points away from what it looks at.
  right = np.cross([0.0, 1.0, 0.0], back)
  right /= np.linalg.norm(right)
  up = np.cross(back, right)
  return np.stack([right, up, back, centre], 1).astype(np.float32)


def intrinsics(size: int) -> np.ndarray:
  """[3] (focal, cx, cy) in pixels of a square `size` image (about the authors' 1200 px at 512)."""
  return np.array([2.3 * size, size / 2, size / 2], np.float32)


def synthetic_batch(rng: np.random.Generator, config: ml_collections.ConfigDict, size: int) -> Batch:
  """A training batch of the shapes `batches.draw_batch` makes, for `size` x `size` images."""
  n_rand, m = config.data.N_rand, config.model
  n = m.num_reference_images
  return Batch(
      pixels=rng.integers(0, size, size=(n_rand, 2)).astype(np.float32),
      target=rng.uniform(size=(n_rand, 3)).astype(np.float32),
      bg=rng.uniform(size=(n_rand, 3)).astype(np.float32),
      c2w=look_at_origin(rng, CAMERA_DISTANCE),
      intrinsics=intrinsics(size),
      aud=rng.normal(size=(m.smo_size, m.win_size, m.aud_feature_dim)).astype(np.float32),
      ref_images=rng.uniform(size=(n, size, size, 3)).astype(np.float32),
      ref_poses=np.stack([look_at_origin(rng, CAMERA_DISTANCE) for _ in range(n)]))


def random_params(model: DFRF, rng: np.random.Generator) -> state_lib.Params:
  """Params of `model`'s shapes filled on the host: kernels N(0, 1/fan_in), vectors N(0, 0.01^2).

  The dense path has no data-dependent work, so the values do not change what is timed; filling them
  on the host skips compiling `init_params` (tens of seconds on 2 shared cores).
  """
  def fill(leaf: jax.ShapeDtypeStruct) -> jax.Array:
    shape = leaf.shape
    scale = 1.0 / np.sqrt(np.prod(shape[:-1])) if len(shape) >= 2 else 0.01
    return jnp.asarray(rng.normal(scale=scale, size=shape).astype(leaf.dtype))

  return jax.tree.map(fill, state_lib.abstract_params(model))


def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
  """Wall seconds of `repeats` calls of `fn` (each waited for), after one untimed warm-up call."""
  jax.block_until_ready(fn())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return times


def xla_flops(compiled: jax.stages.Compiled) -> float:
  """XLA's FLOP count of a compiled program (loop bodies are counted once)."""
  cost = compiled.cost_analysis()
  if not cost or 'flops' not in cost:
    raise RuntimeError(f'XLA cost analysis gave no flops for this backend: {cost!r}')
  return float(cost['flops'])


def matmul_throughput(repeats: int) -> dict[str, float]:
  """float32 FLOP/s of a jitted MATMUL_SIZE^2 matmul (median time)."""
  keys = jax.random.split(jax.random.key(0))
  a, b = (jax.random.normal(k, (MATMUL_SIZE, MATMUL_SIZE), jnp.float32) for k in keys)
  matmul = jax.jit(jnp.matmul)
  seconds = statistics.median(timed(lambda: matmul(a, b), max(repeats, 3)))
  flops = 2.0 * MATMUL_SIZE ** 3
  return {'size': MATMUL_SIZE, 'median_s': seconds, 'flops': flops, 'flops_per_s': flops / seconds}


def _summary(times: list[float], flops: float, samples: int, spec_flops: float, throughput: float,
             authors_s: float | None) -> dict[str, Any]:
  median = statistics.median(times)
  floor = flops / throughput
  return {'times_s': times, 'median_s': median, 'xla_flops': flops, 'samples': samples,
          'xla_flops_per_sample': flops / samples, 'spec_flops': spec_flops, 'floor_s': floor,
          'x_floor': median / floor, 'authors_s': authors_s,
          'speedup_vs_authors': None if authors_s is None else authors_s / median}


def samples_per_ray(config: ml_collections.ConfigDict) -> int:
  """Point queries per ray: N_samples coarse, then N_samples + N_importance fine."""
  return 2 * config.render.N_samples + config.render.N_importance


def bench_train(model: DFRF, params: state_lib.Params, config: ml_collections.ConfigDict, size: int,
                rng: np.random.Generator, repeats: int, throughput: float) -> dict[str, Any]:
  """One training step (smoothing and warp on) on N_rand rays of `size` px reference images."""
  mesh = loop.make_mesh(1)
  step_fn = make_train_step(model, config, config.render.near, config.render.far, mesh)
  batch = batches.shard(synthetic_batch(rng, config, size), mesh)
  # Placed as the loop places it (replicated), so every call runs the one compiled program.
  state = jax.device_put(state_lib.new_state(jax.tree.map(jnp.copy, params), jax.random.key(1)),
                         jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
  compiled = step_fn.lower(state, batch, True, True).compile()
  flops = xla_flops(compiled)

  def run() -> Any:
    nonlocal state
    state, metrics = compiled(state, batch)
    return metrics

  times = timed(run, repeats)
  samples = config.data.N_rand * samples_per_ray(config)
  return _summary(times, flops, samples, BACKWARD_FACTOR * samples * SPEC_FLOPS_PER_SAMPLE,
                  throughput, AUTHORS_TRAIN_SECONDS)


def bench_render(model: DFRF, params: state_lib.Params, config: ml_collections.ConfigDict, size: int,
                 rng: np.random.Generator, repeats: int, throughput: float) -> dict[str, Any]:
  """One `size` x `size` frame: audio code and `frame_inputs`, then the dense `march_image` in chunks."""
  batch = synthetic_batch(rng, config, size)
  bg = rng.uniform(size=(size, size, 3)).astype(np.float32)
  near, far, chunk = config.render.near, config.render.far, config.render.chunk
  mode = MarchMode(ml_collections.FrozenConfigDict(config.render))
  key = jax.random.key(2)

  def prepare(params: state_lib.Params, aud: jax.Array, ref_images: jax.Array,
              ref_poses: jax.Array, focal: jax.Array) -> FrameInputs:
    code = audio_code(model, params, aud, True)
    return frame_inputs(model, params, code, ref_images, ref_poses, focal)

  frame_args = (params, batch.aud, batch.ref_images, batch.ref_poses, batch.intrinsics[0])
  prepare_c = jax.jit(prepare).lower(*frame_args).compile()
  inputs = prepare_c(*frame_args)
  view = View(c2w=jnp.asarray(batch.c2w), intrinsics=jnp.asarray(batch.intrinsics),
              background=jnp.asarray(bg), near=near, far=far)
  field = lambda f: Field(model=model, params=params, frame=f)
  render_c = march_image.lower(field(inputs), view, key, mode).compile()
  times = timed(lambda: render_c(field(prepare_c(*frame_args)), view, key), repeats)

  zeros = jnp.zeros((chunk, 3), jnp.float32)
  one_chunk = jax.jit(lambda f, k: march(
      f, Rays(origins=zeros, directions=zeros, background=zeros, near=near, far=far), k,
      mode)[0].fine.rgb)
  num_chunks = -(-size * size // chunk)
  flops = (xla_flops(prepare_c)
           + num_chunks * xla_flops(one_chunk.lower(field(inputs), key).compile()))
  samples = num_chunks * chunk * samples_per_ray(config)
  result = _summary(times, flops, samples, samples * SPEC_FLOPS_PER_SAMPLE, throughput,
                    AUTHORS_FRAME_SECONDS.get(size))
  result['chunks'] = num_chunks
  return result


def format_table(results: Sequence[dict[str, Any]]) -> str:
  """The per-size train and render rows as a fixed-width text table."""
  header = ('size', 'what', 'median s', 'XLA GFLOP', 'XLA MFLOP/smp', 'spec GFLOP', 'floor s',
            'x floor', 'authors s', 'speedup')
  rows = [header]
  for entry in results:
    for what in ('train', 'render'):
      r = entry[what]
      rows.append((f'{entry["size"]}', what, f'{r["median_s"]:.3f}', f'{r["xla_flops"] / 1e9:.1f}',
                   f'{r["xla_flops_per_sample"] / 1e6:.2f}', f'{r["spec_flops"] / 1e9:.1f}',
                   f'{r["floor_s"]:.3f}', f'{r["x_floor"]:.1f}',
                   '-' if r['authors_s'] is None else f'{r["authors_s"]:.0f}',
                   '-' if r['speedup_vs_authors'] is None else f'{r["speedup_vs_authors"]:.1f}x'))
  widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
  return '\n'.join('  '.join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows)


def parse_sizes(text: str) -> list[int]:
  """'64,128' -> [64, 128]; raises argparse.ArgumentTypeError on anything else."""
  try:
    sizes = [int(s) for s in text.split(',') if s.strip()]
  except ValueError as e:
    raise argparse.ArgumentTypeError(f'--sizes={text!r}: expected comma-separated integers') from e
  if not sizes or min(sizes) < 1:
    raise argparse.ArgumentTypeError(f'--sizes={text!r}: expected positive image sides in pixels')
  return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description='Times one DFRF training step and one full-frame render per image size on the CPU '
                  '(median after a jit warm-up), with XLA FLOPs, a float32 matmul floor and the '
                  "authors' PyTorch times.")
  parser.add_argument('--sizes', type=parse_sizes, default=[64, 128],
                      help='comma-separated square image sides in pixels (default: 64,128)')
  parser.add_argument('--repeats', type=int, default=3,
                      help='timed runs per measurement; the median is reported (default: 3)')
  parser.add_argument('--out', default='benchmark_render.json',
                      help='JSON file the results are written to (default: benchmark_render.json)')
  parser.add_argument('--quick', action='store_true',
                      help="configs/test.py's tiny networks and sample counts instead of the authors' "
                           'fine-tune config: a smoke test of the script, not a benchmark')
  args = parser.parse_args(argv)
  if args.repeats < 1:
    parser.error(f'--repeats={args.repeats}: expected >= 1')
  return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Runs the benchmark, prints the table and writes `--out`; returns the JSON-able results."""
  args = parse_args(argv)
  config = benchmark_config(args.quick)
  model = build_model(config.model)
  rng = np.random.default_rng(0)
  params = random_params(model, rng)
  matmul = matmul_throughput(args.repeats)
  print(f'device: {jax.devices()[0]}; float32 {MATMUL_SIZE}^2 matmul: '
        f'{matmul["flops_per_s"] / 1e9:.1f} GFLOP/s ({matmul["median_s"] * 1e3:.1f} ms)', flush=True)
  results = []
  for size in args.sizes:
    train = bench_train(model, params, config, size, rng, args.repeats, matmul['flops_per_s'])
    print(f'{size} px train step: {train["median_s"]:.3f} s', flush=True)
    render = bench_render(model, params, config, size, rng, args.repeats, matmul['flops_per_s'])
    print(f'{size} px frame: {render["median_s"]:.3f} s', flush=True)
    results.append({'size': size, 'train': train, 'render': render})
  report = {
      'device': str(jax.devices()[0]), 'quick': args.quick, 'repeats': args.repeats,
      'config': {'N_samples': config.render.N_samples, 'N_importance': config.render.N_importance,
                 'netwidth': config.model.netwidth, 'num_reference_images':
                     config.model.num_reference_images, 'N_rand': config.data.N_rand,
                 'chunk': config.render.chunk},
      'spec_flops_per_sample': SPEC_FLOPS_PER_SAMPLE, 'matmul': matmul, 'results': results}
  print(f'config: {report["config"]}')
  print(f'spec: {SPEC_FLOPS_PER_SAMPLE / 1e6:.2f} MFLOP per sample forward (x{BACKWARD_FACTOR:.0f} '
        'for a training step, reference CNN not included)')
  print(f"authors (PyTorch, this CPU, measured separately): ~{AUTHORS_TRAIN_SECONDS:.0f} s per "
        f'training iteration, ~{AUTHORS_FRAME_SECONDS[64]:.0f} s per 64x64 frame')
  print(format_table(results))
  with open(args.out, 'w') as f:
    json.dump(report, f, indent=2)
  print(f'wrote {args.out}')
  return report


if __name__ == '__main__':
  main()
