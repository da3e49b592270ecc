"""scripts/benchmark_first_frame.py: the break-even frame count, and a tiny run end to end."""

import importlib.util
import json
import pathlib

import jax
import numpy as np
import pytest

from dfrf_jax import api
from tests.scripts.conftest import ROOT, run_script

SCRIPT = 'benchmark_first_frame.py'
FIXTURE = 'tests/fixtures/parity/dataset/synth_fixture'


def _module():
  spec = importlib.util.spec_from_file_location('bench_first', pathlib.Path(ROOT) / 'scripts' / SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize('accel_first, accel_steady, want', [
    (10.0, 0.5, 1 + 4),     # 8 s more up front, 2 s saved per frame: equal at frame 5
    (10.0, 0.6, 1 + 5),     # 8 s / 1.9 s = 4.2 -> 5 frames after the first
    (1.0, 0.5, 1),          # faster from the first frame on
    (10.0, 2.5, None),      # never: slower once compiled too
])
def test_break_even_frames(accel_first, accel_steady, want):
  dense = {'first_frame_s': 2.0, 'steady_frame_s': 2.5}
  accel = {'first_frame_s': accel_first, 'steady_frame_s': accel_steady}
  assert _module().break_even(dense, accel) == want


def test_tiny_render_times_every_frame_of_both_samplers(tmp_path):
  config = api.load_config('configs/test.py')
  model = api.build_model(config.model)
  # Random parameters of the right shapes: tracing the initialiser is enough, compiling it is not needed.
  shapes = jax.eval_shape(lambda k: api.init_params(model, k), jax.random.key(0))
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda s: (0.1 * rng.standard_normal(s.shape)).astype(s.dtype), shapes)
  api.save_checkpoint(str(tmp_path / 'run'), 0, params, config)
  out = tmp_path / 'first.json'
  # One small program to compile per render process: 8 + 8 samples, one small grid level from one
  # condition, one depth segment, and a first budget that holds every sample and is kept (no
  # re-render or recompilation with a refitted one).
  small = ['--set=render.N_samples=8', '--set=render.N_importance=8',
           '--set=render.accel.grid_refinements=0', '--set=render.accel.grid_resolution=16',
           '--set=render.accel.update_conditions=1', '--set=render.accel.num_segments=1',
           '--set=render.accel.initial_fraction=1.0', '--set=render.accel.budget_shrink_below=0.0']
  proc = run_script(SCRIPT, f'--params={tmp_path / "run"}', f'--data_dir={FIXTURE}', '--frames=2',
                    *small, f'--out={out}')
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads(out.read_text())
  assert [(r['sampler'], r['cache']) for r in report['runs']] == [('dense', 'off'),
                                                                  ('accelerated', 'off')]
  for r in report['runs']:
    assert len(r['frame_s']) == 2 and r['first_frame_s'] == r['frame_s'][0] > 0
    assert r['steady_frame_s'] == r['frame_s'][1] and not r['trained_grid']
  assert 'break-even' in proc.stdout
  proc = run_script(SCRIPT, f'--params={tmp_path / "run"}', f'--data_dir={FIXTURE}', '--frames=1')
  assert proc.returncode != 0 and '--frames' in proc.stderr
